// AVX2 quantization of activations to Q8_0 and Q8_K, byte for byte what QuantizeRow writes
// (same scale arithmetic, round-to-nearest-even): every matrix product quantizes its input first,
// and done one element at a time that costs a few percent of each decoded token.
#include <immintrin.h>

#include <algorithm>
#include <bit>

#include "backend/cpu/activations.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

inline float MaxAbs(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 v = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  v = _mm_max_ps(v, _mm_movehl_ps(v, v));
  v = _mm_max_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

// 32 floats times `inv`, rounded, stored as int8; the clamp keeps products that round past 127
// where the scalar code's clamp (Q8_K) or its exact bound (Q8_0) puts them.
inline void Round32(const float* x, __m256 inv, int8_t* out) {
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), inv));
    q[k] = _mm256_max_epi32(lo, _mm256_min_epi32(hi, q[k]));
  }
  const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
  // packs works within 128-bit lanes; the permute puts the 32 bytes back in element order.
  const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
}

}  // namespace

void QuantizeQ8_0Avx2(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQ8_0BlockElements; ++b, x += kQ8_0BlockElements) {
    const float d = MaxAbs(x, kQ8_0BlockElements) / 127.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    // F16C rounds as FloatToHalf does; the software conversion was most of this loop's time.
    blocks[b].scale_f16 = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    Round32(x, _mm256_set1_ps(inv), blocks[b].quants);
  }
}

void Q8_0BlockTermsAvx2(int32_t offset, bool has_min, const void* blocks, int64_t num_blocks, int32_t* terms) {
  const auto* q = static_cast<const BlockQ8_0*>(blocks);
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < num_blocks; ++b) {
    const __m256i quants = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q[b].quants));
    // 1 * q in pairs (unsigned by signed), then pairs of those: 8 sums of 4.
    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, quants), ones16);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    const int32_t sum = _mm_cvtsi128_si32(s);
    const float scale = _cvtsh_ss(q[b].scale_f16);
    terms[2 * b] = has_min ? std::bit_cast<int32_t>(scale * static_cast<float>(sum)) : -offset * sum;
    terms[2 * b + 1] = std::bit_cast<int32_t>(scale);
  }
}

void QuantizeQ8_KAvx2(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ8_K& out = blocks[b];
    const float amax = MaxAbs(x, kQK);
    out.scale = amax / 127.0f;
    const __m256 inv = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    for (int j = 0; j < kQK / 32; ++j) Round32(x + 32 * j, inv, out.quants + 32 * j);
    // Sums of each 16 quants: widen to 16 bits, add pairs, then pack the 8-lane halves.
    for (int j = 0; j < 16; j += 2) {
      const __m256i q16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(out.quants + 16 * j)));
      const __m256i q16b =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(out.quants + 16 * j + 16)));
      const __m256i s0 = _mm256_madd_epi16(q16, ones), s1 = _mm256_madd_epi16(q16b, ones);
      __m256i s = _mm256_hadd_epi32(s0, s1);  // [a01 a23 b01 b23 | a45 a67 b45 b67]
      s = _mm256_hadd_epi32(s, s);            // [a0-3 b0-3 .. | a4-7 b4-7 ..]
      const __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      out.sums[j] = static_cast<int16_t>(_mm_cvtsi128_si32(t));
      out.sums[j + 1] = static_cast<int16_t>(_mm_extract_epi32(t, 1));
    }
  }
}

// F16C rounds to nearest even and overflows to infinity, as FloatToHalf does; every key and
// value stored in an F16 cache goes through here (elementwise it was 4 us of every 1B layer).
void QuantizeF16F16c(const float* x, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), halves);
  }
  for (; i < n; ++i) h[i] = FloatToHalf(x[i]);
}

}  // namespace riglm::cpu
