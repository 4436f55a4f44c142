// Attention of query heads over an F32, F16 or Q8_0 KV cache with AVX-512: the AVX2 kernel's
// single pass with an online softmax, 16 keys at a time. Twice the lanes halve the conversions
// of the cached rows and the multiply-adds, and 32 registers hold 64 output elements of four
// heads at once, so value rows go from the cache straight into registers.
// GCC 12 flags the deliberately undefined upper halves inside its own AVX-512 headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "backend/cpu/kernels/attention_dispatch.h"
#include "backend/cpu/ops.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

constexpr int kTileKeys = 16;
constexpr int kMaxHeads = 16;

// Elements d..d+15 of a cached row.
template <DType kType>
inline __m512 Load16(const uint8_t* row, int d) {
  if constexpr (kType == DType::kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + d)));
  } else if constexpr (kType == DType::kQ8_0) {
    // Q8_0 blocks are 32 elements, so 16 never straddle two.
    const auto& block = reinterpret_cast<const BlockQ8_0*>(row)[d / kQ8_0BlockElements];
    const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block.quants + d % kQ8_0BlockElements)));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(_cvtsh_ss(block.scale_f16)));
  } else {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + d);
  }
}

template <DType kType>
void ConvertTile(const KvView& view, int64_t j0, int count, int head_dim, float* tile) {
  for (int i = 0; i < count; ++i) {
    const uint8_t* row = view.row(j0 + i);
    for (int d = 0; d < head_dim; d += 16) _mm512_store_ps(tile + i * head_dim + d, Load16<kType>(row, d));
  }
  std::fill(tile + count * head_dim, tile + kTileKeys * head_dim, 0.0f);  // the last tile's unused rows
}

// e^x for x <= 0 (scores minus their maximum), as the AVX2 kernel computes it.
inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);  // p * 2^n, exact and without overflow for n in [-126, 0]
}

// Sums of pairs of 128-bit blocks, so that lanes [4k, 4k+4) of the result add up to the sum
// of `a` (k = 0, 1) or of `b` (k = 2, 3).
inline __m512 FoldHalves(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
}

// Lane k: the score of key k of the 16 at `keys` for query `q`, times `scale`. A head size
// known at compile time (kHeadDim > 0) turns the 16 rows' addresses into constant offsets.
template <int kHeadDim>
inline __m512 Scores16(const float* q, const float* keys, int runtime_head_dim, __m512 scale) {
  const int head_dim = kHeadDim > 0 ? kHeadDim : runtime_head_dim;
  __m512 dots[kTileKeys];
  for (int i = 0; i < kTileKeys; ++i) dots[i] = _mm512_setzero_ps();
  for (int d = 0; d < head_dim; d += 16) {
    const __m512 qd = _mm512_loadu_ps(q + d);
    for (int i = 0; i < kTileKeys; ++i) dots[i] = _mm512_fmadd_ps(qd, _mm512_load_ps(keys + i * head_dim + d), dots[i]);
  }
  // 16 vectors -> 8: each 256-bit half holds one key's partial sums.
  __m512 u[8];
  for (int i = 0; i < 8; ++i) u[i] = FoldHalves(dots[2 * i], dots[2 * i + 1]);
  // 8 -> 4: each 128-bit block holds one key's 4 partial sums; block b of v[i] is key 4i + b.
  __m512 v[4];
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88), _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xDD));
  }
  // Within each block, the 4 sums of 4 vectors: lane 4b + i is key 4i + b.
  const __m512 x01 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
  const __m512 x23 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
  const __m512 sums = _mm512_add_ps(_mm512_shuffle_ps(x01, x23, 0x44), _mm512_shuffle_ps(x01, x23, 0xEE));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_mul_ps(_mm512_permutexvar_ps(order, sums), scale);
}

