#include "backend/cpu/ops.h"

#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace riglm::cpu {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  // Eight independent sums: one running sum is a chain of dependent adds, 2 us per 2048-wide
  // row, and decoding normalizes two rows per layer.
  double partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) partial[k] += static_cast<double>(x[i + k]) * x[i + k];
  }
  for (; i < n; ++i) partial[0] += static_cast<double>(x[i]) * x[i];
  double sum_sq = 0.0;
  for (double p : partial) sum_sq += p;
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
  for (i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void RopeAngles(int64_t position, const float* inv_freq, int rot_dims, float* cos_sin) {
  const int half = rot_dims / 2;
  for (int i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * inv_freq[i];
    cos_sin[i] = static_cast<float>(std::cos(angle));
    cos_sin[half + i] = static_cast<float>(std::sin(angle));
  }
}

void RopeRotate(float* x, int num_heads, int head_dim, int rot_dims, const float* cos_sin, RopeStyle style) {
  const int half = rot_dims / 2;
  const float* cos = cos_sin;
  const float* sin = cos_sin + half;
  for (int head_idx = 0; head_idx < num_heads; ++head_idx) {
    float* v = x + static_cast<int64_t>(head_idx) * head_dim;
    if (style == RopeStyle::kNeox) {
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cos[i] - b * sin[i];
        v[i + half] = a * sin[i] + b * cos[i];
      }
    } else {
      for (int i = 0; i < half; ++i) {
        const float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cos[i] - b * sin[i];
        v[2 * i + 1] = a * sin[i] + b * cos[i];
      }
    }
  }
}

void Softmax(float* x, int64_t n) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SwiGluScalar(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  if (BestIsa() != Isa::kScalar) return SwiGluAvx2(gate, up, n, out);
  SwiGluScalar(gate, up, n, out);
}

bool KvTypeSupported(DType type, int64_t head_dim) {
  if (type == DType::kF32 || type == DType::kF16) return true;
  return type == DType::kQ8_0 && head_dim % kQ8_0BlockElements == 0;
}

namespace {

float KvElement(const KvView& view, int64_t j, int d) {
  const uint8_t* row = view.row(j);
  switch (view.type) {
    case DType::kF16: return HalfToFloat(reinterpret_cast<const uint16_t*>(row)[d]);
    case DType::kQ8_0: {
      const auto& block = reinterpret_cast<const BlockQ8_0*>(row)[d / kQ8_0BlockElements];
      return HalfToFloat(block.scale_f16) * static_cast<float>(block.quants[d % kQ8_0BlockElements]);
    }
    default: return reinterpret_cast<const float*>(row)[d];
  }
}

}  // namespace

void AttendOneHeadScalar(const float* q, KvView keys, KvView values, int64_t num_keys, int head_dim, float scale,
                         float* out) {
  float running_max = -std::numeric_limits<float>::infinity();
  float running_sum = 0.0f;
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t j = 0; j < num_keys; ++j) {
    float score = 0.0f;
    for (int d = 0; d < head_dim; ++d) score += q[d] * KvElement(keys, j, d);
    score *= scale;
    if (score > running_max) {
      // Rescale what was accumulated under the old maximum.
      const float correction = std::exp(running_max - score);
      running_sum *= correction;
      for (int d = 0; d < head_dim; ++d) out[d] *= correction;
      running_max = score;
    }
    const float weight = std::exp(score - running_max);
    running_sum += weight;
    for (int d = 0; d < head_dim; ++d) out[d] += weight * KvElement(values, j, d);
  }
  if (running_sum > 0.0f) {
    const float inv = 1.0f / running_sum;
    for (int d = 0; d < head_dim; ++d) out[d] *= inv;
  }
}

void AttendHeads(const float* q, int num_heads, KvView keys, KvView values, int64_t num_keys, int head_dim,
                 float scale, float* out) {
  if (head_dim % 16 == 0 && head_dim <= kMaxAttendHeadDim && BestIsa() == Isa::kAvx512Vnni) {
    AttendHeadsAvx512(q, num_heads, keys, values, num_keys, head_dim, scale, out);
    return;
  }
  if (head_dim % 8 == 0 && head_dim <= kMaxAttendHeadDim && BestIsa() != Isa::kScalar) {
    AttendHeadsAvx2(q, num_heads, keys, values, num_keys, head_dim, scale, out);
    return;
  }
  for (int h = 0; h < num_heads; ++h) {
    AttendOneHeadScalar(q + h * head_dim, keys, values, num_keys, head_dim, scale, out + h * head_dim);
  }
}

void AttendTokens(const float* q, int64_t q_stride, int num_tokens, int heads_per_token, KvView keys, KvView values,
                  int64_t first_num_keys, int head_dim, float scale, float* out) {
  // The AVX-512 kernel takes one token at a time (not yet taught the several-token form).
  if (head_dim % 8 == 0 && head_dim <= kMaxAttendHeadDim && BestIsa() == Isa::kAvx2) {
    AttendTokensAvx2(q, q_stride, num_tokens, heads_per_token, keys, values, first_num_keys, head_dim, scale, out);
    return;
  }
  for (int t = 0; t < num_tokens; ++t) {
    AttendHeads(q + t * q_stride, heads_per_token, keys, values, first_num_keys + t, head_dim, scale, out + t * q_stride);
  }
}

}  // namespace riglm::cpu
