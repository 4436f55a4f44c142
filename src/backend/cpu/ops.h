// Elementwise and per-head transformer ops on float activations. Model-agnostic: no tensor
// names, layer numbers or requests here.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace riglm::cpu {

// out = x / sqrt(mean(x^2) + eps) * weight. out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

enum class RopeStyle {
  kInterleaved,  // rotates pairs (2i, 2i+1): GGUF llama after the converter's permutation
  kNeox,         // rotates pairs (i, i + rot_dims/2): qwen2, GPT-NeoX
};

// Rotates the first `rot_dims` of each of `num_heads` vectors of `head_dim` at `x` by angles
// position * inv_freq[i], i < rot_dims/2.
void Rope(float* x, int num_heads, int head_dim, int rot_dims, int64_t position, const float* inv_freq,
          RopeStyle style);

void Softmax(float* x, int64_t n);  // in place, numerically stable

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);
void SwiGluScalar(const float* gate, const float* up, int64_t n, float* out);
void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out);  // kernels/avx2/

// One head's cached keys or values: position j's row starts at data + j * row_bytes, in `type`
// (F32, F16, or Q8_0 with whole 32-element blocks per head).
struct KvView {
  const uint8_t* data;
  DType type;
  uint64_t row_bytes;
};

// True when heads of `head_dim` can be cached as `type`.
bool KvTypeSupported(DType type, int64_t head_dim);

// One query head against `num_keys` cached keys and values, with a single-pass online softmax:
// out = sum_j softmax(scale * q.k_j)_j v_j.
void AttendOneHead(const float* q, KvView keys, KvView values, int64_t num_keys, int head_dim, float scale, float* out);
// The portable version, also the reference the vector kernels are tested against.
void AttendOneHeadScalar(const float* q, KvView keys, KvView values, int64_t num_keys, int head_dim, float scale,
                         float* out);
// AVX2 + F16C; REQUIRES: head_dim % 8 == 0 and a CPU that has them. Defined in kernels/avx2/.
void AttendOneHeadAvx2(const float* q, KvView keys, KvView values, int64_t num_keys, int head_dim, float scale,
                       float* out);

}  // namespace riglm::cpu
