// AVX2 kernels over packed weights (see backend/cpu/packed.h), for CPUs without AVX-512 VNNI: the
// 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL) with Q8_0 activations, and the
// K-quants (Q2_K to Q6_K) with Q8_K activations. They read the AVX-512 kernels' layout, a 16-row
// group as two halves of 8 rows: lane r of each 32-bit product is still row r, so there are no
// horizontal sums (Q2_K and Q3_K, whose layout keeps rows apart, are summed per row instead).
// Without VNNI a byte dot product is vpmaddubsw (unsigned times signed bytes into saturating
// 16-bit pairs) and then vpmaddwd. Activations are at most 127 in magnitude, so a pair of 4-bit
// weights (0..15) stays within 3810 and the pairs of 8 vectors (30480) can be added before they
// are widened once; 5-bit and 6-bit values allow fewer (each kernel says how many). Q8_0 and
// IQ4_NL weights are signed: |w| times a carrying w's sign, widened every vector.
// Compiled with AVX2; only called after CPUID said the CPU has it.
#include <immintrin.h>

#include <bit>
#include <cstring>

#include "backend/cpu/kernels/avx2/avx2_util.h"
#include "backend/cpu/kernels/packed_tiles.h"
#include "backend/cpu/packed.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

inline __m256i BroadcastQuad(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// 16 in byte i where bit i of `bits` is set, else 0: the fifth bits of Q5_0, Q5_1 and Q5_K from
// their masks (AVX2 has no mask registers to add under).
inline __m256i FifthBits(uint32_t bits) {
  const __m256i byte_of_bit = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                               2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit_in_byte = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(bits)), byte_of_bit);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_in_byte), bit_in_byte);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// The 32 mask bits of an 8-row half h from a 64-bit mask over a whole 16-row vector.
inline uint32_t HalfMask(const uint8_t* mask, int h) {
  uint32_t bits;
  std::memcpy(&bits, mask + 4 * h, 4);
  return bits;
}

// sum over byte pairs of w * a as 32-bit lanes, for signed w: vpmaddubsw wants its first operand
// unsigned, so it gets |w| and a takes w's sign.
inline __m256i SignedDot(__m256i w, __m256i a, __m256i ones16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)), ones16);
}

// Where a tile adds the products of several tokens into accumulators, GCC reassociates the sums
// and issues every multiply of the unrolled loop first: more values than registers, spilled to
// the stack and read back. Marking the accumulators as changed here, once per vector of weights,
// keeps each product added before the next ones: prompts (4-token tiles) ran 1.35-1.45x faster
// on a Zen 3 VM. One token has too few values to spill.
template <int T>
inline void KeepOrder(__m256i (&accumulators)[T]) {
  if constexpr (T > 1) {
    for (int t = 0; t < T; ++t) __asm__("" : "+x"(accumulators[t]));
  }
}

