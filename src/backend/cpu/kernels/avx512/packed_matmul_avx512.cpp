// AVX-512 VNNI kernels over packed weights (see backend/cpu/packed.h), with Q8_0 activations
// (Q8_K for the K-quants). A tile is one row group by T tokens: the weights of a block column are
// loaded and unpacked once for all T tokens, each activation block once for all rows. Compiled with
// AVX-512 enabled; only called after CPUID said the CPU has it.
// GCC 12 flags the deliberately undefined upper halves inside its own AVX-512 headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

#include "backend/cpu/kernels/packed_tiles.h"
#include "backend/cpu/packed.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

// Sums each group of 4 lanes: result k is the sum of lanes 4k..4k+3.
inline void SumQuads(__m512 v, float* out) {
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xb1));  // swap neighbours
  v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4e));  // swap pairs
  out[0] = _mm_cvtss_f32(_mm512_castps512_ps128(v));
  out[1] = _mm_cvtss_f32(_mm512_extractf32x4_ps(v, 1));
  out[2] = _mm_cvtss_f32(_mm512_extractf32x4_ps(v, 2));
  out[3] = _mm_cvtss_f32(_mm512_extractf32x4_ps(v, 3));
}

// Sums each half: lanes 0-7 and 8-15.
inline void SumHalves(__m512 v, float* out) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  for (int k = 0; k < 2; ++k) {
    const __m256 h = k == 0 ? lo : hi;
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[k] = _mm_cvtss_f32(s);
  }
}

// Lanes 0-7 take row 2k's value in `rows` (one float per row of an 8-row group), lanes 8-15
// row 2k+1's: the scale vector for a row pair's accumulator.
inline __m512 ExpandRowPair(__m512 rows, int k) {
  const __m512i pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return _mm512_permutexvar_ps(_mm512_add_epi32(pair, _mm512_set1_epi32(2 * k)), rows);
}

// y for an 8-row group from per-row-pair accumulators (row 2k in lanes 0-7, 2k+1 in 8-15).
template <int T>
void StoreRowPairs(const __m512 (&acc)[4][T], float* y, int64_t y_stride) {
  for (int t = 0; t < T; ++t) {
    float rows[8];
    for (int k = 0; k < 4; ++k) SumHalves(acc[k][t], rows + 2 * k);
    for (int r = 0; r < 8; ++r) y[t * y_stride + r] = rows[r];
  }
}

