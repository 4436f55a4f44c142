#include "backend/cpu/matmul.h"

#include <algorithm>

#include "backend/cpu/activations.h"
#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"
#include "util/status.h"

namespace riglm::cpu {
namespace {
// Rows handed to one thread at a time; within a chunk every token reuses the rows while they
// are still in cache, which is what makes prompt processing cheaper per token than decoding.
constexpr int64_t kRowsPerChunk = 16;
}  // namespace

bool MatMulSupports(DType type) { return GetVecDotKernel(type).fn != nullptr; }

void PreparePacked(WeightMatrix* w) {
  if (!CanPack(w->type, w->rows, w->cols)) return;
  PrefetchWeights();  // decided now, while loading, not inside the first product
  w->packed = std::make_shared<const PackedWeights>(Pack(w->type, w->data, w->rows, w->cols, w->row_bytes));
}

namespace {

// Quantizes the activations once for every packed matrix of `type` that reads them, with the
// per-block sums the packed kernels need.
void PreparePackedActivations(DType type, int64_t cols, const float* x, int64_t num_tokens, ThreadPool& pool,
                              MatMulScratch& scratch) {
  const int64_t blocks = cols / kQ8_0BlockElements;
  const DType act_type = ActivationType(type);
  const uint64_t act_row_bytes = RowBytes(act_type, cols);
  scratch.activations.resize(act_row_bytes * num_tokens);
  scratch.activation_sums.resize(2 * blocks * num_tokens);
  pool.ParallelFor(num_tokens, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      QuantizeActivations(act_type, x + t * cols, scratch.activations.data() + t * act_row_bytes, cols);
      if (type == DType::kQ4_K || type == DType::kQ5_K) {
        // 16-bit sums of each 32 activations (8 per 256-block), packed into the same scratch.
        const auto* q = reinterpret_cast<const BlockQ8_K*>(scratch.activations.data() + t * act_row_bytes);
        auto* sums32 = reinterpret_cast<int16_t*>(scratch.activation_sums.data()) + t * blocks;
        for (int64_t b = 0; b < cols / kQK; ++b) {
          for (int s = 0; s < 8; ++s) sums32[8 * b + s] = static_cast<int16_t>(q[b].sums[2 * s] + q[b].sums[2 * s + 1]);
        }
        continue;
      }
      if (!IsPackedLegacy(type)) continue;
      Q8_0BlockTerms(type, scratch.activations.data() + t * act_row_bytes, blocks,
                     scratch.activation_sums.data() + 2 * t * blocks);
    }
  });
}

// One parallel region over the row groups of all `tasks` (packed, same width, activations
// prepared for all of them).
void RunPackedTasks(std::span<const MatMulTask> tasks, int64_t num_tokens, ThreadPool& pool, MatMulScratch& scratch) {
  const WeightMatrix& first = *tasks[0].weights;
  const uint64_t act_row_bytes = RowBytes(ActivationType(first.type), first.cols);
  int64_t total_groups = 0;
  for (const MatMulTask& t : tasks) total_groups += t.weights->rows / t.weights->packed->group_rows;
  auto run = [&](int64_t begin, int64_t end) {
    int64_t base = 0;
    for (const MatMulTask& t : tasks) {
      const int64_t groups = t.weights->rows / t.weights->packed->group_rows;
      const int64_t lo = std::max(begin, base), hi = std::min(end, base + groups);
      if (lo < hi) {
        PackedMatMul(*t.weights->packed, lo - base, hi - base, scratch.activations.data(), act_row_bytes,
                     scratch.activation_sums.data(), num_tokens, t.out, t.weights->rows);
      }
      base += groups;
    }
  };
  // Decoding streams weights from memory: long sequential ranges per thread keep the hardware
  // prefetchers busy, and the last chunks go to whichever thread is free. Prompts are
  // compute-bound: shared chunks balance the threads. 64 chunks per thread: the last one is
  // small, and each thread claims its own a quarter at a time anyway.
  if (num_tokens == 1) {
    const int64_t chunk = std::max<int64_t>(1, total_groups / (64 * pool.num_threads()));
    pool.ParallelForBalanced(total_groups, chunk, run);
  } else {
    pool.ParallelForDynamic(total_groups, std::max<int64_t>(1, total_groups / (8 * pool.num_threads())), run);
  }
}

}  // namespace

