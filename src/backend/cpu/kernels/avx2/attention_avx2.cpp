// Attention of one query head over an F32 or F16 KV cache with AVX2, FMA and F16C: a single pass
// with an online softmax, the output accumulated in place.
#include <immintrin.h>

#include "backend/cpu/kernels/avx2/avx2_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/ops.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

// Elements d..d+7 of row j.
template <DType kType>
inline __m256 Load8(const KvView& view, int64_t j, int d) {
  const uint8_t* row = view.data + j * view.row_bytes;
  if constexpr (kType == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + d)));
  } else if constexpr (kType == DType::kQ8_0) {
    const auto& block = reinterpret_cast<const BlockQ8_0*>(row)[d / kQ8_0BlockElements];
    const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block.quants + d % kQ8_0BlockElements)));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(_cvtsh_ss(block.scale_f16)));
  } else {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + d);
  }
}

inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Keys are taken 8 at a time: their scores, one rescale of the output if the maximum grew, then
// the 8 softmax weights in one vector exp.
template <DType kKey, DType kValue>
void Attend(const float* q, const KvView& keys, const KvView& values, int64_t num_keys, int head_dim, float scale,
            float* out) {
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;
  alignas(32) float scores[8], weights[8];
  for (int64_t j0 = 0; j0 < num_keys; j0 += 8) {
    const int count = static_cast<int>(std::min<int64_t>(8, num_keys - j0));
    for (int i = 0; i < 8; ++i) {
      if (i >= count) {
        scores[i] = -std::numeric_limits<float>::infinity();
        continue;
      }
      __m256 dot = _mm256_setzero_ps();
      for (int d = 0; d < head_dim; d += 8) {
        dot = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), Load8<kKey>(keys, j0 + i, d), dot);
      }
      scores[i] = HorizontalSum(dot) * scale;
    }
    const __m256 s = _mm256_load_ps(scores);
    const float tile_max = HorizontalMax(s);
    if (tile_max > running_max) {
      const float correction = std::exp(running_max - tile_max);
      running_sum *= correction;
      const __m256 c = _mm256_set1_ps(correction);
      for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(out + d), c));
      running_max = tile_max;
    }
    const __m256 w = Exp(_mm256_sub_ps(s, _mm256_set1_ps(running_max)));
    _mm256_store_ps(weights, w);
    for (int i = 0; i < count; ++i) running_sum += weights[i];
    for (int i = 0; i < count; ++i) {
      const __m256 wi = _mm256_set1_ps(weights[i]);
      for (int d = 0; d < head_dim; d += 8) {
        _mm256_storeu_ps(out + d,
                         _mm256_fmadd_ps(wi, Load8<kValue>(values, j0 + i, d), _mm256_loadu_ps(out + d)));
      }
    }
  }
  if (running_sum > 0.0f) {
    const __m256 inv = _mm256_set1_ps(1.0f / running_sum);
    for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(out + d), inv));
  }
}

template <DType kKey>
void AttendWithKeys(const float* q, const KvView& keys, const KvView& values, int64_t num_keys, int head_dim,
                    float scale, float* out) {
  switch (values.type) {
    case DType::kF16: return Attend<kKey, DType::kF16>(q, keys, values, num_keys, head_dim, scale, out);
    case DType::kQ8_0: return Attend<kKey, DType::kQ8_0>(q, keys, values, num_keys, head_dim, scale, out);
    default: return Attend<kKey, DType::kF32>(q, keys, values, num_keys, head_dim, scale, out);
  }
}

}  // namespace

void AttendOneHeadAvx2(const float* q, KvView keys, KvView values, int64_t num_keys, int head_dim, float scale,
                       float* out) {
  switch (keys.type) {
    case DType::kF16: return AttendWithKeys<DType::kF16>(q, keys, values, num_keys, head_dim, scale, out);
    case DType::kQ8_0: return AttendWithKeys<DType::kQ8_0>(q, keys, values, num_keys, head_dim, scale, out);
    default: return AttendWithKeys<DType::kF32>(q, keys, values, num_keys, head_dim, scale, out);
  }
}

}  // namespace riglm::cpu
