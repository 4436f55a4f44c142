#include "tensor/quant.h"

#include "tensor/quant_impl.h"

#include <algorithm>
#include <cmath>

namespace riglm {

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3ff) << 13;
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;  // NaN
  if (abs >= 0x477ff000) return sign | 0x7c00;  // rounds to >= 65520: infinity
  if (abs < 0x38800000) {                       // below the smallest normal half
    // Subnormal halves are multiples of 2^-24; round to nearest even in float arithmetic.
    float scaled = std::fabs(f) * 16777216.0f;  // 2^24
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  uint32_t mantissa = abs & 0x7fffff;
  uint32_t exponent = (abs >> 23) - 127 + 15;
  uint32_t half = exponent << 10 | mantissa >> 13;
  const uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // carries into the exponent correctly
  return sign | static_cast<uint16_t>(half);
}

uint16_t FloatToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

bool CanDequantize(DType type) {
  switch (type) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ8_0: case DType::kQ4_0:
    case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kIQ4_NL: case DType::kQ2_K:
    case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K: case DType::kQ8_K:
      return true;
    default:
      return false;
  }
}

bool CanQuantize(DType type) { return CanDequantize(type); }

void DequantizeRow(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::kF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(h[i]);
      return;
    }
    case DType::kBF16: {
      const auto* b = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16ToFloat(b[i]);
      return;
    }
    case DType::kQ8_0: {
      const auto* blocks = static_cast<const BlockQ8_0*>(src);
      for (int64_t b = 0; b < n / kQ8_0BlockElements; ++b) {
        const float d = HalfToFloat(blocks[b].scale_f16);
        for (int j = 0; j < kQ8_0BlockElements; ++j) dst[b * kQ8_0BlockElements + j] = d * blocks[b].quants[j];
      }
      return;
    }
    case DType::kQ4_0: {
      const auto* blocks = static_cast<const BlockQ4_0*>(src);
      for (int64_t b = 0; b < n / kQ4_0BlockElements; ++b) {
        const float d = HalfToFloat(blocks[b].scale_f16);
        float* out = dst + b * kQ4_0BlockElements;
        for (int j = 0; j < kQ4_0BlockElements / 2; ++j) {
          out[j] = d * ((blocks[b].quants[j] & 0x0f) - 8);
          out[j + 16] = d * ((blocks[b].quants[j] >> 4) - 8);
        }
      }
      return;
    }
    case DType::kQ4_1: return quant_impl::DequantizeQ4_1(src, dst, n);
    case DType::kQ5_0: return quant_impl::DequantizeQ5_0(src, dst, n);
    case DType::kQ5_1: return quant_impl::DequantizeQ5_1(src, dst, n);
    case DType::kIQ4_NL: return quant_impl::DequantizeIQ4_NL(src, dst, n);
    case DType::kQ2_K: return quant_impl::DequantizeQ2_K(src, dst, n);
    case DType::kQ3_K: return quant_impl::DequantizeQ3_K(src, dst, n);
    case DType::kQ4_K: return quant_impl::DequantizeQ4_K(src, dst, n);
    case DType::kQ5_K: return quant_impl::DequantizeQ5_K(src, dst, n);
    case DType::kQ6_K: return quant_impl::DequantizeQ6_K(src, dst, n);
    case DType::kQ8_K: return quant_impl::DequantizeQ8_K(src, dst, n);
    default:
      std::fill(dst, dst + n, 0.0f);  // callers check CanDequantize first
  }
}

void QuantizeRow(DType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::kF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = FloatToHalf(src[i]);
      return;
    }
    case DType::kBF16: {
      auto* b = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) b[i] = FloatToBFloat16(src[i]);
      return;
    }
    case DType::kQ8_0: {
      auto* blocks = static_cast<BlockQ8_0*>(dst);
      for (int64_t b = 0; b < n / kQ8_0BlockElements; ++b) {
        const float* x = src + b * kQ8_0BlockElements;
        float amax = 0.0f;
        for (int j = 0; j < kQ8_0BlockElements; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float inv = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[b].scale_f16 = FloatToHalf(d);
        for (int j = 0; j < kQ8_0BlockElements; ++j) {
          blocks[b].quants[j] = static_cast<int8_t>(std::nearbyint(x[j] * inv));
        }
      }
      return;
    }
    case DType::kQ4_0: {
      auto* blocks = static_cast<BlockQ4_0*>(dst);
      for (int64_t b = 0; b < n / kQ4_0BlockElements; ++b) {
        const float* x = src + b * kQ4_0BlockElements;
        // The element of largest magnitude maps to -8, using the full signed range.
        float max = 0.0f;
        for (int j = 0; j < kQ4_0BlockElements; ++j) {
          if (std::fabs(x[j]) > std::fabs(max)) max = x[j];
        }
        const float d = max / -8.0f;
        const float inv = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[b].scale_f16 = FloatToHalf(d);
        for (int j = 0; j < kQ4_0BlockElements / 2; ++j) {
          auto q = [&](float v) { return static_cast<uint8_t>(std::min(15, static_cast<int>(v * inv + 8.5f))); };
          blocks[b].quants[j] = q(x[j]) | static_cast<uint8_t>(q(x[j + 16]) << 4);
        }
      }
      return;
    }
    case DType::kQ4_1: return quant_impl::QuantizeQ4_1(src, dst, n);
    case DType::kQ5_0: return quant_impl::QuantizeQ5_0(src, dst, n);
    case DType::kQ5_1: return quant_impl::QuantizeQ5_1(src, dst, n);
    case DType::kIQ4_NL: return quant_impl::QuantizeIQ4_NL(src, dst, n);
    case DType::kQ2_K: return quant_impl::QuantizeQ2_K(src, dst, n);
    case DType::kQ3_K: return quant_impl::QuantizeQ3_K(src, dst, n);
    case DType::kQ4_K: return quant_impl::QuantizeQ4_K(src, dst, n);
    case DType::kQ5_K: return quant_impl::QuantizeQ5_K(src, dst, n);
    case DType::kQ6_K: return quant_impl::QuantizeQ6_K(src, dst, n);
    case DType::kQ8_K: return quant_impl::QuantizeQ8_K(src, dst, n);
    default:
      return;
  }
}

}  // namespace riglm