// One 16-row group by T tokens: rows 8 * h0.. of kHalves 8-row halves, one half at a time.
template <int T, DType kType, int kHalves>
void TileLegacyAvx2(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act,
                    const int32_t* const* terms, float* y, int64_t y_stride, int h0) {
  constexpr bool kQ8 = kType == DType::kQ8_0;
  constexpr bool kMin = kType == DType::kQ4_1 || kType == DType::kQ5_1;
  constexpr bool kFiveBit = kType == DType::kQ5_0 || kType == DType::kQ5_1;
  constexpr bool kSigned = kQ8 || kType == DType::kIQ4_NL;
  constexpr uint64_t kQuantsAt = 32 + (kMin ? 32 : 0);
  constexpr uint64_t kColumnBytes = kQuantsAt + (kQ8 ? 512 : 256) + (kFiveBit ? 64 : 0);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m256i iq4nl_table =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4NlValues)));
  __m256 acc[kHalves][T];
  for (int h = 0; h < kHalves; ++h) {
    for (int t = 0; t < T; ++t) acc[h][t] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* col = group + b * kColumnBytes;
    PrefetchAhead<kColumnBytes>(prefetch, col);
    const BlockQ8_0* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_0*>(act[t]) + b;
    for (int hh = 0; hh < kHalves; ++hh) {
      const int h = h0 + hh;
      const uint8_t* quants = col + kQuantsAt + 32 * h;
      __m256i dot[T], pairs[T];
      for (int t = 0; t < T; ++t) {
        dot[t] = _mm256_setzero_si256();
        pairs[t] = _mm256_setzero_si256();
      }
      if constexpr (kQ8) {
        const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));  // stored as q + 128
        for (int j = 0; j < 8; ++j) {
          const __m256i w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + 64 * j)), flip);
          for (int t = 0; t < T; ++t) {
            dot[t] = _mm256_add_epi32(dot[t], SignedDot(w, BroadcastQuad(a[t]->quants + 4 * j), ones16));
          }
          KeepOrder(dot);
        }
      } else {
        for (int j = 0; j < 4; ++j) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + 64 * j));
          __m256i lo = _mm256_and_si256(raw, low_mask);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_mask);
          if constexpr (kSigned) {
            lo = _mm256_shuffle_epi8(iq4nl_table, lo);
            hi = _mm256_shuffle_epi8(iq4nl_table, hi);
          }
          if constexpr (kFiveBit) {
            const uint8_t* masks = col + kQuantsAt + 256 + 16 * j;
            lo = _mm256_or_si256(lo, FifthBits(HalfMask(masks, h)));
            hi = _mm256_or_si256(hi, FifthBits(HalfMask(masks + 8, h)));
          }
          for (int t = 0; t < T; ++t) {
            const __m256i a_lo = BroadcastQuad(a[t]->quants + 4 * j);
            const __m256i a_hi = BroadcastQuad(a[t]->quants + 16 + 4 * j);
            if constexpr (kSigned) {
              dot[t] = _mm256_add_epi32(dot[t], _mm256_add_epi32(SignedDot(lo, a_lo, ones16), SignedDot(hi, a_hi, ones16)));
            } else if constexpr (kFiveBit) {
              // Five-bit weights (at most 31) fill 16 bits four times as fast: widened every vector.
              dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, a_lo),
                                                                                   _mm256_maddubs_epi16(hi, a_hi)),
                                                                  ones16));
            } else {
              pairs[t] = _mm256_add_epi16(pairs[t], _mm256_add_epi16(_mm256_maddubs_epi16(lo, a_lo),
                                                                     _mm256_maddubs_epi16(hi, a_hi)));
            }
          }
          // Only the accumulators this type adds into: one held by the asm without being used stays a
          // zero in a register, added to every column's sum (four needless adds a column, for Q4_0).
          if constexpr (kSigned || kFiveBit) {
            KeepOrder(dot);
          } else {
            KeepOrder(pairs);
          }
        }
      }
      const __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * h)));
      __m256 min = _mm256_setzero_ps();
      if constexpr (kMin) min = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 32 + 16 * h)));
      for (int t = 0; t < T; ++t) {
        if constexpr (!kSigned && !kFiveBit) dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(pairs[t], ones16));
        // Q4_0 and Q5_0 add -8 or -16 * sum(a) for their stored offsets; the signed formats need none.
        if constexpr (!kSigned && !kMin) dot[t] = _mm256_add_epi32(dot[t], _mm256_set1_epi32(terms[t][2 * b]));
        const __m256 act_scale = _mm256_set1_ps(std::bit_cast<float>(terms[t][2 * b + 1]));
        acc[hh][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t]), _mm256_mul_ps(scale, act_scale), acc[hh][t]);
        if constexpr (kMin) {
          acc[hh][t] = _mm256_fmadd_ps(min, _mm256_set1_ps(std::bit_cast<float>(terms[t][2 * b])), acc[hh][t]);
        }
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int hh = 0; hh < kHalves; ++hh) _mm256_storeu_ps(y + t * y_stride + 8 * (h0 + hh), acc[hh][t]);
  }
}