// 4 bytes as one 32-bit word, for broadcasting from memory.
inline int32_t LoadWord(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// IQ4_NL's values + 128, the unsigned bytes dpbusd multiplies, looked up per nibble. Built at
// compile time: a table built when the program starts is built by this file's AVX-512 code, and
// every CPU without AVX-512 died of it before main (SIGILL).
alignas(16) constexpr std::array<uint8_t, 16> kIq4NlUnsigned = [] {
  std::array<uint8_t, 16> table{};
  for (int i = 0; i < 16; ++i) table[i] = static_cast<uint8_t>(kIq4NlValues[i] + 128);
  return table;
}();

// The 32-element formats over G groups of 16 rows: lane r of each dpbusd is row r, so the
// block's integer dot products of all 16 rows come out in one vector, are offset for the stored
// +8 / +16 / +128 by starting from -offset * sum(a), and scaled in one multiply-add; Q4_1 and
// Q5_1 add min * sum(a) instead. Two groups share every activation broadcast: the broadcasts,
// not the dpbusd unit, are what limits one group.
template <int T, int G, DType kType>
void TileLegacy(bool prefetch, const uint8_t* group, uint64_t group_bytes, int64_t blocks, const uint8_t* const* act,
                const int32_t* const* terms, float* y, int64_t y_stride) {
  constexpr bool kQ8 = kType == DType::kQ8_0;
  constexpr bool kMin = kType == DType::kQ4_1 || kType == DType::kQ5_1;
  constexpr bool kFiveBit = kType == DType::kQ5_0 || kType == DType::kQ5_1;
  constexpr uint64_t kQuantsAt = 32 + (kMin ? 32 : 0);
  constexpr uint64_t kColumnBytes = kQuantsAt + (kQ8 ? 512 : 256) + (kFiveBit ? 64 : 0);
  // Independent dpbusd chains per token: one group needs two to keep the unit busy.
  constexpr int kChains = G == 1 ? 2 : 1;
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i sixteen = _mm512_set1_epi8(16);
  __m512 acc[G][T];
  for (int g = 0; g < G; ++g) {
    for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < blocks; ++b) {
    __m512 scales[G], mins[G];
    __m512i w[G][8];  // w[g][k]: each row's elements 4k..4k+3
    for (int g = 0; g < G; ++g) {
      const uint8_t* col = group + g * group_bytes + b * kColumnBytes;
      PrefetchAhead<kColumnBytes>(prefetch, col);
      scales[g] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col)));
      if constexpr (kMin) mins[g] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + 32)));
      if constexpr (kQ8) {
        for (int j = 0; j < 8; ++j) w[g][j] = _mm512_loadu_si512(col + kQuantsAt + 64 * j);
        continue;
      }
      for (int j = 0; j < 4; ++j) {
        const __m512i raw = _mm512_loadu_si512(col + kQuantsAt + 64 * j);
        __m512i lo = _mm512_and_si512(raw, low_mask);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low_mask);
        if constexpr (kFiveBit) {
          uint64_t bits[2];
          std::memcpy(bits, col + kQuantsAt + 256 + 16 * j, 16);
          lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64(bits[0]), lo, sixteen);
          hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64(bits[1]), hi, sixteen);
        }
        if constexpr (kType == DType::kIQ4_NL) {
          const __m512i table =
              _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4NlUnsigned.data())));
          lo = _mm512_shuffle_epi8(table, lo);
          hi = _mm512_shuffle_epi8(table, hi);
        }
        w[g][j] = lo;
        w[g][4 + j] = hi;
      }
    }
    for (int t = 0; t < T; ++t) {
      const auto* a = reinterpret_cast<const BlockQ8_0*>(act[t]) + b;
      __m512i dot[G][kChains];
      for (int g = 0; g < G; ++g) {
        dot[g][0] = kMin ? _mm512_setzero_si512() : _mm512_set1_epi32(terms[t][2 * b]);
        for (int c = 1; c < kChains; ++c) dot[g][c] = _mm512_setzero_si512();
      }
      for (int k = 0; k < 8; ++k) {
        // Broadcast straight from memory: from a general register it costs extra uops.
        const __m512i quad = _mm512_broadcastd_epi32(_mm_loadu_si32(a->quants + 4 * k));
        for (int g = 0; g < G; ++g) dot[g][k % kChains] = _mm512_dpbusd_epi32(dot[g][k % kChains], w[g][k], quad);
      }
      const __m512 act_scale = _mm512_set1_ps(std::bit_cast<float>(terms[t][2 * b + 1]));
      for (int g = 0; g < G; ++g) {
        __m512i sum = dot[g][0];
        if constexpr (kChains == 2) sum = _mm512_add_epi32(sum, dot[g][1]);
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(scales[g], act_scale), acc[g][t]);
        if constexpr (kMin) {
          acc[g][t] = _mm512_fmadd_ps(mins[g], _mm512_set1_ps(std::bit_cast<float>(terms[t][2 * b])), acc[g][t]);
        }
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * y_stride + 16 * g, acc[g][t]);
  }
}

