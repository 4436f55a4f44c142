// Q4_1, Q5_0, Q5_1 and IQ4_NL: 32-element blocks.
#include <algorithm>
#include <cmath>

#include "tensor/quant.h"
#include "tensor/quant_impl.h"

namespace riglm {

namespace quant_impl {
namespace {

void MinMax(const float* x, int n, float* lo, float* hi) {
  *lo = x[0];
  *hi = x[0];
  for (int i = 1; i < n; ++i) {
    *lo = std::min(*lo, x[i]);
    *hi = std::max(*hi, x[i]);
  }
}

uint32_t HighBits(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

void StoreHighBits(uint32_t bits, uint8_t* bytes) {
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(bits >> (8 * i));
}

}  // namespace

void DequantizeQ4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const float d = HalfToFloat(b[i].scale_f16), m = HalfToFloat(b[i].min_f16);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * (b[i].quants[j] & 0x0f) + m;
      dst[j + 16] = d * (b[i].quants[j] >> 4) + m;
    }
  }
}

void QuantizeQ4_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    float lo, hi;
    MinMax(src, 32, &lo, &hi);
    const float d = (hi - lo) / 15.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].scale_f16 = FloatToHalf(d);
    b[i].min_f16 = FloatToHalf(lo);
    for (int j = 0; j < 16; ++j) {
      auto q = [&](float v) { return static_cast<uint8_t>(std::min(15, static_cast<int>((v - lo) * inv + 0.5f))); };
      b[i].quants[j] = q(src[j]) | static_cast<uint8_t>(q(src[j + 16]) << 4);
    }
  }
}

void DequantizeQ5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const float d = HalfToFloat(b[i].scale_f16);
    const uint32_t qh = HighBits(b[i].high_bits);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b[i].quants[j] & 0x0f) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (b[i].quants[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      dst[j] = d * (lo - 16);
      dst[j + 16] = d * (hi - 16);
    }
  }
}

void QuantizeQ5_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    float max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(src[j]) > std::fabs(max)) max = src[j];
    }
    const float d = max / -16.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].scale_f16 = FloatToHalf(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(31, static_cast<int>(src[j] * inv + 16.5f));
      const int hi = std::min(31, static_cast<int>(src[j + 16] * inv + 16.5f));
      b[i].quants[j] = static_cast<uint8_t>((lo & 0x0f) | (hi & 0x0f) << 4);
      qh |= static_cast<uint32_t>(lo >> 4) << j | static_cast<uint32_t>(hi >> 4) << (j + 16);
    }
    StoreHighBits(qh, b[i].high_bits);
  }
}

void DequantizeQ5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const float d = HalfToFloat(b[i].scale_f16), m = HalfToFloat(b[i].min_f16);
    const uint32_t qh = HighBits(b[i].high_bits);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * ((b[i].quants[j] & 0x0f) | static_cast<int>(((qh >> j) & 1) << 4)) + m;
      dst[j + 16] = d * ((b[i].quants[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) + m;
    }
  }
}

void QuantizeQ5_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    float lo, hi;
    MinMax(src, 32, &lo, &hi);
    const float d = (hi - lo) / 31.0f, inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].scale_f16 = FloatToHalf(d);
    b[i].min_f16 = FloatToHalf(lo);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, static_cast<int>((src[j] - lo) * inv + 0.5f));
      const int q1 = std::min(31, static_cast<int>((src[j + 16] - lo) * inv + 0.5f));
      b[i].quants[j] = static_cast<uint8_t>((q0 & 0x0f) | (q1 & 0x0f) << 4);
      qh |= static_cast<uint32_t>(q0 >> 4) << j | static_cast<uint32_t>(q1 >> 4) << (j + 16);
    }
    StoreHighBits(qh, b[i].high_bits);
  }
}

void DequantizeIQ4_NL(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const float d = HalfToFloat(b[i].scale_f16);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * kIq4NlValues[b[i].quants[j] & 0x0f];
      dst[j + 16] = d * kIq4NlValues[b[i].quants[j] >> 4];
    }
  }
}

void QuantizeIQ4_NL(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / 32; ++i, src += 32) {
    float max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(src[j]) > std::fabs(max)) max = src[j];
    }
    const float d = max / kIq4NlValues[0];
    b[i].scale_f16 = FloatToHalf(d);
    const float dh = HalfToFloat(b[i].scale_f16);
    auto nearest = [&](float v) {
      int best = 0;
      for (int k = 1; k < 16; ++k) {
        if (std::fabs(dh * kIq4NlValues[k] - v) < std::fabs(dh * kIq4NlValues[best] - v)) best = k;
      }
      return static_cast<uint8_t>(best);
    };
    for (int j = 0; j < 16; ++j) b[i].quants[j] = nearest(src[j]) | static_cast<uint8_t>(nearest(src[j + 16]) << 4);
  }
}

}  // namespace quant_impl
}  // namespace riglm