// Runs `tile.template operator()<kHalves>(h0)` over both 8-row halves of a group. One token
// reads both halves in one pass over the group, which streams it from memory once; several
// tokens take a half at a time, which keeps their accumulators in registers: with both halves
// at once they spilled, and prompts ran 1.35x slower on a Zen 3 VM. The second pass finds the
// group in cache (RunPackedTiles takes groups a cache-sized chunk at a time).
template <int T, typename Tile>
inline void ByHalves(const Tile& tile) {
  if constexpr (T == 1) {
    tile.template operator()<2>(0);
  } else {
    tile.template operator()<1>(0);
    tile.template operator()<1>(1);
  }
}

// Q4_K in the AVX-512 kernels' layout, 8 rows at a time: per 64-element chunk, the 16-bit pairs
// of its two sub-blocks (low and high nibbles) over 8 vectors (at most 8 * 3810), widened by
// vpmaddwd against each row's 6-bit scale (held in both 16-bit halves of its lane) so widening and
// scaling are one instruction; the minima are the same dot product of each row's two mins with
// the activations' 32-element sums. Q5_K (kFiveBit) adds its fifth bits from the masks. One
// token takes both halves of each line before the next line, sharing the activations' broadcasts
// (one pass instead of one per half: 256 rows from L2, one thread, 19-23 -> 24-26 GB/s on a Zen 3
// VM). The weight prefetches help here (1B Q4_K_M decoding 65% -> 77% of the ceiling on that VM),
// unlike in the AVX-512 tile on a Zen 5 VM.
template <int T, bool kFiveBit, int kHalves>
void TileQ4_KAvx2(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act,
                  const int16_t* const* sums32, float* y, int64_t y_stride, int h0) {
  constexpr uint64_t kChunkBytes = Q4_KChunkBytes(kFiveBit);
  // Vectors whose 16-bit pairs are added before widening: 8 * 3810 for 4-bit values, 4 * 7874
  // for Q5_K's 5-bit ones.
  constexpr int kVectorsPerWidening = kFiveBit ? 4 : 8;
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  __m256 acc[kHalves][T];
  for (int hh = 0; hh < kHalves; ++hh) {
    for (int t = 0; t < T; ++t) acc[hh][t] = _mm256_setzero_ps();
  }
  // Row r's byte in lane r, in both 16-bit halves of it.
  auto row_scales = [](const uint8_t* p) {
    const __m256i s = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_or_si256(s, _mm256_slli_epi32(s, 16));
  };
  const uint8_t* col = group;
  for (int64_t b = 0; b < blocks; ++b, col += Q4_KColumnBytes(kFiveBit)) {
    PrefetchAhead<kQ4_KHeadBytes>(prefetch, col);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
    __m256i total[kHalves][T];
    for (int hh = 0; hh < kHalves; ++hh) {
      for (int t = 0; t < T; ++t) total[hh][t] = _mm256_setzero_si256();
    }
    for (int chunk = 0; chunk < 4; ++chunk) {
      const uint8_t* chunk_bytes = col + kQ4_KHeadBytes + chunk * kChunkBytes;
      PrefetchAhead<kChunkBytes>(prefetch, chunk_bytes);
      for (int j0 = 0; j0 < 8; j0 += kVectorsPerWidening) {
        __m256i lo_pairs[kHalves][T], hi_pairs[kHalves][T];
        for (int hh = 0; hh < kHalves; ++hh) {
          for (int t = 0; t < T; ++t) lo_pairs[hh][t] = hi_pairs[hh][t] = _mm256_setzero_si256();
        }
        for (int j = j0; j < j0 + kVectorsPerWidening; ++j) {
          // Both halves of a line are taken together, before the next line.
          __m256i lo[kHalves], hi[kHalves];
          for (int hh = 0; hh < kHalves; ++hh) {
            const int h = h0 + hh;
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk_bytes + 64 * j + 32 * h));
            lo[hh] = _mm256_and_si256(w, low_mask);
            hi[hh] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low_mask);
            if constexpr (kFiveBit) {
              const uint8_t* masks = chunk_bytes + kQ4_KChunkBytes + 16 * j;
              lo[hh] = _mm256_or_si256(lo[hh], FifthBits(HalfMask(masks, h)));
              hi[hh] = _mm256_or_si256(hi[hh], FifthBits(HalfMask(masks + 8, h)));
            }
          }
          for (int t = 0; t < T; ++t) {
            const int8_t* quads = a[t]->quants + 64 * chunk + 4 * j;
            const __m256i a_lo = BroadcastQuad(quads), a_hi = BroadcastQuad(quads + 32);
            for (int hh = 0; hh < kHalves; ++hh) {
              lo_pairs[hh][t] = _mm256_add_epi16(lo_pairs[hh][t], _mm256_maddubs_epi16(lo[hh], a_lo));
              hi_pairs[hh][t] = _mm256_add_epi16(hi_pairs[hh][t], _mm256_maddubs_epi16(hi[hh], a_hi));
            }
          }
          for (int hh = 0; hh < kHalves; ++hh) {
            KeepOrder(lo_pairs[hh]);
            KeepOrder(hi_pairs[hh]);
          }
        }
        for (int hh = 0; hh < kHalves; ++hh) {
          // Scales [sub-block][row]: sub-blocks 2 * chunk and 2 * chunk + 1.
          const __m256i sc_lo = row_scales(col + 64 + 32 * chunk + 8 * (h0 + hh));
          const __m256i sc_hi = row_scales(col + 64 + 32 * chunk + 16 + 8 * (h0 + hh));
          for (int t = 0; t < T; ++t) {
            total[hh][t] = _mm256_add_epi32(total[hh][t], _mm256_add_epi32(_mm256_madd_epi16(lo_pairs[hh][t], sc_lo),
                                                                           _mm256_madd_epi16(hi_pairs[hh][t], sc_hi)));
          }
        }
      }
    }
    for (int hh = 0; hh < kHalves; ++hh) {
      const int h = h0 + hh;
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * h)));
      const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 32 + 16 * h)));
      // Row r's mins of sub-blocks 2p and 2p + 1 as 16-bit values in lane r.
      __m256i mins[4];
      for (int p = 0; p < 4; ++p) {
        mins[p] = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 192 + 32 * p + 16 * h)));
      }
      for (int t = 0; t < T; ++t) {
        __m256i min_sum = _mm256_setzero_si256();
        for (int p = 0; p < 4; ++p) {
          int32_t pair;
          std::memcpy(&pair, sums32[t] + 8 * b + 2 * p, 4);
          min_sum = _mm256_add_epi32(min_sum, _mm256_madd_epi16(mins[p], _mm256_set1_epi32(pair)));
        }
        const __m256 da = _mm256_set1_ps(a[t]->scale);
        acc[hh][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[hh][t]), _mm256_mul_ps(d, da), acc[hh][t]);
        acc[hh][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sum), _mm256_mul_ps(dmin, da), acc[hh][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int hh = 0; hh < kHalves; ++hh) _mm256_storeu_ps(y + t * y_stride + 8 * (h0 + hh), acc[hh][t]);
  }
}

