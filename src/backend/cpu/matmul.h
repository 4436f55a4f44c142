// Matrix products of GGUF weight matrices with float activations on the CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/packed.h"
#include "tensor/dtype.h"
#include "util/thread_pool.h"

namespace riglm::cpu {

// A row-major weight matrix as stored in GGUF: `rows` rows of `cols` elements each.
struct WeightMatrix {
  DType type = DType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t row_bytes = 0;
  // A repacked copy for the fastest kernels, when the type and CPU allow (see PreparePacked).
  std::shared_ptr<const PackedWeights> packed;
};

// Adds the packed copy to `w` when this CPU has a kernel for it; otherwise leaves it unchanged.
void PreparePacked(WeightMatrix* w);

// True when this build has a kernel for weights of `type` (and `cols` fits its blocks).
bool MatMulSupports(DType type);

// Reusable buffer for activations converted to the kernels' input format; grows as needed
// and is kept between calls so that steady-state decoding allocates nothing.
struct MatMulScratch {
  std::vector<uint8_t> activations;
  std::vector<int32_t> activation_sums;  // per token and 32-block, for the packed kernels (see PackedMatMul)
};

struct MatMulTask {
  const WeightMatrix* weights;
  float* out;  // [num_tokens, weights->rows]
};

// Several products of the same input (Q, K and V; gate and up) in one parallel region, the
// activations quantized once, when the matrices allow it; otherwise one after the other.
void MatMulMany(std::span<const MatMulTask> tasks, const float* x, int64_t num_tokens, ThreadPool& pool,
                MatMulScratch& scratch);

// out[t * w.rows + r] = dot(W[r, :], x[t * w.cols : (t + 1) * w.cols]) for t < num_tokens.
// REQUIRES: MatMulSupports(w.type).
void MatMul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* out, ThreadPool& pool,
            MatMulScratch& scratch);

}  // namespace riglm::cpu
