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

// Rotary embedding in two steps, so that a token's angles are computed once for all layers (the
// cosines and sines were most of a 1B layer's rotary time). RopeAngles writes the angles
// position * inv_freq[i], i < rot_dims/2, as rot_dims/2 cosines, then as many sines; RopeRotate
// rotates the first `rot_dims` of each of `num_heads` vectors of `head_dim` at `x` by them.
void RopeAngles(int64_t position, const float* inv_freq, int rot_dims, float* cos_sin);
void RopeRotate(float* x, int num_heads, int head_dim, int rot_dims, const float* cos_sin, RopeStyle style);

void Softmax(float* x, int64_t n);  // in place, numerically stable

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);
void SwiGluScalar(const float* gate, const float* up, int64_t n, float* out);
void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out);  // kernels/avx2/

// Positions per block of a paged KV cache; a multiple of the attention kernels' 8-key tiles.
constexpr int64_t kKvBlockPositions = 32;

// One head's cached keys or values in `type` (F32, F16, or Q8_0 with whole 32-element blocks
// per head). Contiguous (no block table): position j's row starts at data + j * row_bytes.
// Paged: position j is row j % kKvBlockPositions of block blocks[j / kKvBlockPositions], whose
// rows for this head start at data + block * block_bytes.
struct KvView {
  const uint8_t* data;
  DType type;
  uint64_t row_bytes;
  const int32_t* blocks = nullptr;
  uint64_t block_bytes = 0;

  const uint8_t* row(int64_t j) const {
    if (blocks == nullptr) return data + j * row_bytes;
    return data + static_cast<uint64_t>(blocks[j / kKvBlockPositions]) * block_bytes +
           static_cast<uint64_t>(j % kKvBlockPositions) * row_bytes;
  }
};

// True when heads of `head_dim` can be cached as `type`.
bool KvTypeSupported(DType type, int64_t head_dim);

// One query head against `num_keys` cached keys and values, with a single-pass online softmax:
// out = sum_j softmax(scale * q.k_j)_j v_j.
// The portable version, also the reference the vector kernels are tested against.
void AttendOneHeadScalar(const float* q, KvView keys, KvView values, int64_t num_keys, int head_dim, float scale,
                         float* out);

// The same for `num_heads` query heads that share these keys and values (grouped-query
// attention): q and out hold the heads one after another, head_dim apart.
void AttendHeads(const float* q, int num_heads, KvView keys, KvView values, int64_t num_keys, int head_dim,
                 float scale, float* out);
// Consecutive tokens of one sequence (a prompt's) against the same cached keys and values: token t
// has `heads_per_token` query heads at q + t * q_stride, head_dim apart, its outputs at the same
// offsets from `out`, and sees the first first_num_keys + t keys. AttendHeads per token, but the
// AVX2 kernel reads (and converts) each cached row once for several tokens.
void AttendTokens(const float* q, int64_t q_stride, int num_tokens, int heads_per_token, KvView keys, KvView values,
                  int64_t first_num_keys, int head_dim, float scale, float* out);
// How many query heads the AVX2 kernel takes at once: a run of 16 / heads_per_token tokens fills it.
constexpr int kAttendHeadsAtOnce = 16;
constexpr int kMaxAttendHeadDim = 512;
// AVX2 + F16C; REQUIRES: head_dim % 8 == 0, head_dim <= kMaxAttendHeadDim and a CPU that has
// them. Defined in kernels/avx2/.
void AttendHeadsAvx2(const float* q, int num_heads, KvView keys, KvView values, int64_t num_keys, int head_dim,
                     float scale, float* out);
void AttendTokensAvx2(const float* q, int64_t q_stride, int num_tokens, int heads_per_token, KvView keys,
                      KvView values, int64_t first_num_keys, int head_dim, float scale, float* out);
// AVX-512 (the packed kernels' ISA level); REQUIRES: head_dim % 16 == 0, head_dim <=
// kMaxAttendHeadDim and a CPU that has it. Defined in kernels/avx512/.
void AttendHeadsAvx512(const float* q, int num_heads, KvView keys, KvView values, int64_t num_keys, int head_dim,
                       float scale, float* out);

}  // namespace riglm::cpu