// Q6_K in the AVX-512 kernels' layout, 8 rows at a time: the 6-bit values (q + 32, at most 63)
// rebuilt as there, 16-bit pairs of two vectors at a time (at most 2 * 2 * 63 * 127) widened by
// vpmaddwd against the rows' int8 scales of each 16-element sub-block; the +32 comes off once
// per column as 32 times each row's scales dotted with the activations' 16-element sums.
template <int T, int kHalves>
void TileQ6_KAvx2(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act, float* y,
                  int64_t y_stride, int h0) {
  const __m256i six_bits = _mm256_set1_epi8(0x3f);
  const __m256i bits_0_1 = _mm256_set1_epi8(0x03), bits_2_3 = _mm256_set1_epi8(0x0c), bits_4_5 = _mm256_set1_epi8(0x30);
  __m256 acc[kHalves][T];
  for (int hh = 0; hh < kHalves; ++hh) {
    for (int t = 0; t < T; ++t) acc[hh][t] = _mm256_setzero_ps();
  }
  // Byte shuffles that put row r's scale of an 8-row half (int8, [sub-block][row] from `col + 32`,
  // both halves' 16 bytes per sub-block) into the high byte of both 16-bit words of lane r; an
  // arithmetic shift then sign-extends it. Three operations a vector, shared by both halves' load.
  const __m256i scale_spread[2] = {
      _mm256_setr_epi8(-128, 0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3,  //
                       -128, 4, -128, 4, -128, 5, -128, 5, -128, 6, -128, 6, -128, 7, -128, 7),
      _mm256_setr_epi8(-128, 8, -128, 8, -128, 9, -128, 9, -128, 10, -128, 10, -128, 11, -128, 11,  //
                       -128, 12, -128, 12, -128, 13, -128, 13, -128, 14, -128, 14, -128, 15, -128, 15)};
  const uint8_t* col = group;
  for (int64_t b = 0; b < blocks; ++b, col += kQ6_KColumnBytes) {
    PrefetchAhead<kQ6_KHeadBytes>(prefetch, col);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
    __m256i total[kHalves][T];
    for (int hh = 0; hh < kHalves; ++hh) {
      for (int t = 0; t < T; ++t) total[hh][t] = _mm256_setzero_si256();
    }
    // Each sub-block's scales, built once per column: the loop below reads each twice, and the
    // +32 correction once more (the shuffles and shifts had been a sixth of the one-token loop).
    __m256i scales[kHalves][16];
    for (int sub = 0; sub < 16; ++sub) {
      const __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 32 + 16 * sub)));
      for (int hh = 0; hh < kHalves; ++hh) {
        scales[hh][sub] = _mm256_srai_epi16(_mm256_shuffle_epi8(bytes, scale_spread[h0 + hh]), 8);
      }
    }
    for (int half = 0; half < 2; ++half) {
      for (int jp = 0; jp < 4; ++jp) {  // j = 2 jp, 2 jp + 1: elements 4j.. of each quarter
        __m256i q[kHalves][2][4];         // [row half - h0][j - 2 jp][quarter g]
        for (int k = 0; k < 2; ++k) {
          const uint8_t* v = col + kQ6_KHeadBytes + 192 * (8 * half + 2 * jp + k);
          PrefetchAhead<192>(prefetch, v);
          for (int hh = 0; hh < kHalves; ++hh) {
            const int rh = h0 + hh;
            const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 32 * rh));
            const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 64 + 32 * rh));
            const __m256i w2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 128 + 32 * rh));
            const __m256i fourth = _mm256_or_si256(
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(w0, 6), bits_0_1),
                                _mm256_and_si256(_mm256_srli_epi16(w1, 4), bits_2_3)),
                _mm256_and_si256(_mm256_srli_epi16(w2, 2), bits_4_5));
            q[hh][k][0] = _mm256_and_si256(w0, six_bits);
            q[hh][k][1] = _mm256_and_si256(w1, six_bits);
            q[hh][k][2] = _mm256_and_si256(w2, six_bits);
            q[hh][k][3] = fourth;
          }
        }
        // Sub-block 8 half + 2 g + jp / 2 holds elements 4j.. of quarter g for j = 2 jp, 2 jp + 1.
        for (int g = 0; g < 4; ++g) {
          const int sub = 8 * half + 2 * g + jp / 2;
          for (int hh = 0; hh < kHalves; ++hh) {
            const __m256i scale = scales[hh][sub];
            for (int t = 0; t < T; ++t) {
              const int8_t* quads = a[t]->quants + 128 * half + 32 * g + 8 * jp;
              const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(q[hh][0][g], BroadcastQuad(quads)),
                                                     _mm256_maddubs_epi16(q[hh][1][g], BroadcastQuad(quads + 4)));
              total[hh][t] = _mm256_add_epi32(total[hh][t], _mm256_madd_epi16(pairs, scale));
            }
            KeepOrder(total[hh]);
          }
        }
      }
    }
    for (int hh = 0; hh < kHalves; ++hh) {
      const int rh = h0 + hh;
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * rh)));
      // The +32: 32 times each row's scales of sub-blocks 2p, 2p + 1 dotted with their activation
      // sums (16-bit, where 32 times them would not fit).
      __m256i scale_pairs[8];  // the low word of lane r sub-block 2p's scale, the high word 2p + 1's
      for (int p = 0; p < 8; ++p) scale_pairs[p] = _mm256_blend_epi16(scales[hh][2 * p], scales[hh][2 * p + 1], 0xaa);
      for (int t = 0; t < T; ++t) {
        __m256i offset = _mm256_setzero_si256();
        for (int p = 0; p < 8; ++p) {
          int32_t sums;
          std::memcpy(&sums, a[t]->sums + 2 * p, 4);
          offset = _mm256_add_epi32(offset, _mm256_madd_epi16(scale_pairs[p], _mm256_set1_epi32(sums)));
        }
        const __m256i sum = _mm256_sub_epi32(total[hh][t], _mm256_slli_epi32(offset, 5));
        acc[hh][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(a[t]->scale)), acc[hh][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int hh = 0; hh < kHalves; ++hh) _mm256_storeu_ps(y + t * y_stride + 8 * (h0 + hh), acc[hh][t]);
  }
}

