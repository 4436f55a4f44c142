// AVX2 + FMA + F16C dot products. This file alone is compiled with those instructions enabled;
// it is only called after CPUID said the CPU has them.
#include <immintrin.h>

#include "backend/cpu/kernels/avx2/avx2_util.h"

#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

// Sum of products of 32 signed bytes, as 8 int32 lanes converted to float.
inline __m256 DotI8x32(__m256i a, __m256i b) {
  const __m256i abs_a = _mm256_sign_epi8(a, a);
  const __m256i signed_b = _mm256_sign_epi8(b, a);
  const __m256i pairs = _mm256_maddubs_epi16(abs_a, signed_b);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Sum over `blocks` of block(i, acc) -> acc + block i's products, alternating between two
// accumulators: with one, every block waits on the last one's multiply-add (Q8_0 from L2:
// 7.8 -> 8.3 bytes per cycle; Q4_0, bound by its unpacking, about the same).
template <typename Block>
[[gnu::always_inline]] inline float SumBlocksTwoChains(int64_t blocks, const Block& block) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= blocks; i += 2) {
    acc0 = block(i, acc0);
    acc1 = block(i + 1, acc1);
  }
  if (i < blocks) acc0 = block(i, acc0);
  return HorizontalSum(_mm256_add_ps(acc0, acc1));
}

float DotF32(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  float sum = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float DotF16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 8)));
    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(b + i + 8), acc1);
  }
  float sum = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += HalfToFloat(a[i]) * b[i];
  return sum;
}

float DotBF16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256 wf = _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    acc = _mm256_fmadd_ps(wf, _mm256_loadu_ps(b + i), acc);
  }
  float sum = HorizontalSum(acc);
  for (; i < n; ++i) sum += BFloat16ToFloat(a[i]) * b[i];
  return sum;
}

float DotQ8_0(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  auto block = [&](int64_t blk, __m256 acc) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(a[blk].scale_f16) * _cvtsh_ss(b[blk].scale_f16));
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[blk].quants));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[blk].quants));
    return _mm256_fmadd_ps(d, DotI8x32(qa, qb), acc);
  };
  return SumBlocksTwoChains(n / kQ8_0BlockElements, block);
}

float DotQ4_0(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi8(8);
  auto block = [&](int64_t blk, __m256 acc) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(a[blk].scale_f16) * _cvtsh_ss(b[blk].scale_f16));
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[blk].quants));
    // Low nibbles are elements 0..15, high nibbles 16..31.
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    const __m256i qa = _mm256_sub_epi8(_mm256_and_si256(both, low_mask), eight);
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[blk].quants));
    return _mm256_fmadd_ps(d, DotI8x32(qa, qb), acc);
  };
  return SumBlocksTwoChains(n / kQ4_0BlockElements, block);
}

}  // namespace

VecDotFn Avx2VecDot(DType weight_type) {
  switch (weight_type) {
    case DType::kF32: return DotF32;
    case DType::kF16: return DotF16;
    case DType::kBF16: return DotBF16;
    case DType::kQ8_0: return DotQ8_0;
    case DType::kQ4_0: return DotQ4_0;
    default: return nullptr;
  }
}

}  // namespace riglm::cpu
