// AVX2 dot products for the less common weight types: Q4_1, Q5_0, Q5_1, IQ4_NL (Q8_0 activations)
// and Q2_K, Q3_K (Q8_K activations). Same integer sums as the scalar kernels, 32 elements a step.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/kernels/avx2/avx2_util.h"
#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

// Elements 0..15 from the low nibbles of 16 bytes, 16..31 from the high nibbles.
inline __m256i Nibbles(const uint8_t* quants) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(quants));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f));
}

// 0x10 in byte j where bit j of the 32-bit word at `bits` is set: the fifth bit of Q5 types.
inline __m256i FifthBits(const uint8_t* bits) {
  uint32_t word;
  std::memcpy(&word, bits, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(word)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// Sum of unsigned (0..31) times signed bytes, as 8 int32 lanes.
inline __m256i DotU8I8(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }

// Sum of signed times signed bytes (the first never -128), as 8 int32 lanes.
inline __m256i DotI8I8(__m256i a, __m256i b) { return DotU8I8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)); }

inline __m256i LoadQ8(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.quants)); }

// Q4_1 and Q5_1: d * da * dot + m * da * sum(a); `fifth` adds bit 4 for Q5_1.
template <typename Block, bool kFifth>
float DotWithMin(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const Block*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  const __m256i ones = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float min_sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i q = Nibbles(a[i].quants);
    if constexpr (kFifth) q = _mm256_or_si256(q, FifthBits(a[i].high_bits));
    const __m256i qb = LoadQ8(b[i]);
    const float db = _cvtsh_ss(b[i].scale_f16);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].scale_f16) * db), _mm256_cvtepi32_ps(DotU8I8(q, qb)), acc);
    const __m256i sum_b = DotU8I8(ones, qb);
    min_sum += _cvtsh_ss(a[i].min_f16) * db * HorizontalSum(_mm256_cvtepi32_ps(sum_b));
  }
  return HorizontalSum(acc) + min_sum;
}

float DotQ5_0(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(Nibbles(a[i].quants), FifthBits(a[i].high_bits)), _mm256_set1_epi8(16));
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(a[i].scale_f16) * _cvtsh_ss(b[i].scale_f16));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotI8I8(q, LoadQ8(b[i]))), acc);
  }
  return HorizontalSum(acc);
}

float DotIQ4_NL(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockIQ4_NL*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4NlValues)));
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i q = _mm256_shuffle_epi8(table, Nibbles(a[i].quants));
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(a[i].scale_f16) * _cvtsh_ss(b[i].scale_f16));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotI8I8(q, LoadQ8(b[i]))), acc);
  }
  return HorizontalSum(acc);
}

// Per-16 scales of two sub-blocks as 16-bit lanes: the first 8 lanes get `s0`, the rest `s1`.
inline __m256i PairScale(int s0, int s1) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(s1)), _mm_set1_epi16(static_cast<int16_t>(s0)));
}

float DotQ2_K(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ2_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  const __m256i three = _mm256_set1_epi8(3);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    __m256i scaled = _mm256_setzero_si256();
    const int8_t* q8 = b[i].quants;
    int is = 0;
    for (int half = 0; half < 2; ++half) {
      const __m256i q2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].quants + 32 * half));
      for (int shift = 0; shift < 8; shift += 2, is += 2, q8 += 32) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(q2, shift), three);
        const __m256i pairs = _mm256_maddubs_epi16(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8)));
        const __m256i s = PairScale(a[i].scales[is] & 0x0f, a[i].scales[is + 1] & 0x0f);
        scaled = _mm256_add_epi32(scaled, _mm256_madd_epi16(pairs, s));
      }
    }
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_srli_epi16(
        _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales)), _mm_set1_epi8(static_cast<char>(0xf0))), 4));
    const __m256i min_dot = _mm256_madd_epi16(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].sums)));
    sum += b[i].scale * (_cvtsh_ss(a[i].scale_f16) * HorizontalSum(_mm256_cvtepi32_ps(scaled)) -
                         _cvtsh_ss(a[i].min_f16) * HorizontalSum(_mm256_cvtepi32_ps(min_dot)));
  }
  return sum;
}

float DotQ3_K(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ3_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t scales[16];
    UnpackQ3KScales(a[i].scales, scales);
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].high_mask));
    __m256i total = _mm256_setzero_si256();
    const int8_t* q8 = b[i].quants;
    int is = 0, bit = 0;
    for (int half = 0; half < 2; ++half) {
      const __m256i q3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].quants + 32 * half));
      for (int shift = 0; shift < 8; shift += 2, is += 2, ++bit, q8 += 32) {
        const __m256i mask = _mm256_set1_epi8(static_cast<char>(1 << bit));
        // 4 is subtracted where the high bit is clear.
        const __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(high, mask), _mm256_setzero_si256());
        const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(q3, shift), three), _mm256_and_si256(clear, four));
        const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
        const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(qb, q));
        total = _mm256_add_epi32(total, _mm256_madd_epi16(pairs, PairScale(scales[is], scales[is + 1])));
      }
    }
    sum += b[i].scale * _cvtsh_ss(a[i].scale_f16) * HorizontalSum(_mm256_cvtepi32_ps(total));
  }
  return sum;
}

}  // namespace

VecDotFn Avx2VecDotMore(DType weight_type) {
  switch (weight_type) {
    case DType::kQ4_1: return DotWithMin<BlockQ4_1, false>;
    case DType::kQ5_1: return DotWithMin<BlockQ5_1, true>;
    case DType::kQ5_0: return DotQ5_0;
    case DType::kIQ4_NL: return DotIQ4_NL;
    case DType::kQ2_K: return DotQ2_K;
    case DType::kQ3_K: return DotQ3_K;
    default: return nullptr;
  }
}

}  // namespace riglm::cpu