// Byte shuffles of a row's 16 scales for the vector of sub-blocks 2i and 2i + 1 (i = 4 half + g):
// each 16-bit word of the low 128 bits gets scale 2i, of the high ones 2i + 1 (Q3_K: as the high
// byte), the other byte zero (index -128).
struct ScalePicks {
  alignas(32) int8_t bytes[8][32];
};
template <bool kQ3>
constexpr ScalePicks kScalePicks = [] {
  ScalePicks picks{};
  for (int i = 0; i < 8; ++i) {
    for (int k = 0; k < 32; ++k) {
      const bool scale_byte = (k % 2 == 1) == kQ3;
      picks.bytes[i][k] = static_cast<int8_t>(scale_byte ? 2 * i + k / 16 : -128);
    }
  }
  return picks;
}();

// Q3_K and Q2_K in the AVX-512 kernels' 8-row layout, a row at a time: a row's 32 bytes of 2-bit
// quants hold 32 consecutive elements per bit pair, so a vector of rebuilt values meets 32
// contiguous activations (no broadcasts). Values are rebuilt as unsigned bytes (Q3_K: q + 4, its
// high bit from the row's mask; Q2_K: q), their 16-bit pair sums (at most 2 * 7 * 127) widened by
// vpmaddwd against the scales of the two 16-element sub-blocks they span: the vector's 128-bit
// halves are one sub-block each, so one in-lane byte shuffle of the row's 16 scales makes the
// scale operand (it was a lane-crossing permute per vector).
// Q3_K's scales are signed, so the shuffle puts them in the high byte of each 16-bit word: its
// sums come out times 256 (at most 2^29 with the +4's term, exact in a float). Q3_K's +4 comes
// off through the activations' 16-element sums, and Q2_K's minima the same way. This leaves in
// `isum` and `min_sum` (Q2_K) row r's integer sums of block column `col` for T tokens, as 8 lanes
// each to be added up.
template <int T, bool kQ3>
inline void RowBlockQ2OrQ3_K(const uint8_t* col, int r, const BlockQ8_K* const* a, __m256i (&isum)[T],
                             __m256i (&min_sum)[T]) {
  const __m256i two_bits = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
  const int pair_offset = (r / 2) * (kQ3 ? kQ3_KPairBytes : kQ2_KPairBytes) + 32 * (r % 2);
  const __m128i scale_bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + (kQ3 ? 16 : 32) + 16 * r));
  // The 16 scales in both 128-bit halves (Q2_K: low nibbles; the high ones are the minima).
  __m256i scales = _mm256_broadcastsi128_si256(scale_bytes);
  if constexpr (kQ3) {
    const __m256i scales16 = _mm256_cvtepi8_epi16(scale_bytes);
    for (int t = 0; t < T; ++t) {
      const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->sums));
      isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(scales16, sums), 2 + 8));
    }
  } else {
    const __m256i mins16 = _mm256_srli_epi16(_mm256_cvtepu8_epi16(scale_bytes), 4);
    scales = _mm256_and_si256(scales, _mm256_set1_epi8(0x0f));
    for (int t = 0; t < T; ++t) {
      isum[t] = _mm256_setzero_si256();
      min_sum[t] = _mm256_madd_epi16(mins16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->sums)));
    }
  }
  const uint8_t* quants = col + (kQ3 ? 144 + 64 : 160) + pair_offset;
  __m256i high = _mm256_setzero_si256();
  if constexpr (kQ3) high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + 144 + pair_offset));
  // Unrolled by request: GCC kept the 4-token tiles' loops rolled, so Q3_K's high-bit shifts
  // were variable and branched on, each vector's shuffle control was built from byte inserts,
  // and the sums went to the stack. 1B prompts (pp128, 2 threads, Zen 3 VM): Q3_K_S 43 -> 75-80
  // t/s, Q2_K 45 -> 62-82.
