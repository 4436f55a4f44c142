// Attention of one query head over an F32 or F16 KV cache with AVX2, FMA and F16C: a single pass
// with an online softmax, the output accumulated in place.
#include <immintrin.h>

#include "backend/cpu/kernels/avx2/avx2_util.h"

#include <cmath>
#include <limits>

#include "backend/cpu/ops.h"

namespace riglm::cpu {
namespace {

template <bool kHalf>
inline __m256 Load8(const void* base, int64_t index) {
  if constexpr (kHalf) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + index)));
  } else {
    return _mm256_loadu_ps(static_cast<const float*>(base) + index);
  }
}

template <bool kHalf>
void Attend(const float* q, const void* keys, const void* values, int64_t num_keys, int64_t kv_stride, int head_dim,
            float scale, float* out) {
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;
  for (int64_t j = 0; j < num_keys; ++j) {
    __m256 dot = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) {
      dot = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), Load8<kHalf>(keys, j * kv_stride + d), dot);
    }
    const float score = HorizontalSum(dot) * scale;
    if (score > running_max) {
      const float correction = std::exp(running_max - score);
      running_sum *= correction;
      const __m256 c = _mm256_set1_ps(correction);
      for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(out + d), c));
      running_max = score;
    }
    const float weight = std::exp(score - running_max);
    running_sum += weight;
    const __m256 w = _mm256_set1_ps(weight);
    for (int d = 0; d < head_dim; d += 8) {
      _mm256_storeu_ps(out + d, _mm256_fmadd_ps(w, Load8<kHalf>(values, j * kv_stride + d), _mm256_loadu_ps(out + d)));
    }
  }
  if (running_sum > 0.0f) {
    const __m256 inv = _mm256_set1_ps(1.0f / running_sum);
    for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(out + d), inv));
  }
}

}  // namespace

void AttendOneHeadAvx2(const float* q, const void* keys, const void* values, DType kv_type, int64_t num_keys,
                       int64_t kv_stride, int head_dim, float scale, float* out) {
  if (kv_type == DType::kF16) {
    Attend<true>(q, keys, values, num_keys, kv_stride, head_dim, scale, out);
  } else {
    Attend<false>(q, keys, values, num_keys, kv_stride, head_dim, scale, out);
  }
}

}  // namespace riglm::cpu