// Q4_K as Q4_0's lanes: lane r of each dpbusd is row r, so a 32-element sub-block's integer dot
// products of all 16 rows come out in one vector, which its 6-bit scales multiply as integers;
// the minima are a second small dot product of the mins with the activations' 32-element sums
// (`sums32`, 8 per column), and d and dmin are applied in float once per column. High nibbles
// are multiplied in place (16 times their value) and shifted back once per sub-block. Against
// 8-row groups scaled per row pair, this is half the instructions per weight byte.
// Q5_K (kFiveBit) adds 16 to the nibbles its masks name, so its high nibbles are shifted down.
// No software prefetches: with them (a chunk's lines at a time, 4 KiB ahead), on the Zen 5 VM,
// one-token Q4_K products ran 1.09-1.15x and Q5_K 1.13x slower, whole 1B Q4_K_M and Q5_K_M
// decoding steps 1.05-1.07x.
template <int T, bool kFiveBit>
void TileQ4_K(const uint8_t* group, int64_t blocks, const uint8_t* const* act,
              const int16_t* const* sums32, float* y, int64_t y_stride) {
  constexpr uint64_t kChunkBytes = Q4_KChunkBytes(kFiveBit);
  constexpr uint64_t kColumnBytes = Q4_KColumnBytes(kFiveBit);
  // Independent dpbusd chains per token: one token needs two to keep the unit busy.
  constexpr int kChains = T == 1 ? 2 : 1;
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i sixteen = _mm512_set1_epi8(16);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const uint8_t* col = group;
  for (int64_t b = 0; b < blocks; ++b, col += kColumnBytes) {
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
    // A 16-row group of a wide matrix streams past the L1 cache between two reads of the same
    // activation block (76 KiB at width 8192), so one token's next block is asked for a column
    // ahead. One-token products of width 8192 from memory, one thread: Q5_K 1.22-1.27x, Q4_K
    // 1.08-1.09x; 1.01-1.03 at width 2048, where the group and the activations fit in L1.
    if (T == 1 && b + 1 < blocks) {
      const char* next = reinterpret_cast<const char*>(a[0] + 1);
      for (uint64_t off = 0; off < sizeof(BlockQ8_K); off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
      _mm_prefetch(next + sizeof(BlockQ8_K) - 1, _MM_HINT_T0);
    }
    __m512i total[T];
    for (int t = 0; t < T; ++t) total[t] = _mm512_setzero_si512();
    // The head: each row's minima (lane r: row r's mins of sub-blocks 2p and 2p + 1, as 16-bit
    // values) and d, dmin. A tile of several tokens loads it first; one token loads it where it
    // is used, after the chunks. Loaded first, held in registers across the column, one-token
    // products from memory overlapped their arithmetic with the reads no better than running
    // the two one after the other: on this Zen 5 VM (EPYC, 2 vCPUs), 2 threads, width 2048, in
    // one process with the order balanced, Q4_K 40 -> 66 GB/s and Q5_K 36 -> 55 (1.63x, 1.49x;
    // 65 GB/s read); riglm bench, 1B Q4_K_M tg128 63-68 -> 80-84 t/s. On an earlier Zen 4 VM,
    // loading it last had measured slower (Q5_K 2.2x, Q4_K 10%, one thread). Prompts (tiles of
    // 4, from L2) ran 8% slower with it last.
    __m512i mins[4];
    __m512 d, dmin;
    auto load_head = [&]() __attribute__((always_inline)) {
      for (int p = 0; p < 4; ++p) {
        mins[p] = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + 192 + 32 * p)));
      }
      d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col)));
      dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + 32)));
    };
    if constexpr (T > 1) load_head();
    for (int chunk = 0; chunk < 4; ++chunk) {
      const uint8_t* vectors = col + kQ4_KHeadBytes + chunk * kChunkBytes;
      __m512i lo_sum[kChains][T], hi_sum[kChains][T];
      for (int c = 0; c < kChains; ++c) {
        for (int t = 0; t < T; ++t) lo_sum[c][t] = hi_sum[c][t] = _mm512_setzero_si512();
      }
      for (int j = 0; j < 8; ++j) {
        const __m512i w = _mm512_loadu_si512(vectors + 64 * j);
        __m512i lo = _mm512_and_si512(w, low_mask), hi;
        if constexpr (kFiveBit) {
          uint64_t bits[2];
          std::memcpy(bits, vectors + kQ4_KChunkBytes + 16 * j, 16);
          lo = _mm512_mask_add_epi8(lo, _cvtu64_mask64(bits[0]), lo, sixteen);
          hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low_mask);
          hi = _mm512_mask_add_epi8(hi, _cvtu64_mask64(bits[1]), hi, sixteen);
        } else {
          hi = _mm512_andnot_si512(low_mask, w);
        }
        for (int t = 0; t < T; ++t) {
          const int8_t* quads = a[t]->quants + 64 * chunk + 4 * j;
          lo_sum[j % kChains][t] = _mm512_dpbusd_epi32(lo_sum[j % kChains][t], lo, _mm512_set1_epi32(LoadWord(quads)));
          hi_sum[j % kChains][t] =
              _mm512_dpbusd_epi32(hi_sum[j % kChains][t], hi, _mm512_set1_epi32(LoadWord(quads + 32)));
        }
      }
      const __m512i sc_lo = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 64 + 32 * chunk)));
      const __m512i sc_hi =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 64 + 32 * chunk + 16)));
      for (int t = 0; t < T; ++t) {
        __m512i lo = lo_sum[0][t], hi = hi_sum[0][t];
        if constexpr (kChains == 2) {
          lo = _mm512_add_epi32(lo, lo_sum[1][t]);
          hi = _mm512_add_epi32(hi, hi_sum[1][t]);
        }
        if constexpr (!kFiveBit) hi = _mm512_srai_epi32(hi, 4);
        total[t] = _mm512_add_epi32(total[t], _mm512_add_epi32(_mm512_mullo_epi32(lo, sc_lo), _mm512_mullo_epi32(hi, sc_hi)));
      }
    }
    if constexpr (T == 1) load_head();
    for (int t = 0; t < T; ++t) {
      __m512i min_sum = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        min_sum = _mm512_dpwssd_epi32(min_sum, mins[p], _mm512_set1_epi32(LoadWord(sums32[t] + 8 * b + 2 * p)));
      }
      const __m512 da = _mm512_set1_ps(a[t]->scale);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(min_sum), _mm512_mul_ps(dmin, da), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * y_stride, acc[t]);
}