#pragma GCC unroll 2
  for (int half = 0; half < 2; ++half) {
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + 64 * half));
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      // Elements 128 half + 32 g + l: bits 2g of quant byte l (Q3_K: and bit 4 half + g of mask byte l).
      __m256i q = _mm256_and_si256(_mm256_srli_epi16(low, 2 * g), two_bits);
      if constexpr (kQ3) {
        const int bit = 4 * half + g;
        const __m256i high4 = bit >= 2 ? _mm256_srli_epi16(high, bit - 2) : _mm256_slli_epi16(high, 2 - bit);
        q = _mm256_or_si256(q, _mm256_and_si256(high4, four));
      }
      const __m256i sc = _mm256_shuffle_epi8(
          scales, _mm256_load_si256(reinterpret_cast<const __m256i*>(kScalePicks<kQ3>.bytes[4 * half + g])));
      for (int t = 0; t < T; ++t) {
        const __m256i a8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->quants + 128 * half + 32 * g));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q, a8), sc));
      }
      KeepOrder(isum);
    }
  }
}

// Q3_K's integer sums are 256 times the products.
template <bool kQ3>
constexpr float kQ2OrQ3_KSumScale = kQ3 ? 1.0f / 256 : 1.0f;

// One token takes all 8 rows of each block column in turn, so the group streams past once, and
// scales the 8 rows' sums (added up across lanes, row r in lane r) together, where it converted
// and scaled each row's on its own. With the scale shuffle above, one thread's matrix-vector
// products in L2 (kernel_bench, best of 15) went from 7.0 to 9.5-10.7 GB/s for Q2_K and from 8.0
// to 10.0 for Q3_K on a Zen 3 VM, still short of the ~12 GB/s a core must take to keep up with
// memory. Several tokens take one row over all the columns at a time, which keeps their
// accumulators in registers; the group is then in cache (RunPackedTiles takes groups a cache-sized
// chunk at a time). One token a row at a time ran at a quarter of the memory's speed: its weights,
// prefetched non-temporally on the first row's pass, were no longer in cache for the others.
template <int T, bool kQ3>
void TileQ2OrQ3_KAvx2(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act, float* y,
                      int64_t y_stride) {
  constexpr uint64_t kColumnBytes = kQ3 ? kQ3_KColumnBytes : kQ2_KColumnBytes;
  if constexpr (T == 1) {
    __m256 acc = _mm256_setzero_ps();
    const uint8_t* col = group;
    for (int64_t b = 0; b < blocks; ++b, col += kColumnBytes) {
      PrefetchAhead<kColumnBytes>(prefetch, col);
      const BlockQ8_K* a[1] = {reinterpret_cast<const BlockQ8_K*>(act[0]) + b};
      __m256i isum[kPackRowsK8], min_sum[kPackRowsK8];
      for (int r = 0; r < kPackRowsK8; ++r) {
        __m256i row_isum[1], row_min_sum[1];
        RowBlockQ2OrQ3_K<1, kQ3>(col, r, a, row_isum, row_min_sum);
        isum[r] = row_isum[0];
        if constexpr (!kQ3) min_sum[r] = row_min_sum[0];
      }
      const __m256 da = _mm256_set1_ps(a[0]->scale * kQ2OrQ3_KSumScale<kQ3>);
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col)));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LaneSums(isum)), _mm256_mul_ps(d, da), acc);
      if constexpr (!kQ3) {
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16)));
        acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(LaneSums(min_sum)), _mm256_mul_ps(dmin, da), acc);
      }
    }
    _mm256_storeu_ps(y, acc);
  } else {
    for (int r = 0; r < kPackRowsK8; ++r) {
      __m256 acc[T];
      for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
      const uint8_t* col = group;
      for (int64_t b = 0; b < blocks; ++b, col += kColumnBytes) {
        if (r == 0) PrefetchAhead<kColumnBytes>(prefetch, col);
        const BlockQ8_K* a[T];
        for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
        __m256i isum[T], min_sum[T];
        RowBlockQ2OrQ3_K<T, kQ3>(col, r, a, isum, min_sum);
        uint16_t d_bits;
        std::memcpy(&d_bits, col + 2 * r, 2);
        const float d = _cvtsh_ss(d_bits) * kQ2OrQ3_KSumScale<kQ3>;
        for (int t = 0; t < T; ++t) {
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * a[t]->scale), acc[t]);
        }
        if constexpr (!kQ3) {
          std::memcpy(&d_bits, col + 16 + 2 * r, 2);
          const float dmin = _cvtsh_ss(d_bits);
          for (int t = 0; t < T; ++t) {
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sum[t]), _mm256_set1_ps(dmin * a[t]->scale), acc[t]);
          }
        }
      }
      for (int t = 0; t < T; ++t) y[t * y_stride + r] = HorizontalSum(acc[t]);
    }
  }
}

