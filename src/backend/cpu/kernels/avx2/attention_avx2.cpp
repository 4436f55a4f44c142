// Attention of query heads over an F32, F16 or Q8_0 KV cache with AVX2, FMA and F16C: a single
// pass with an online softmax, the output accumulated in place.
#include <immintrin.h>

#include "backend/cpu/kernels/avx2/avx2_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/kernels/attention_dispatch.h"
#include "backend/cpu/ops.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

// Elements d..d+7 of a cached row.
template <DType kType>
inline __m256 Load8(const uint8_t* row, int d) {
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

// Keys are taken 8 at a time and converted to float once for all the query heads that share
// them (grouped-query attention); for each head: the 8 scores, one rescale of its output if its
// maximum grew, then the 8 softmax weights in one vector exp.
constexpr int kTileKeys = 8;
constexpr int kMaxHeads = kAttendHeadsAtOnce;

template <DType kType>
void ConvertTile(const KvView& view, int64_t j0, int count, int head_dim, float* tile) {
  for (int i = 0; i < count; ++i) {
    const uint8_t* row = view.row(j0 + i);
    for (int d = 0; d < head_dim; d += 8) _mm256_store_ps(tile + i * head_dim + d, Load8<kType>(row, d));
  }
  std::fill(tile + count * head_dim, tile + kTileKeys * head_dim, 0.0f);  // the last tile's unused rows
}

// Query heads that share one KV head, each with its own output and its own number of visible
// keys: the heads of one token see the same keys; those of a prompt's later tokens see more.
struct HeadSet {
  const float* q[kMaxHeads];
  float* out[kMaxHeads];
  int64_t num_keys[kMaxHeads];
  int count = 0;

  void Add(const float* head_q, float* head_out, int64_t keys) {
    q[count] = head_q;
    out[count] = head_out;
    num_keys[count] = keys;
    ++count;
  }
};

template <DType kKey, DType kValue>
void Attend(const HeadSet& heads, const KvView& keys, const KvView& values, int head_dim, float scale) {
  float running_max[kMaxHeads], running_sum[kMaxHeads];
  int64_t num_keys = 0;
  for (int h = 0; h < heads.count; ++h) {
    running_max[h] = -std::numeric_limits<float>::infinity();
    running_sum[h] = 0.0f;
    std::fill(heads.out[h], heads.out[h] + head_dim, 0.0f);
    num_keys = std::max(num_keys, heads.num_keys[h]);
  }
  alignas(32) float key_tile[kTileKeys * kMaxAttendHeadDim], value_tile[kTileKeys * kMaxAttendHeadDim];
  alignas(32) float scores[kTileKeys], weights[kTileKeys];
  for (int64_t j0 = 0; j0 < num_keys; j0 += kTileKeys) {
    const int tile_count = static_cast<int>(std::min<int64_t>(kTileKeys, num_keys - j0));
    ConvertTile<kKey>(keys, j0, tile_count, head_dim, key_tile);
    ConvertTile<kValue>(values, j0, tile_count, head_dim, value_tile);
    for (int h = 0; h < heads.count; ++h) {
      if (heads.num_keys[h] <= j0) continue;  // a token earlier in the prompt: the tile is past its causal end
      const int count = static_cast<int>(std::min<int64_t>(tile_count, heads.num_keys[h] - j0));
      const float* qh = heads.q[h];
      float* oh = heads.out[h];
      // The 8 dot products side by side, then reduced together: lane i of `s` is key i's score.
      __m256 dots[kTileKeys];
      for (int i = 0; i < kTileKeys; ++i) dots[i] = _mm256_setzero_ps();
      for (int d = 0; d < head_dim; d += 8) {
        const __m256 qd = _mm256_loadu_ps(qh + d);
        for (int i = 0; i < kTileKeys; ++i) {
          dots[i] = _mm256_fmadd_ps(qd, _mm256_load_ps(key_tile + i * head_dim + d), dots[i]);
        }
      }
      _mm256_store_ps(scores, _mm256_mul_ps(LaneSums(dots), _mm256_set1_ps(scale)));
      for (int i = count; i < kTileKeys; ++i) scores[i] = -std::numeric_limits<float>::infinity();
      const __m256 s = _mm256_load_ps(scores);
      const float tile_max = HorizontalMax(s);
      if (tile_max > running_max[h]) {
        const float correction = std::exp(running_max[h] - tile_max);
        running_sum[h] *= correction;
        const __m256 c = _mm256_set1_ps(correction);
        for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(oh + d, _mm256_mul_ps(_mm256_loadu_ps(oh + d), c));
        running_max[h] = tile_max;
      }
      const __m256 w = Exp(_mm256_sub_ps(s, _mm256_set1_ps(running_max[h])));
      _mm256_store_ps(weights, w);
      for (int i = 0; i < count; ++i) running_sum[h] += weights[i];
      // The tile's weighted values summed in registers, then added to the output once.
      for (int d = 0; d < head_dim; d += 8) {
        __m256 acc = _mm256_loadu_ps(oh + d);
        for (int i = 0; i < count; ++i) {
          acc = _mm256_fmadd_ps(_mm256_set1_ps(weights[i]), _mm256_load_ps(value_tile + i * head_dim + d), acc);
        }
        _mm256_storeu_ps(oh + d, acc);
      }
    }
  }
  for (int h = 0; h < heads.count; ++h) {
    if (running_sum[h] <= 0.0f) continue;
    const __m256 inv = _mm256_set1_ps(1.0f / running_sum[h]);
    float* oh = heads.out[h];
    for (int d = 0; d < head_dim; d += 8) _mm256_storeu_ps(oh + d, _mm256_mul_ps(_mm256_loadu_ps(oh + d), inv));
  }
}

void AttendSet(const HeadSet& heads, const KvView& keys, const KvView& values, int head_dim, float scale) {
  WithKvTypes(keys.type, values.type, [&]<DType kKey, DType kValue>() {
    Attend<kKey, kValue>(heads, keys, values, head_dim, scale);
  });
}

}  // namespace

void AttendHeadsAvx2(const float* q, int num_heads, KvView keys, KvView values, int64_t num_keys, int head_dim,
                     float scale, float* out) {
  AttendTokensAvx2(q, /*q_stride=*/0, /*num_tokens=*/1, num_heads, keys, values, num_keys, head_dim, scale, out);
}

void AttendTokensAvx2(const float* q, int64_t q_stride, int num_tokens, int heads_per_token, KvView keys,
                      KvView values, int64_t first_num_keys, int head_dim, float scale, float* out) {
  // Heads go to the kernel kMaxHeads at a time, whichever tokens they belong to (each carries its
  // own causal end): every tile of the cache is converted once for all of them.
  HeadSet heads;
  for (int t = 0; t < num_tokens; ++t) {
    for (int h = 0; h < heads_per_token; ++h) {
      heads.Add(q + t * q_stride + h * head_dim, out + t * q_stride + h * head_dim, first_num_keys + t);
      if (heads.count == kMaxHeads) {
        AttendSet(heads, keys, values, head_dim, scale);
        heads.count = 0;
      }
    }
  }
  if (heads.count > 0) AttendSet(heads, keys, values, head_dim, scale);
}

}  // namespace riglm::cpu