// Q6_K in Q4_0's lanes, like Q4_K: the 6-bit values (q + 32) of three vectors read with one AND
// each and a fourth rebuilt from their top bit pairs (9 logic ops per 4 vectors where GGUF's
// nibbles and bit pairs took 13, 5 of them shifts: 15% fewer cycles per column from L1),
// dpbusd per 4 elements of 16 rows, and each 16-element sub-block's sums, less
// 32 times the activations' sum for the +32, multiplied by the rows' int8 scales as integers.
// Against 8-row groups scaled per row pair through vpermw, 40% fewer instructions per byte.
template <int T>
void TileQ6_K(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act, float* y,
              int64_t y_stride) {
  const __m512i six_bits = _mm512_set1_epi8(0x3f);
  const __m512i bits_0_1 = _mm512_set1_epi8(0x03);
  const __m512i bits_0_3 = _mm512_set1_epi8(0x0f);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const uint8_t* col = group;
  for (int64_t b = 0; b < blocks; ++b, col += kQ6_KColumnBytes) {
    PrefetchAhead<kQ6_KHeadBytes>(prefetch, col);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
    __m512i total[T];
    for (int t = 0; t < T; ++t) total[t] = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int half = 0; half < 2; ++half) {
#pragma GCC unroll 2
      for (int sub_half = 0; sub_half < 2; ++sub_half) {
        // isum[g]: sub-block 8 half + 2 g + sub_half, elements 128 half + 32 g + 16 sub_half..,
        // starting from -32 times the activations' sum for the +32 (against subtracting it at
        // the end: 32 fewer instructions in 426 per column, one-token products from memory
        // 1.06x on the Zen 5 VM, measured without prefetches).
        __m512i isum[4][T];
        for (int g = 0; g < 4; ++g) {
          for (int t = 0; t < T; ++t) isum[g][t] = _mm512_set1_epi32(-32 * a[t]->sums[8 * half + 2 * g + sub_half]);
        }
#pragma GCC unroll 4
        for (int j = 4 * sub_half; j < 4 * sub_half + 4; ++j) {
          const uint8_t* v = col + kQ6_KHeadBytes + 192 * (8 * half + j);
          // The 3.3 KiB column is asked for three lines at a time, each step the lines it reads.
          // On the Zen 5 VM, 2 threads, width 2048, in one process with the order balanced,
          // one-token products from memory ran at 67 GB/s this way, at 47 with four steps' 12
          // lines asked for at once and at 45-46 with nothing asked for (63.5 GB/s read).
          PrefetchAhead<192>(prefetch, v);
          const __m512i w0 = _mm512_loadu_si512(v);
          const __m512i w1 = _mm512_loadu_si512(v + 64);
          const __m512i w2 = _mm512_loadu_si512(v + 128);
          // The fourth values' bit pairs (bits 6-7 of w0, w1, w2) shifted to bits 0-1, 2-3, 4-5;
          // a 16-bit shift brings in the next byte's bits above them, so each select (0xe4:
          // where the mask has ones from the first operand, else the second) takes only the
          // pair, and the last AND clears bits 6-7.
          const __m512i pairs_01 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w0, 6), _mm512_srli_epi16(w1, 4), bits_0_1, 0xe4);
          const __m512i fourth = _mm512_ternarylogic_epi32(pairs_01, _mm512_srli_epi16(w2, 2), bits_0_3, 0xe4);
          const __m512i q[4] = {_mm512_and_si512(w0, six_bits), _mm512_and_si512(w1, six_bits),
                                _mm512_and_si512(w2, six_bits), _mm512_and_si512(fourth, six_bits)};
          for (int g = 0; g < 4; ++g) {
            for (int t = 0; t < T; ++t) {
              const int8_t* quads = a[t]->quants + 128 * half + 32 * g + 4 * j;
              isum[g][t] = _mm512_dpbusd_epi32(isum[g][t], q[g], _mm512_set1_epi32(LoadWord(quads)));
            }
          }
        }
        for (int g = 0; g < 4; ++g) {
          const int sub = 8 * half + 2 * g + sub_half;
          const __m512i scale =
              _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 32 + 16 * sub)));
          for (int t = 0; t < T; ++t) total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(isum[g][t], scale));
        }
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col)));
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, _mm512_set1_ps(a[t]->scale)), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * y_stride, acc[t]);
}

