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

// Weight types the kernels read (dequantized in registers, weight_blocks.h): F32, F16, BF16,
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL and Q2_K to Q6_K.
bool MatVecSupports(DType type);

// y[r] = sum_c W[r, c] * x[c] for `rows` rows of `cols` elements stored as `type`.
Status MatVec(DType type, const void* weights, int64_t rows, int64_t cols, const float* x, float* y, void* stream);

// out[r] = row row_ids[r] of `weights` (rows of `cols` elements), as floats: embedding lookups.
// `row_ids` is device memory, so a captured graph can replay with new tokens.
Status GatherRows(DType type, const void* weights, int64_t cols, const int32_t* row_ids, int64_t count, float* out,
                  void* stream);
// `rows` x `cols` weights as row-major F16 (`out`: a __half array), for cuBLAS.
Status DequantizeToHalf(DType type, const void* weights, int64_t rows, int64_t cols, void* out, void* stream);

// y = x / rms(x) * weight, row by row.
Status RmsNorm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, float eps, void* stream);

// Rotates the first `rot_dims` of each head by position * inv_freq (device array of rot_dims/2);
// NeoX pairs (i, i + rot_dims/2) or interleaved pairs (2i, 2i+1), as cpu::RopeRotate. Row r of `x`
// (num_heads heads) is at position first_position + r.
Status Rope(float* x, int64_t rows, int num_heads, int head_dim, int rot_dims, int64_t first_position, const float* inv_freq,
            bool neox, void* stream);
// The decode step's RoPE, cache write and attention of one query token per head over the F16
// cache (keys/values: rows of kv_heads * head_dim): the position (of the one token; the cache
// holds positions 0..*position) is read from device memory, so that a captured CUDA graph
// replays them for each new token.
Status RopeAt(float* x, int num_heads, int head_dim, int rot_dims, const int64_t* position, const float* inv_freq, bool neox,
              void* stream);
Status StoreKvAt(const float* k, const float* v, void* keys, void* values, int64_t width, const int64_t* position,
                 void* stream);
// AttendDecodeAt splits the keys into `splits` shares (split-K), each a thread block per head,
// then combines them: `scores` holds num_heads * AttendScoreCapacity(num_keys, splits) floats,
// `partials` num_heads * splits * (head_dim + 2).
Status AttendDecodeAt(const float* q, const void* keys, const void* values, const int64_t* position, int num_heads,
                      int kv_heads, int head_dim, float scale, int splits, float* scores, float* partials, float* out,
                      void* stream);
// Scores per head that AttendDecodeAt needs for up to `max_keys` keys in `splits` shares.
inline int64_t AttendScoreCapacity(int64_t max_keys, int splits) { return (max_keys + splits - 1) / splits * splits; }
// out (a __half array) = x rounded to F16.
Status FloatsToHalves(const float* x, int64_t n, void* out, void* stream);
// out[i] = silu(gate[i]) * up[i].
Status SwiGlu(const float* gate, const float* up, int64_t n, float* out, void* stream);

// A prompt's `rows` queries (row r at position first_position + r, causal) against the F16 cache,
// whose rows 0..first_position + rows - 1 must be written.
Status AttendPrompt(const float* q, const void* keys, const void* values, int64_t first_position, int64_t rows, int num_heads,
                    int kv_heads, int head_dim, float scale, float* out, void* stream);

// y (n x rows, row-major) = x (n x cols) times the transposed weights (rows x cols, any type with
// a decoder): the weights are decoded to F16 in `half_weights` (rows * cols halves), x rounded
// to F16 in `half_x` (n * cols halves), and cuBLAS multiplies them with float accumulation.
// `cublas`: a cublasHandle_t of the current device.
Status MatMulRows(void* cublas, DType type, const void* weights, int64_t rows, int64_t cols, const float* x, int64_t n,
                  float* y, void* half_weights, void* half_x, void* stream);

// The same, from and to host memory (allocates, copies, runs, copies back): for tests and checks.
Result<std::vector<float>> MatVecOnHost(DType type, std::span<const uint8_t> weights, int64_t rows, int64_t cols,
                                        std::span<const float> x);
Result<std::vector<float>> GatherRowsOnHost(DType type, std::span<const uint8_t> weights, int64_t cols,
                                            std::span<const int32_t> row_ids);
Result<std::vector<float>> RmsNormOnHost(std::span<const float> x, std::span<const float> weight, int64_t rows, float eps);
Result<std::vector<float>> RopeOnHost(std::span<const float> x, int num_heads, int head_dim, int rot_dims, int64_t position,
                                      std::span<const float> inv_freq, bool neox);
Result<std::vector<float>> AttendDecodeOnHost(std::span<const float> q, std::span<const uint16_t> keys,
                                                   std::span<const uint16_t> values, int64_t num_keys, int num_heads,
                                                   int kv_heads, int head_dim, float scale, int splits);
Result<std::vector<float>> AttendPromptOnHost(std::span<const float> q, std::span<const uint16_t> keys,
                                              std::span<const uint16_t> values, int64_t first_position, int64_t rows,
                                              int num_heads, int kv_heads, int head_dim, float scale);
Result<std::vector<float>> MatMulRowsOnHost(DType type, std::span<const uint8_t> weights, int64_t rows, int64_t cols,
                                            std::span<const float> x, int64_t n);
Result<std::vector<float>> SwiGluOnHost(std::span<const float> gate, std::span<const float> up);

}  // namespace riglm::cuda
