// K-quants (Q2_K .. Q6_K) and Q8_K: 256-element super-blocks. The quantizers are simple
// (max-based scales, no error search): they write valid blocks for tests and synthetic models;
// real models arrive already quantized.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/quant.h"
#include "tensor/quant_impl.h"

namespace riglm {

void UnpackQ3KScales(const uint8_t* packed, int8_t* scales) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = static_cast<int8_t>((low | high << 4) - 32);
  }
}

namespace quant_impl {
namespace {

int Nearest(float v) { return static_cast<int>(std::nearbyint(v)); }

// 256 levels of 0..3 into the Q2_K/Q3_K layout: per 128, byte l holds levels l, l+32, l+64, l+96.
void PackTwoBitLevels(const uint8_t* levels, uint8_t* quants) {
  for (int half = 0; half < 2; ++half) {
    const uint8_t* L = levels + 128 * half;
    for (int l = 0; l < 32; ++l) {
      quants[32 * half + l] = static_cast<uint8_t>(L[l] | L[l + 32] << 2 | L[l + 64] << 4 | L[l + 96] << 6);
    }
  }
}

// The element of largest magnitude, with its sign.
float LargestMagnitude(const float* x, int n) {
  float best = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(best)) best = x[i];
  }
  return best;
}

// Scale and (non-positive) minimum that map x[0..n) onto 0..levels.
void AffineRange(const float* x, int n, int levels, float* scale, float* min) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  lo = std::min(lo, 0.0f);
  *scale = hi > lo ? (hi - lo) / levels : 0.0f;
  *min = -lo;  // stored positive, subtracted when dequantizing
}

// Shared by Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
void QuantizeK4Scales(const float* x, int levels, uint16_t* d_f16, uint16_t* dmin_f16, uint8_t* packed,
                      uint8_t* q) {
  float scales[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    AffineRange(x + 32 * j, 32, levels, &scales[j], &mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const auto ls = static_cast<uint8_t>(std::min(63, Nearest(inv_scale * scales[j])));
    const auto lm = static_cast<uint8_t>(std::min(63, Nearest(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0x0f) | (lm & 0x0f) << 4);
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d_f16 = FloatToHalf(max_scale / 63.0f);
  *dmin_f16 = FloatToHalf(max_min / 63.0f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMinK4(j, packed, &sc, &m);
    const float d = HalfToFloat(*d_f16) * sc;
    const float dm = HalfToFloat(*dmin_f16) * m;
    for (int i = 0; i < 32; ++i) q[32 * j + i] = d != 0.0f ? static_cast<uint8_t>(std::clamp(Nearest((x[32 * j + i] + dm) / d), 0, levels)) : 0;
  }
}

}  // namespace

void DequantizeQ2_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ2_K& b = blocks[i];
    const float d = HalfToFloat(b.scale_f16), dmin = HalfToFloat(b.min_f16);
    const uint8_t* q = b.quants;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++is) {
          const float dl = d * (b.scales[is] & 0x0f), ml = dmin * (b.scales[is] >> 4);
          for (int l = 0; l < 16; ++l) *dst++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void QuantizeQ2_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ2_K*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    BlockQ2_K& b = blocks[i];
    float scales[16], mins[16], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 16; ++j) {
      AffineRange(src + 16 * j, 16, 3, &scales[j], &mins[j]);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    b.scale_f16 = FloatToHalf(max_scale / 15.0f);
    b.min_f16 = FloatToHalf(max_min / 15.0f);
    const float d = HalfToFloat(b.scale_f16), dmin = HalfToFloat(b.min_f16);
    uint8_t levels[kQK];
    for (int j = 0; j < 16; ++j) {
      const int ls = d > 0 ? std::min(15, Nearest(scales[j] / d)) : 0;
      const int lm = dmin > 0 ? std::min(15, Nearest(mins[j] / dmin)) : 0;
      b.scales[j] = static_cast<uint8_t>(ls | lm << 4);
      const float dl = d * ls, ml = dmin * lm;
      for (int l = 0; l < 16; ++l) {
        levels[16 * j + l] = dl > 0 ? static_cast<uint8_t>(std::clamp(Nearest((src[16 * j + l] + ml) / dl), 0, 3)) : 0;
      }
    }
    PackTwoBitLevels(levels, b.quants);
  }
}