// Q3_K and Q2_K, 8 rows at a time: values rebuilt as unsigned bytes, multiplied with maddubs and
// scaled per 16 elements with dpwssd. Scale vectors for 32 elements of a row pair (rows 2k and
// 2k+1, 16 16-bit sums each) come from the pair's 16-bit scales through vpermw with this table.
alignas(64) constexpr int16_t kRowPairScaleIndex[8][32] = {
#define RIGLM_ROW_PAIR_SUBS(g)                                                                                          \
  {2 * (g), 2 * (g), 2 * (g), 2 * (g), 2 * (g), 2 * (g), 2 * (g), 2 * (g),                                  \
   2 * (g) + 1, 2 * (g) + 1, 2 * (g) + 1, 2 * (g) + 1, 2 * (g) + 1, 2 * (g) + 1, 2 * (g) + 1, 2 * (g) + 1,  \
   16 + 2 * (g), 16 + 2 * (g), 16 + 2 * (g), 16 + 2 * (g), 16 + 2 * (g), 16 + 2 * (g), 16 + 2 * (g),       \
   16 + 2 * (g), 17 + 2 * (g), 17 + 2 * (g), 17 + 2 * (g), 17 + 2 * (g), 17 + 2 * (g), 17 + 2 * (g),       \
   17 + 2 * (g), 17 + 2 * (g)}
    RIGLM_ROW_PAIR_SUBS(0), RIGLM_ROW_PAIR_SUBS(1), RIGLM_ROW_PAIR_SUBS(2), RIGLM_ROW_PAIR_SUBS(3),
    RIGLM_ROW_PAIR_SUBS(4), RIGLM_ROW_PAIR_SUBS(5), RIGLM_ROW_PAIR_SUBS(6), RIGLM_ROW_PAIR_SUBS(7),
#undef RIGLM_ROW_PAIR_SUBS
};

