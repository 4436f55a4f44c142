#include "backend/cpu/matmul.h"

#include <algorithm>

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

void MatMul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* out, ThreadPool& pool,
            MatMulScratch& scratch) {
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
        QuantizeRow(kernel.activation_type, x + t * w.cols, q + t * activation_row_bytes, w.cols);
      }
    });
    activations = q;
  }
  const auto* act_bytes = static_cast<const uint8_t*>(activations);
  const int64_t grain = std::min<int64_t>(kRowsPerChunk, std::max<int64_t>(1, w.rows / pool.num_threads()));
  pool.ParallelFor(w.rows, grain, [&](int64_t row_begin, int64_t row_end) {
    for (int64_t chunk = row_begin; chunk < row_end; chunk += kRowsPerChunk) {
      const int64_t chunk_end = std::min(row_end, chunk + kRowsPerChunk);
      for (int64_t t = 0; t < num_tokens; ++t) {
        const uint8_t* a = act_bytes + t * activation_row_bytes;
        float* y = out + t * w.rows;
        for (int64_t r = chunk; r < chunk_end; ++r) y[r] = kernel.fn(w.cols, w.data + r * w.row_bytes, a);
      }
    }
  });
}

}  // namespace riglm::cpu