struct Avx2Tiles {
  const PackedWeights& w;
  template <int T, DType kType>
  void Legacy(bool prefetch, const uint8_t* group, const uint8_t* const* act, const int32_t* const* sums, float* y,
              int64_t y_stride) const {
    ByHalves<T>([&]<int kHalves>(int h0) {
      // The second half's pass reads from cache.
      TileLegacyAvx2<T, kType, kHalves>(prefetch && h0 == 0, group, w.cols / 32, act, sums, y, y_stride, h0);
    });
  }
  template <int T>
  void Run(bool prefetch, int64_t g, int /*groups: always 1*/, const uint8_t* const* act, const int32_t* const* sums,
           const int16_t* const* sums32, float* y, int64_t y_stride) const {
    const uint8_t* group = w.group(g);
    switch (w.type) {
      case DType::kQ4_K: return ByHalves<T>([&]<int kHalves>(int h0) {
          TileQ4_KAvx2<T, false, kHalves>(prefetch && h0 == 0, group, w.cols / kQK, act, sums32, y, y_stride, h0);
        });
      case DType::kQ5_K: return ByHalves<T>([&]<int kHalves>(int h0) {
          TileQ4_KAvx2<T, true, kHalves>(prefetch && h0 == 0, group, w.cols / kQK, act, sums32, y, y_stride, h0);
        });
      case DType::kQ3_K: return TileQ2OrQ3_KAvx2<T, true>(prefetch, group, w.cols / kQK, act, y, y_stride);
      case DType::kQ2_K: return TileQ2OrQ3_KAvx2<T, false>(prefetch, group, w.cols / kQK, act, y, y_stride);
      case DType::kQ6_K: return ByHalves<T>([&]<int kHalves>(int h0) {
          TileQ6_KAvx2<T, kHalves>(prefetch && h0 == 0, group, w.cols / kQK, act, y, y_stride, h0);
        });
      case DType::kQ4_0: return Legacy<T, DType::kQ4_0>(prefetch, group, act, sums, y, y_stride);
      case DType::kQ4_1: return Legacy<T, DType::kQ4_1>(prefetch, group, act, sums, y, y_stride);
      case DType::kQ5_0: return Legacy<T, DType::kQ5_0>(prefetch, group, act, sums, y, y_stride);
      case DType::kQ5_1: return Legacy<T, DType::kQ5_1>(prefetch, group, act, sums, y, y_stride);
      case DType::kQ8_0: return Legacy<T, DType::kQ8_0>(prefetch, group, act, sums, y, y_stride);
      default: return Legacy<T, DType::kIQ4_NL>(prefetch, group, act, sums, y, y_stride);
    }
  }
};

}  // namespace

void PackedMatMulAvx2(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                      uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y,
                      int64_t y_stride) {
  RunPackedTiles(w, group_begin, group_end, activations, act_row_bytes, act_sums, num_tokens, y, y_stride,
                 /*pair_groups=*/false, Avx2Tiles{w});
}

}  // namespace riglm::cpu