void DequantizeQ3_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ3_K& b = blocks[i];
    const float d = HalfToFloat(b.scale_f16);
    int8_t scales[16];
    UnpackQ3KScales(b.scales, scales);
    const uint8_t* q = b.quants;
    uint8_t mask = 1;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part, ++is) {
          const float dl = d * scales[is];
          for (int l = 0; l < 16; ++l) {
            const int low = (q[l + 16 * part] >> shift) & 3;
            const int high = (b.high_mask[l + 16 * part] & mask) ? 0 : 4;
            *dst++ = dl * (low - high);
          }
        }
      }
    }
  }
}

void QuantizeQ3_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    BlockQ3_K& b = blocks[i];
    float scales[16], max_scale = 0.0f;
    for (int j = 0; j < 16; ++j) {
      const float signed_max = LargestMagnitude(src + 16 * j, 16);
      scales[j] = signed_max / -4.0f;
      if (std::fabs(scales[j]) > std::fabs(max_scale)) max_scale = scales[j];
    }
    std::memset(b.scales, 0, sizeof b.scales);
    const float iscale = max_scale != 0.0f ? -32.0f / max_scale : 0.0f;
    for (int j = 0; j < 16; ++j) {
      const int l = std::clamp(Nearest(iscale * scales[j]), -32, 31) + 32;
      if (j < 8) {
        b.scales[j] = static_cast<uint8_t>(l & 0x0f);
      } else {
        b.scales[j - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
      }
      b.scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
    }
    b.scale_f16 = FloatToHalf(iscale != 0.0f ? 1.0f / iscale : 0.0f);
    int8_t unpacked[16];
    UnpackQ3KScales(b.scales, unpacked);
    uint8_t levels[kQK];
    for (int j = 0; j < 16; ++j) {
      const float dl = HalfToFloat(b.scale_f16) * unpacked[j];
      for (int l = 0; l < 16; ++l) {
        levels[16 * j + l] = static_cast<uint8_t>((dl != 0.0f ? std::clamp(Nearest(src[16 * j + l] / dl), -4, 3) : 0) + 4);
      }
    }
    std::memset(b.high_mask, 0, sizeof b.high_mask);
    for (int j = 0; j < kQK; ++j) {
      if (levels[j] > 3) {
        b.high_mask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
        levels[j] -= 4;
      }
    }
    PackTwoBitLevels(levels, b.quants);
  }
}