void MatMulMany(std::span<const MatMulTask> tasks, const float* x, int64_t num_tokens, ThreadPool& pool,
                MatMulScratch& scratch) {
  if (tasks.empty()) return;
  const WeightMatrix& first = *tasks[0].weights;
  // One set of activations serves every task: the same type, or K-quants together (Q4_K_M files
  // keep some layers' V in Q6_K): all read Q8_K activations, and Q4_K and Q5_K the same 16-bit
  // sums, which the others ignore.
  bool fusable = first.packed != nullptr;
  DType prepare_for = first.type;
  for (const MatMulTask& t : tasks) {
    const DType type = t.weights->type;
    fusable = fusable && t.weights->packed && t.weights->cols == first.cols &&
              (type == first.type || (IsPackedK(type) && IsPackedK(first.type)));
    if (type == DType::kQ4_K || type == DType::kQ5_K) prepare_for = type;
  }
  if (!fusable) {
    for (const MatMulTask& t : tasks) MatMul(*t.weights, x, num_tokens, t.out, pool, scratch);
    return;
  }
  PreparePackedActivations(prepare_for, first.cols, x, num_tokens, pool, scratch);
  RunPackedTasks(tasks, num_tokens, pool, scratch);
}

void MatMul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* out, ThreadPool& pool,
            MatMulScratch& scratch) {
  if (w.packed) {
    const MatMulTask task{&w, out};
    PreparePackedActivations(w.type, w.cols, x, num_tokens, pool, scratch);
    RunPackedTasks({&task, 1}, num_tokens, pool, scratch);
    return;
  }
  const VecDotKernel kernel = GetVecDotKernel(w.type);
  RIGLM_DCHECK(kernel.fn != nullptr);
  const void* activations = x;
  uint64_t activation_row_bytes = w.cols * sizeof(float);
  if (kernel.activation_type != DType::kF32) {
    activation_row_bytes = RowBytes(kernel.activation_type, w.cols);
    scratch.activations.resize(activation_row_bytes * num_tokens);
    uint8_t* q = scratch.activations.data();
    pool.ParallelFor(num_tokens, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        QuantizeActivations(kernel.activation_type, x + t * w.cols, q + t * activation_row_bytes, w.cols);
      }
    });
    activations = q;
  }
  const auto* act_bytes = static_cast<const uint8_t*>(activations);
  auto rows = [&](int64_t row_begin, int64_t row_end) {
    for (int64_t chunk = row_begin; chunk < row_end; chunk += kRowsPerChunk) {
      const int64_t chunk_end = std::min(row_end, chunk + kRowsPerChunk);
      for (int64_t t = 0; t < num_tokens; ++t) {
        const uint8_t* a = act_bytes + t * activation_row_bytes;
        float* y = out + t * w.rows;
        for (int64_t r = chunk; r < chunk_end; ++r) y[r] = kernel.fn(w.cols, w.data + r * w.row_bytes, a);
      }
    }
  };
  if (num_tokens == 1) {
    // Decoding: as for packed weights, long streams per thread and the last chunks to whichever is free.
    pool.ParallelForBalanced(w.rows, std::max<int64_t>(kRowsPerChunk, w.rows / (32 * pool.num_threads())), rows);
    return;
  }
  const int64_t grain = std::min<int64_t>(kRowsPerChunk, std::max<int64_t>(1, w.rows / pool.num_threads()));
  pool.ParallelFor(w.rows, grain, rows);
}

}  // namespace riglm::cpu
