// Each CPU op against a naive float64 reference.
#include "backend/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace riglm::cpu {
namespace {

using testing::RandomFloats;

// Relative tolerance for float32 ops computed against float64: a few ulps times log(n).
constexpr double kTolerance = 2e-5;

double MaxRelativeError(const std::vector<float>& got, const std::vector<double>& want) {
  double max_abs_want = 1e-30, max_err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs_want = std::max(max_abs_want, std::fabs(want[i]));
    max_err = std::max(max_err, std::fabs(got[i] - want[i]));
  }
  return max_err / max_abs_want;
}

TEST(OpsTest, RmsNormMatchesReference) {
  for (int64_t n : {1, 7, 64, 4096}) {
    const std::vector<float> x = RandomFloats(n, 1, 3.0f), w = RandomFloats(n, 2, 1.0f);
    std::vector<float> out(n);
    RmsNorm(x.data(), w.data(), n, 1e-5f, out.data());
    double ms = 0.0;
    for (float v : x) ms += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ms / n + 1e-5);
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = x[i] * scale * w[i];
    EXPECT_LT(MaxRelativeError(out, want), kTolerance) << n;
  }
}

std::vector<double> ReferenceRope(const std::vector<float>& x, int heads, int head_dim, int rot_dims, int64_t pos,
                                  const std::vector<float>& inv_freq, RopeStyle style) {
  std::vector<double> y(x.begin(), x.end());
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < rot_dims / 2; ++i) {
      const int a = h * head_dim + (style == RopeStyle::kNeox ? i : 2 * i);
      const int b = h * head_dim + (style == RopeStyle::kNeox ? i + rot_dims / 2 : 2 * i + 1);
      const double theta = static_cast<double>(pos) * inv_freq[i];
      y[a] = x[a] * std::cos(theta) - x[b] * std::sin(theta);
      y[b] = x[a] * std::sin(theta) + x[b] * std::cos(theta);
    }
  }
  return y;
}

TEST(OpsTest, RopeBothStylesMatchReference) {
  const int heads = 3, head_dim = 16;
  for (RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kNeox}) {
    for (int rot_dims : {16, 8}) {
      std::vector<float> inv_freq(rot_dims / 2);
      for (int i = 0; i < rot_dims / 2; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / rot_dims));
      for (int64_t pos : {0, 1, 17, 4095, 100000}) {
        std::vector<float> x = RandomFloats(heads * head_dim, pos + 3);
        const std::vector<double> want = ReferenceRope(x, heads, head_dim, rot_dims, pos, inv_freq, style);
        testing::RopeOneToken(x.data(), heads, head_dim, rot_dims, pos, inv_freq.data(), style);
        EXPECT_LT(MaxRelativeError(x, want), kTolerance) << static_cast<int>(style) << " " << rot_dims << " " << pos;
      }
    }
  }
}

TEST(OpsTest, RopeStylesDiffer) {
  // A guard against the two styles silently doing the same thing.
  std::vector<float> inv_freq = {1.0f, 0.1f};
  std::vector<float> a = RandomFloats(4, 9), b = a;
  testing::RopeOneToken(a.data(), 1, 4, 4, 5, inv_freq.data(), RopeStyle::kInterleaved);
  testing::RopeOneToken(b.data(), 1, 4, 4, 5, inv_freq.data(), RopeStyle::kNeox);
  EXPECT_NE(a, b);
}

TEST(OpsTest, SoftmaxMatchesReference) {
  for (int64_t n : {1, 5, 1000}) {
    std::vector<float> x = RandomFloats(n, n, 30.0f);
    double max = -1e300, sum = 0.0;
    for (float v : x) max = std::max<double>(max, v);
    for (float v : x) sum += std::exp(v - max);
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = std::exp(x[i] - max) / sum;
    Softmax(x.data(), n);
    EXPECT_LT(MaxRelativeError(x, want), kTolerance);
  }
}