void DequantizeQ4_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ4_K& b = blocks[i];
    const float d = HalfToFloat(b.scale_f16), dmin = HalfToFloat(b.min_f16);
    for (int chunk = 0; chunk < 4; ++chunk) {
      uint8_t sc, m;
      UnpackScaleMinK4(2 * chunk, b.scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      UnpackScaleMinK4(2 * chunk + 1, b.scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      const uint8_t* q = b.quants + 32 * chunk;
      for (int l = 0; l < 32; ++l) *dst++ = d1 * (q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *dst++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void QuantizeQ4_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    uint8_t levels[kQK];
    QuantizeK4Scales(src, 15, &blocks[i].scale_f16, &blocks[i].min_f16, blocks[i].scales, levels);
    for (int chunk = 0; chunk < 4; ++chunk) {
      for (int l = 0; l < 32; ++l) {
        blocks[i].quants[32 * chunk + l] =
            static_cast<uint8_t>(levels[64 * chunk + l] | levels[64 * chunk + 32 + l] << 4);
      }
    }
  }
}

void DequantizeQ5_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ5_K& b = blocks[i];
    const float d = HalfToFloat(b.scale_f16), dmin = HalfToFloat(b.min_f16);
    for (int chunk = 0; chunk < 4; ++chunk) {
      uint8_t sc, m;
      UnpackScaleMinK4(2 * chunk, b.scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      UnpackScaleMinK4(2 * chunk + 1, b.scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      const uint8_t* q = b.quants + 32 * chunk;
      const uint8_t bit1 = static_cast<uint8_t>(1 << (2 * chunk)), bit2 = static_cast<uint8_t>(2 << (2 * chunk));
      for (int l = 0; l < 32; ++l) *dst++ = d1 * ((q[l] & 0x0f) + ((b.high_bits[l] & bit1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *dst++ = d2 * ((q[l] >> 4) + ((b.high_bits[l] & bit2) ? 16 : 0)) - m2;
    }
  }
}

void QuantizeQ5_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    BlockQ5_K& b = blocks[i];
    uint8_t levels[kQK];
    QuantizeK4Scales(src, 31, &b.scale_f16, &b.min_f16, b.scales, levels);
    std::memset(b.high_bits, 0, sizeof b.high_bits);
    for (int chunk = 0; chunk < 4; ++chunk) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = levels[64 * chunk + l], hi = levels[64 * chunk + 32 + l];
        b.quants[32 * chunk + l] = static_cast<uint8_t>((lo & 0x0f) | (hi & 0x0f) << 4);
        if (lo > 15) b.high_bits[l] |= static_cast<uint8_t>(1 << (2 * chunk));
        if (hi > 15) b.high_bits[l] |= static_cast<uint8_t>(2 << (2 * chunk));
      }
    }
  }
}

void DequantizeQ6_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const BlockQ6_K& b = blocks[i];
    const float d = HalfToFloat(b.scale_f16);
    for (int half = 0; half < 2; ++half, dst += 128) {
      const uint8_t* ql = b.low + 64 * half;
      const uint8_t* qh = b.high + 32 * half;
      const int8_t* sc = b.scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
        const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
        const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        dst[l] = d * sc[is] * q1;
        dst[l + 32] = d * sc[is + 2] * q2;
        dst[l + 64] = d * sc[is + 4] * q3;
        dst[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

void QuantizeQ6_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    BlockQ6_K& b = blocks[i];
    float scales[16], max_scale = 0.0f;
    for (int j = 0; j < 16; ++j) {
      const float signed_max = LargestMagnitude(src + 16 * j, 16);
      scales[j] = signed_max / -32.0f;
      if (std::fabs(scales[j]) > std::fabs(max_scale)) max_scale = scales[j];
    }
    const float iscale = max_scale != 0.0f ? -128.0f / max_scale : 0.0f;
    b.scale_f16 = FloatToHalf(iscale != 0.0f ? 1.0f / iscale : 0.0f);
    uint8_t levels[kQK];
    for (int j = 0; j < 16; ++j) {
      b.scales[j] = static_cast<int8_t>(std::min(127, Nearest(iscale * scales[j])));
      const float dl = HalfToFloat(b.scale_f16) * b.scales[j];
      for (int l = 0; l < 16; ++l) {
        levels[16 * j + l] = static_cast<uint8_t>((dl != 0.0f ? std::clamp(Nearest(src[16 * j + l] / dl), -32, 31) : 0) + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      const uint8_t* L = levels + 128 * half;
      for (int l = 0; l < 32; ++l) {
        b.low[64 * half + l] = static_cast<uint8_t>((L[l] & 0x0f) | (L[l + 64] & 0x0f) << 4);
        b.low[64 * half + l + 32] = static_cast<uint8_t>((L[l + 32] & 0x0f) | (L[l + 96] & 0x0f) << 4);
        b.high[32 * half + l] =
            static_cast<uint8_t>((L[l] >> 4) | (L[l + 32] >> 4) << 2 | (L[l + 64] >> 4) << 4 | (L[l + 96] >> 4) << 6);
      }
    }
  }
}

void DequantizeQ8_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    for (int l = 0; l < kQK; ++l) *dst++ = blocks[i].scale * blocks[i].quants[l];
  }
}

void QuantizeQ8_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    BlockQ8_K& b = blocks[i];
    float amax = 0.0f;
    for (int l = 0; l < kQK; ++l) amax = std::max(amax, std::fabs(src[l]));
    b.scale = amax / 127.0f;
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) {
        const int q = std::clamp(Nearest(src[16 * j + l] * inv), -127, 127);
        b.quants[16 * j + l] = static_cast<int8_t>(q);
        sum += q;
      }
      b.sums[j] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace quant_impl
}  // namespace riglm