// Q3_K: each 3-bit value rebuilt as q + 4 (two low bits, and the high bit from the row's mask),
// the +4 taken back out through the activations' 16-element sums.
template <int T>
void TileQ3_K(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act, float* y,
              int64_t y_stride) {
  const __m512i two_bits = _mm512_set1_epi8(3);
  const __m512i four = _mm512_set1_epi8(4);
  __m512 acc[4][T];
  for (int k = 0; k < 4; ++k) {
    for (int t = 0; t < T; ++t) acc[k][t] = _mm512_setzero_ps();
  }
  const uint8_t* col = group;
  for (int64_t b = 0; b < blocks; ++b, col += kQ3_KColumnBytes) {
    PrefetchAhead<kQ3_KColumnBytes>(prefetch, col);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
    const __m512 d_rows = _mm512_zextps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col))));
    for (int k = 0; k < 4; ++k) {
      // Rows 2k and 2k+1: 16 scales each, as 16-bit lanes.
      const __m512i scales = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + 16 + 32 * k)));
      __m512i isum[T];
      for (int t = 0; t < T; ++t) {
        // The +4 of every rebuilt value: minus 4 * sum over sub-blocks of scale * activation sum.
        const __m512i sums16 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->sums)));
        isum[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_madd_epi16(scales, sums16), 2));
      }
      const uint8_t* pair = col + 144 + k * kQ3_KPairBytes;
      const __m512i high = _mm512_loadu_si512(pair);
      for (int half = 0; half < 2; ++half) {
        const __m512i low = _mm512_loadu_si512(pair + 64 + 64 * half);
        for (int g = 0; g < 4; ++g) {
          // Elements 128 half + 32 g + l: bits 2g of quant byte l, bit 4 half + g of mask byte l.
          const int bit = 4 * half + g;
          const __m512i high4 = bit >= 2 ? _mm512_srli_epi16(high, bit - 2) : _mm512_slli_epi16(high, 2 - bit);
          const __m512i q = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 2 * g), two_bits),
                                            _mm512_and_si512(high4, four));
          const __m512i sc = _mm512_permutexvar_epi16(_mm512_load_si512(kRowPairScaleIndex[bit]), scales);
          for (int t = 0; t < T; ++t) {
            const __m512i a8 = _mm512_broadcast_i64x4(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->quants + 128 * half + 32 * g)));
            isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q, a8), sc);
          }
        }
      }
      const __m512 d = ExpandRowPair(d_rows, k);
      for (int t = 0; t < T; ++t) {
        acc[k][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(a[t]->scale)), acc[k][t]);
      }
    }
  }
  StoreRowPairs<T>(acc, y, y_stride);
}

// Q2_K as Q3_K without the high bits, and with a minimum per 16 elements: its sum over the
// sub-blocks of min * (activation sum) is subtracted, scaled by dmin.
template <int T>
void TileQ2_K(bool prefetch, const uint8_t* group, int64_t blocks, const uint8_t* const* act, float* y,
              int64_t y_stride) {
  const __m512i two_bits = _mm512_set1_epi8(3);
  const __m512i low_nibble = _mm512_set1_epi16(0x0f);
  __m512 acc[4][T];
  for (int k = 0; k < 4; ++k) {
    for (int t = 0; t < T; ++t) acc[k][t] = _mm512_setzero_ps();
  }
  const uint8_t* col = group;
  for (int64_t b = 0; b < blocks; ++b, col += kQ2_KColumnBytes) {
    PrefetchAhead<kQ2_KColumnBytes>(prefetch, col);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + b;
    const __m512 d_rows = _mm512_zextps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col))));
    const __m512 dmin_rows =
        _mm512_zextps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16))));
    for (int k = 0; k < 4; ++k) {
      // Rows 2k and 2k+1: 16 scales and 16 mins each, as 16-bit lanes.
      const __m512i packed = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(col + 32 + 32 * k)));
      const __m512i scales = _mm512_and_si512(packed, low_nibble);
      const __m512i mins = _mm512_srli_epi16(packed, 4);
      __m512i isum[T], min_sum[T];
      for (int t = 0; t < T; ++t) {
        isum[t] = _mm512_setzero_si512();
        const __m512i sums16 = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->sums)));
        min_sum[t] = _mm512_madd_epi16(mins, sums16);
      }
      for (int half = 0; half < 2; ++half) {
        const __m512i low = _mm512_loadu_si512(col + 160 + k * kQ2_KPairBytes + 64 * half);
        for (int g = 0; g < 4; ++g) {
          const __m512i q = _mm512_and_si512(_mm512_srli_epi16(low, 2 * g), two_bits);
          const __m512i sc = _mm512_permutexvar_epi16(_mm512_load_si512(kRowPairScaleIndex[4 * half + g]), scales);
          for (int t = 0; t < T; ++t) {
            const __m512i a8 = _mm512_broadcast_i64x4(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->quants + 128 * half + 32 * g)));
            isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q, a8), sc);
          }
        }
      }
      const __m512 d = ExpandRowPair(d_rows, k);
      const __m512 dmin = ExpandRowPair(dmin_rows, k);
      for (int t = 0; t < T; ++t) {
        const __m512 da = _mm512_set1_ps(a[t]->scale);
        acc[k][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, da), acc[k][t]);
        acc[k][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(min_sum[t]), _mm512_mul_ps(dmin, da), acc[k][t]);
      }
    }
  }
  StoreRowPairs<T>(acc, y, y_stride);
}