// Adds the tile's `count` value rows, weighted per head, to elements d0..d0 + 16 kChunks of the
// kHeads heads' outputs (`out`, head_dim apart). Key by key: each weight is broadcast once for
// all the chunks and each value vector is converted from the cache once for all the heads,
// straight into registers. Against a converted tile of values walked 16 elements at a time:
// 15-20% fewer cycles per key and head with the cache in L2, about the same when 4096 cached
// positions stream from memory. One head splits its multiply-adds into two chains.
template <int kHeads, int kChunks, DType kValue>
inline void AddWeightedValues(const float (&weights)[kHeads][kTileKeys], const KvView& values, int64_t j0, int count,
                              int d0, int head_dim, float* out) {
  constexpr int kChains = kHeads == 1 ? 2 : 1;
  __m512 acc[kChains][kHeads][kChunks];
  for (int k = 0; k < kHeads; ++k) {
    for (int c = 0; c < kChunks; ++c) {
      acc[0][k][c] = _mm512_loadu_ps(out + k * head_dim + d0 + 16 * c);
      for (int ch = 1; ch < kChains; ++ch) acc[ch][k][c] = _mm512_setzero_ps();
    }
  }
  // `chain` is a compile-time index, so the accumulators stay in registers; and forced inline,
  // for GCC 12 kept the lambda a call, its accumulators in memory, each multiply-add waiting on
  // the last one's store (4 heads of 64 from L2: 21.4 -> 14.6 cycles per key and head).
  auto add_key = [&](int i, auto chain) __attribute__((always_inline)) {
    const uint8_t* row = values.row(j0 + i);
    __m512 v[kChunks];
    for (int c = 0; c < kChunks; ++c) v[c] = Load16<kValue>(row, d0 + 16 * c);
    for (int k = 0; k < kHeads; ++k) {
      const __m512 w = _mm512_set1_ps(weights[k][i]);
      for (int c = 0; c < kChunks; ++c) acc[chain][k][c] = _mm512_fmadd_ps(w, v[c], acc[chain][k][c]);
    }
  };
  int i = 0;
  for (; i + 2 <= count; i += 2) {
    add_key(i, std::integral_constant<int, 0>{});
    add_key(i + 1, std::integral_constant<int, kChains - 1>{});
  }
  if (i < count) add_key(i, std::integral_constant<int, 0>{});
  for (int k = 0; k < kHeads; ++k) {
    for (int c = 0; c < kChunks; ++c) {
      __m512 sum = acc[0][k][c];
      for (int ch = 1; ch < kChains; ++ch) sum = _mm512_add_ps(sum, acc[ch][k][c]);
      _mm512_storeu_ps(out + k * head_dim + d0 + 16 * c, sum);
    }
  }
}

// One tile of `count` keys from j0 (their converted keys in `key_tile`) for query heads
// h0..h0 + kHeads: scores, the online softmax step, and the weighted values added to `out`.
// Several heads at once are independent chains the core overlaps, and each value row is
// converted once for all of them (10-15% fewer cycles per key and head than a head at a time
// for 4 or 8 heads of 64).
template <int kHeads, int kHeadDim, DType kValue>
inline void AttendTile(const float* q, int h0, const float* key_tile, const KvView& values, int64_t j0, int count,
                       __mmask16 valid, int runtime_head_dim, __m512 scale16, float* running_max, float* running_sum,
                       float* out) {
  const int head_dim = kHeadDim > 0 ? kHeadDim : runtime_head_dim;
  alignas(64) float weights[kHeads][kTileKeys];
  __m512 s[kHeads];
  for (int k = 0; k < kHeads; ++k) {
    s[k] = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-std::numeric_limits<float>::infinity()),
                                Scores16<kHeadDim>(q + (h0 + k) * head_dim, key_tile, head_dim, scale16));
  }
  for (int k = 0; k < kHeads; ++k) {
    const int h = h0 + k;
    const float tile_max = _mm512_reduce_max_ps(s[k]);
    if (tile_max > running_max[h]) {
      const float correction = std::exp(running_max[h] - tile_max);
      running_sum[h] *= correction;
      const __m512 c = _mm512_set1_ps(correction);
      float* oh = out + h * head_dim;
      for (int d = 0; d < head_dim; d += 16) _mm512_storeu_ps(oh + d, _mm512_mul_ps(_mm512_loadu_ps(oh + d), c));
      running_max[h] = tile_max;
    }
    const __m512 w = _mm512_maskz_mov_ps(valid, Exp(_mm512_sub_ps(s[k], _mm512_set1_ps(running_max[h]))));
    running_sum[h] += _mm512_reduce_add_ps(w);
    _mm512_store_ps(weights[k], w);
  }
  // 64 elements of every head at a time, then the rest of a head size that is not a multiple.
  float* out_heads = out + h0 * head_dim;
  int d0 = 0;
  for (; d0 + 64 <= head_dim; d0 += 64) {
    AddWeightedValues<kHeads, 4, kValue>(weights, values, j0, count, d0, head_dim, out_heads);
  }
  switch ((head_dim - d0) / 16) {
    case 3: return AddWeightedValues<kHeads, 3, kValue>(weights, values, j0, count, d0, head_dim, out_heads);
    case 2: return AddWeightedValues<kHeads, 2, kValue>(weights, values, j0, count, d0, head_dim, out_heads);
    case 1: return AddWeightedValues<kHeads, 1, kValue>(weights, values, j0, count, d0, head_dim, out_heads);
    default: return;
  }
}

