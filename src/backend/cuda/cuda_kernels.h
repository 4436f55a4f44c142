// CUDA kernels of the forward pass, checked against the CPU reference by tests/cuda/. Pointers
// are device memory; `stream` is a cudaStream_t (null: the default stream). Only in builds with
// -DRIGLM_CUDA=ON.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tensor/dtype.h"
#include "util/status.h"

namespace riglm::cuda {

// Weight types the matrix-vector kernel reads (dequantized in registers): F32, F16, BF16,
// Q8_0, Q4_0, Q4_K, Q6_K.
bool MatVecSupports(DType type);

// y[r] = sum_c W[r, c] * x[c] for `rows` rows of `cols` elements stored as `type`.
Status MatVec(DType type, const void* weights, int64_t rows, int64_t cols, const float* x, float* y, void* stream);

// y = x / rms(x) * weight, row by row.
Status RmsNorm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, float eps, void* stream);

// The same, from and to host memory (allocates, copies, runs, copies back): for tests and checks.
Result<std::vector<float>> MatVecOnHost(DType type, std::span<const uint8_t> weights, int64_t rows, int64_t cols,
                                        std::span<const float> x);
Result<std::vector<float>> RmsNormOnHost(std::span<const float> x, std::span<const float> weight, int64_t rows, float eps);

}  // namespace riglm::cuda