// `groups` consecutive row groups (2 only for Q4_0) by T tokens.
template <int T>
void Tile(bool prefetch, const PackedWeights& w, const uint8_t* group, int groups, const uint8_t* const* act,
          const int32_t* const* sums, const int16_t* const* sums32, float* y, int64_t y_stride) {
  const int64_t blocks32 = w.cols / 32;
  switch (w.type) {
    case DType::kQ4_0:
      (groups == 2 ? TileLegacy<T, 2, DType::kQ4_0> : TileLegacy<T, 1, DType::kQ4_0>)(
          prefetch, group, w.group_bytes, blocks32, act, sums, y, y_stride);
      return;
    case DType::kQ8_0:
      return TileLegacy<T, 1, DType::kQ8_0>(prefetch, group, w.group_bytes, blocks32, act, sums, y, y_stride);
    case DType::kQ4_1:
      return TileLegacy<T, 1, DType::kQ4_1>(prefetch, group, w.group_bytes, blocks32, act, sums, y, y_stride);
    case DType::kQ5_0:
      return TileLegacy<T, 1, DType::kQ5_0>(prefetch, group, w.group_bytes, blocks32, act, sums, y, y_stride);
    case DType::kQ5_1:
      return TileLegacy<T, 1, DType::kQ5_1>(prefetch, group, w.group_bytes, blocks32, act, sums, y, y_stride);
    case DType::kIQ4_NL:
      return TileLegacy<T, 1, DType::kIQ4_NL>(prefetch, group, w.group_bytes, blocks32, act, sums, y, y_stride);
    default: break;
  }
  if (w.type == DType::kQ6_K) {
    TileQ6_K<T>(prefetch, group, w.cols / kQK, act, y, y_stride);
  } else if (w.type == DType::kQ3_K) {
    TileQ3_K<T>(prefetch, group, w.cols / kQK, act, y, y_stride);
  } else if (w.type == DType::kQ2_K) {
    TileQ2_K<T>(prefetch, group, w.cols / kQK, act, y, y_stride);
  } else if (w.type == DType::kQ5_K) {
    TileQ4_K<T, true>(group, w.cols / kQK, act, sums32, y, y_stride);
  } else {
    TileQ4_K<T, false>(group, w.cols / kQK, act, sums32, y, y_stride);
  }
}

struct Avx512Tiles {
  const PackedWeights& w;
  template <int T>
  void Run(bool prefetch, int64_t g, int groups, const uint8_t* const* act, const int32_t* const* sums,
           const int16_t* const* sums32, float* y, int64_t y_stride) const {
    Tile<T>(prefetch, w, w.group(g), groups, act, sums, sums32, y, y_stride);
  }
};

}  // namespace

void PackedMatMulAvx512(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                        uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y,
                        int64_t y_stride) {
  // Q8_0 weights stream from L2 at twice Q4_0's bytes per product: pairs of its groups only
  // wait on L2 (measured slower), so only Q4_0 takes two groups at a time, and only for batches:
  // one token reads the weights from memory once, where two streams per core read slower than
  // one (a whole 1B Q4_0 decoding step, alternated in one process: 12.5 -> 11.5 ms single).
  const bool pair_groups = w.type == DType::kQ4_0 && num_tokens > 1;
  RunPackedTiles(w, group_begin, group_end, activations, act_row_bytes, act_sums, num_tokens, y, y_stride,
                 pair_groups, Avx512Tiles{w});
}

}  // namespace riglm::cpu