// Portable and AVX2 versions, including gates far into both tails of the sigmoid.
TEST(OpsTest, SwiGluMatchesReference) {
  const int64_t n = 1003;
  std::vector<float> gate = RandomFloats(n, 4, 8.0f);
  const std::vector<float> up = RandomFloats(n, 5, 2.0f);
  gate[0] = 100.0f;
  gate[1] = -100.0f;
  gate[2] = 88.5f;
  gate[3] = -30.0f;
  std::vector<double> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = gate[i] / (1.0 + std::exp(-static_cast<double>(gate[i]))) * up[i];
  for (bool vector : {false, true}) {
    if (vector && !IsaAvailable(Isa::kAvx2)) {
      testing::SayVariantNotRun("swiglu avx2");
      continue;
    }
    std::vector<float> out(n);
    (vector ? SwiGluAvx2 : SwiGluScalar)(gate.data(), up.data(), n, out.data());
    EXPECT_LT(MaxRelativeError(out, want), kTolerance) << (vector ? "avx2" : "scalar");
  }
}

// Grouped-query attention over a long cache: 8 query heads share 2 KV heads, 20 share one (more
// than the vector kernels take at once), and groups of 3, 5 and 2 (the AVX-512 kernel takes
// heads four at a time, then the 1-3 left together); F32, F16 and Q8_0 caches, every ISA's kernel.
TEST(OpsTest, AttentionWithGqaAndLongCacheMatchesReference) {
  // 64 and 128 have their own AVX-512 code; 96 and 80 take the general one (80 is not a whole
  // number of the 64-element blocks the AVX-512 kernel adds values in, 96 ends on a block of 32).
  for (int head_dim : {64, 80, 96, 128})
  for (const auto& [q_heads, kv_heads] :
       {std::pair{8, 2}, std::pair{20, 1}, std::pair{6, 2}, std::pair{10, 2}, std::pair{4, 2}})
  for (DType kv_type : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    if (!KvTypeSupported(kv_type, head_dim)) continue;  // Q8_0 heads are whole 32-element blocks
    const int group = q_heads / kv_heads;
    const int64_t kv_width = kv_heads * head_dim;
    for (int64_t num_keys : {1, 3, 17, 4096}) {
      const std::vector<float> q = RandomFloats(q_heads * head_dim, 11, 1.0f);
      std::vector<float> keys = RandomFloats(num_keys * kv_width, 12, 1.0f);
      std::vector<float> values = RandomFloats(num_keys * kv_width, 13, 1.0f);
      std::vector<uint8_t> key_bytes(RowBytes(kv_type, keys.size())), value_bytes(RowBytes(kv_type, values.size()));
      QuantizeRow(kv_type, keys.data(), key_bytes.data(), static_cast<int64_t>(keys.size()));
      QuantizeRow(kv_type, values.data(), value_bytes.data(), static_cast<int64_t>(values.size()));
      // The reference sees exactly the stored (possibly rounded) values.
      DequantizeRow(kv_type, key_bytes.data(), keys.data(), static_cast<int64_t>(keys.size()));
      DequantizeRow(kv_type, value_bytes.data(), values.data(), static_cast<int64_t>(values.size()));
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      std::vector<double> want(q_heads * head_dim, 0.0);
      for (int h = 0; h < q_heads; ++h) {
        const int kvh = h / group;
        std::vector<double> scores(num_keys);
        double max = -1e300, sum = 0.0;
        for (int64_t j = 0; j < num_keys; ++j) {
          double s = 0.0;
          for (int d = 0; d < head_dim; ++d) s += static_cast<double>(q[h * head_dim + d]) * keys[j * kv_width + kvh * head_dim + d];
          scores[j] = s / std::sqrt(static_cast<double>(head_dim));
          max = std::max(max, scores[j]);
        }
        for (double& s : scores) sum += (s = std::exp(s - max));
        for (int64_t j = 0; j < num_keys; ++j) {
          for (int d = 0; d < head_dim; ++d) want[h * head_dim + d] += scores[j] / sum * values[j * kv_width + kvh * head_dim + d];
        }
      }
      const uint64_t row_bytes = RowBytes(kv_type, kv_width);
      for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512Vnni}) {
        if (!IsaAvailable(isa)) {
          testing::SayVariantNotRun("attention " + std::string(IsaName(isa)));
          continue;
        }
        std::vector<float> out(q_heads * head_dim);
        for (int kvh = 0; kvh < q_heads / group; ++kvh) {
          const uint64_t head_offset = RowBytes(kv_type, kvh * head_dim);
          const KvView k{key_bytes.data() + head_offset, kv_type, row_bytes};
          const KvView v{value_bytes.data() + head_offset, kv_type, row_bytes};
          const int64_t first = kvh * group * head_dim;
          if (isa == Isa::kAvx512Vnni) {
            AttendHeadsAvx512(q.data() + first, group, k, v, num_keys, head_dim, scale, out.data() + first);
          } else if (isa == Isa::kAvx2) {
            AttendHeadsAvx2(q.data() + first, group, k, v, num_keys, head_dim, scale, out.data() + first);
          } else {
            for (int h = 0; h < group; ++h) {
              AttendOneHeadScalar(q.data() + first + h * head_dim, k, v, num_keys, head_dim, scale,
                                  out.data() + first + h * head_dim);
            }
          }
        }
        EXPECT_LT(MaxRelativeError(out, want), 1e-4) << DTypeName(kv_type) << " keys " << num_keys << " head_dim " << head_dim << " " << IsaName(isa);
      }
    }
  }
}

