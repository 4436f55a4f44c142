// AVX2 dot products of the K-quants most files use (Q4_K, Q5_K, Q6_K) with Q8_K activations.
// Unsigned weight quants times signed activation quants go through maddubs; the per-sub-block
// scales multiply the 16-bit pair sums through madd; minima and offsets come from the Q8_K sums.
#include <immintrin.h>

#include "backend/cpu/kernels/avx2/avx2_util.h"

#include <type_traits>

#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

// Q4_K and Q5_K share scales, minima and nibble layout; Q5_K adds a fifth bit per value.
template <bool kFiveBit>
float DotK4Family(int64_t n, const void* w, const void* x) {
  using Block = std::conditional_t<kFiveBit, BlockQ5_K, BlockQ4_K>;
  const auto* a = static_cast<const Block*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float mins_total = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; ++j) UnpackScaleMinK4(j, a[i].scales, &sc[j], &m[j]);
    int mins = 0;
    for (int j = 0; j < 8; ++j) mins += m[j] * (b[i].sums[2 * j] + b[i].sums[2 * j + 1]);
    mins_total += b[i].scale * _cvtsh_ss(a[i].min_f16) * static_cast<float>(mins);
    __m256i high = _mm256_setzero_si256();
    if constexpr (kFiveBit) high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].high_bits));
    __m256i sumi = _mm256_setzero_si256();
    for (int chunk = 0; chunk < 4; ++chunk) {
      const __m256i q4 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].quants + 32 * chunk));
      __m256i lo = _mm256_and_si256(q4, low_mask);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low_mask);
      if constexpr (kFiveBit) {
        // Bit 2c of high_bits[l] is bit 4 of the low-nibble value l, bit 2c+1 of the high one.
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 1), one), 4));
        high = _mm256_srli_epi16(high, 2);
      }
      const __m256i q8_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].quants + 64 * chunk));
      const __m256i q8_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].quants + 64 * chunk + 32));
      const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, q8_lo), _mm256_set1_epi16(sc[2 * chunk]));
      const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, q8_hi), _mm256_set1_epi16(sc[2 * chunk + 1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
    }
    const __m256 d = _mm256_set1_ps(b[i].scale * _cvtsh_ss(a[i].scale_f16));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
  }
  return HorizontalSum(acc) - mins_total;
}

float DotQ6_K(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ6_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i two_bits = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    // The -32 offset of every quant, folded in once per 16 with the Q8_K sums.
    int offset = 0;
    for (int j = 0; j < 16; ++j) offset += a[i].scales[j] * b[i].sums[j];
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = a[i].low + 64 * half;
      const uint8_t* qh = a[i].high + 32 * half;
      const int8_t* sc = a[i].scales + 8 * half;
      const int8_t* q8 = b[i].quants + 128 * half;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, low_mask), _mm256_slli_epi16(_mm256_and_si256(h, two_bits), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, low_mask),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), two_bits), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low_mask),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), two_bits), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low_mask),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), two_bits), 4)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i a8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k));
        const __m256i pairs = _mm256_maddubs_epi16(q[k], a8);
        // Lanes 0-7 of the 16-bit sums belong to the first 16 quants, 8-15 to the next 16.
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, scales));
      }
    }
    const float d = b[i].scale * _cvtsh_ss(a[i].scale_f16);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    acc = _mm256_add_ps(acc, _mm256_setr_ps(-d * 32.0f * static_cast<float>(offset), 0, 0, 0, 0, 0, 0, 0));
  }
  return HorizontalSum(acc);
}

}  // namespace

VecDotFn Avx2VecDotK(DType weight_type) {
  switch (weight_type) {
    case DType::kQ4_K: return DotK4Family<false>;
    case DType::kQ5_K: return DotK4Family<true>;
    case DType::kQ6_K: return DotQ6_K;
    default: return nullptr;
  }
}

}  // namespace riglm::cpu