template <DType kKey, DType kValue, int kHeadDim>
void Attend(const float* q, int num_heads, const KvView& keys, const KvView& values, int64_t num_keys,
            int runtime_head_dim, float scale, float* out) {
  const int head_dim = kHeadDim > 0 ? kHeadDim : runtime_head_dim;
  float running_max[kMaxHeads], running_sum[kMaxHeads];
  for (int h = 0; h < num_heads; ++h) {
    running_max[h] = -std::numeric_limits<float>::infinity();
    running_sum[h] = 0.0f;
  }
  std::fill(out, out + num_heads * head_dim, 0.0f);
  alignas(64) float key_tile[kTileKeys * kMaxAttendHeadDim];
  const __m512 scale16 = _mm512_set1_ps(scale);
  for (int64_t j0 = 0; j0 < num_keys; j0 += kTileKeys) {
    const int count = static_cast<int>(std::min<int64_t>(kTileKeys, num_keys - j0));
    const __mmask16 valid = static_cast<__mmask16>((1u << count) - 1);
    ConvertTile<kKey>(keys, j0, count, head_dim, key_tile);
    // Heads four at a time, then the rest together (see AttendTile).
    auto attend = [&]<int kHeads>(int h) {
      AttendTile<kHeads, kHeadDim, kValue>(q, h, key_tile, values, j0, count, valid, head_dim, scale16, running_max,
                                           running_sum, out);
    };
    int h = 0;
    for (; h + 4 <= num_heads; h += 4) attend.template operator()<4>(h);
    switch (num_heads - h) {
      case 3: attend.template operator()<3>(h); break;
      case 2: attend.template operator()<2>(h); break;
      case 1: attend.template operator()<1>(h); break;
      default: break;
    }
  }
  for (int h = 0; h < num_heads; ++h) {
    if (running_sum[h] <= 0.0f) continue;
    const __m512 inv = _mm512_set1_ps(1.0f / running_sum[h]);
    float* oh = out + h * head_dim;
    for (int d = 0; d < head_dim; d += 16) _mm512_storeu_ps(oh + d, _mm512_mul_ps(_mm512_loadu_ps(oh + d), inv));
  }
}

}  // namespace

void AttendHeadsAvx512(const float* q, int num_heads, KvView keys, KvView values, int64_t num_keys, int head_dim,
                       float scale, float* out) {
  AttendHeadGroups(q, num_heads, keys, values, head_dim, kMaxHeads, out,
                   [&]<DType kKey, DType kValue>(const float* qh, int n, float* oh) {
                     switch (head_dim) {
                       case 64: return Attend<kKey, kValue, 64>(qh, n, keys, values, num_keys, head_dim, scale, oh);
                       case 128: return Attend<kKey, kValue, 128>(qh, n, keys, values, num_keys, head_dim, scale, oh);
                       default: return Attend<kKey, kValue, 0>(qh, n, keys, values, num_keys, head_dim, scale, oh);
                     }
                   });
}

}  // namespace riglm::cpu