// A prompt's run of tokens in one call: token t sees first + t keys, so later tokens' heads take
// tiles the earlier ones stop short of, partial tiles included. Runs longer than the kernel takes
// at once (7 tokens of 4 heads) and tokens with more heads than that (20). Against the scalar
// kernel, one token and head at a time (itself checked against float64 above).
TEST(OpsTest, AttendTokensMatchesOneTokenAtATime) {
  const int head_dim = 64;
  for (int heads_per_token : {4, 1, 20})
  for (int num_tokens : {1, 3, 7})
  for (int64_t first : {1, 5, 8, 30})
  for (DType kv_type : {DType::kF32, DType::kF16, DType::kQ8_0}) {
    const int64_t num_keys = first + num_tokens - 1;
    const int64_t q_stride = heads_per_token * head_dim + 16;  // rows of the batch, with room past the heads
    const std::vector<float> q = RandomFloats(num_tokens * q_stride, 31, 1.0f);
    const std::vector<float> keys = RandomFloats(num_keys * head_dim, 32, 1.0f);
    const std::vector<float> values = RandomFloats(num_keys * head_dim, 33, 1.0f);
    std::vector<uint8_t> key_bytes(RowBytes(kv_type, keys.size())), value_bytes(RowBytes(kv_type, values.size()));
    QuantizeRow(kv_type, keys.data(), key_bytes.data(), static_cast<int64_t>(keys.size()));
    QuantizeRow(kv_type, values.data(), value_bytes.data(), static_cast<int64_t>(values.size()));
    const uint64_t row_bytes = RowBytes(kv_type, head_dim);
    const KvView k{key_bytes.data(), kv_type, row_bytes}, v{value_bytes.data(), kv_type, row_bytes};
    const float scale = 0.125f;
    std::vector<double> want(q.size(), 0.0);
    std::vector<float> one(head_dim);
    for (int t = 0; t < num_tokens; ++t) {
      for (int h = 0; h < heads_per_token; ++h) {
        const int64_t at = t * q_stride + h * head_dim;
        AttendOneHeadScalar(q.data() + at, k, v, first + t, head_dim, scale, one.data());
        for (int d = 0; d < head_dim; ++d) want[at + d] = one[d];
      }
    }
    const std::string what = std::string(DTypeName(kv_type)) + ", " + std::to_string(num_tokens) + " tokens of " +
                             std::to_string(heads_per_token) + " heads from " + std::to_string(first) + " keys";
    std::vector<float> out(q.size(), 0.0f);
    AttendTokens(q.data(), q_stride, num_tokens, heads_per_token, k, v, first, head_dim, scale, out.data());
    EXPECT_LT(MaxRelativeError(out, want), 1e-5) << what << ", dispatched";
    if (!IsaAvailable(Isa::kAvx2)) {
      testing::SayVariantNotRun("attention of several tokens, avx2");
      continue;
    }
    std::fill(out.begin(), out.end(), 0.0f);
    AttendTokensAvx2(q.data(), q_stride, num_tokens, heads_per_token, k, v, first, head_dim, scale, out.data());
    EXPECT_LT(MaxRelativeError(out, want), 1e-5) << what << ", avx2";
  }
}

}  // namespace
}  // namespace riglm::cpu
