// Portable integer dot products for Q4_1, Q5_0, Q5_1, IQ4_NL (with Q8_0 activations) and the
// K-quants (with Q8_K activations). Exact integer sums per sub-block, scaled in float.
#include <cstring>

#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

uint32_t HighBits(const uint8_t* b) {
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}

int SumQ8(const BlockQ8_0& a) {
  int s = 0;
  for (int j = 0; j < 32; ++j) s += a.quants[j];
  return s;
}

float DotQ4_1(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_1*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int dot = 0;
    for (int j = 0; j < 16; ++j) dot += (a[i].quants[j] & 0x0f) * b[i].quants[j] + (a[i].quants[j] >> 4) * b[i].quants[j + 16];
    const float db = HalfToFloat(b[i].scale_f16);
    sum += HalfToFloat(a[i].scale_f16) * db * dot + HalfToFloat(a[i].min_f16) * db * SumQ8(b[i]);
  }
  return sum;
}

float DotQ5_0(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    const uint32_t qh = HighBits(a[i].high_bits);
    int dot = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = ((a[i].quants[j] & 0x0f) | static_cast<int>(((qh >> j) & 1) << 4)) - 16;
      const int hi = ((a[i].quants[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) - 16;
      dot += lo * b[i].quants[j] + hi * b[i].quants[j + 16];
    }
    sum += HalfToFloat(a[i].scale_f16) * HalfToFloat(b[i].scale_f16) * dot;
  }
  return sum;
}

float DotQ5_1(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_1*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    const uint32_t qh = HighBits(a[i].high_bits);
    int dot = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = (a[i].quants[j] & 0x0f) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (a[i].quants[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      dot += lo * b[i].quants[j] + hi * b[i].quants[j + 16];
    }
    const float db = HalfToFloat(b[i].scale_f16);
    sum += HalfToFloat(a[i].scale_f16) * db * dot + HalfToFloat(a[i].min_f16) * db * SumQ8(b[i]);
  }
  return sum;
}

float DotIQ4_NL(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockIQ4_NL*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / 32; ++i) {
    int dot = 0;
    for (int j = 0; j < 16; ++j) {
      dot += kIq4NlValues[a[i].quants[j] & 0x0f] * b[i].quants[j] + kIq4NlValues[a[i].quants[j] >> 4] * b[i].quants[j + 16];
    }
    sum += HalfToFloat(a[i].scale_f16) * HalfToFloat(b[i].scale_f16) * dot;
  }
  return sum;
}

float DotQ2_K(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ2_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int scaled = 0, mins = 0, is = 0;
    const int8_t* q8 = b[i].quants;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q2 = a[i].quants + 32 * half;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++is, q8 += 16) {
          int dot = 0;
          for (int l = 0; l < 16; ++l) dot += ((q2[l + 16 * part] >> shift) & 3) * q8[l];
          scaled += (a[i].scales[is] & 0x0f) * dot;
          mins += (a[i].scales[is] >> 4) * b[i].sums[is];
        }
      }
    }
    sum += b[i].scale * (HalfToFloat(a[i].scale_f16) * scaled - HalfToFloat(a[i].min_f16) * mins);
  }
  return sum;
}

float DotQ3_K(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ3_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8_t scales[16];
    UnpackQ3KScales(a[i].scales, scales);
    int total = 0, is = 0;
    const int8_t* q8 = b[i].quants;
    uint8_t mask = 1;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q3 = a[i].quants + 32 * half;
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part, ++is, q8 += 16) {
          int dot = 0;
          for (int l = 0; l < 16; ++l) {
            const int v = ((q3[l + 16 * part] >> shift) & 3) - ((a[i].high_mask[l + 16 * part] & mask) ? 0 : 4);
            dot += v * q8[l];
          }
          total += scales[is] * dot;
        }
      }
    }
    sum += b[i].scale * HalfToFloat(a[i].scale_f16) * total;
  }
  return sum;
}

// Q4_K and Q5_K share the layout of scales and mins; `high` is null for Q4_K.
float DotK4Family(int64_t n, const uint8_t* blocks, size_t block_bytes, const BlockQ8_K* b, bool five_bit) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* base = blocks + i * block_bytes;
    uint16_t d_f16, dmin_f16;
    std::memcpy(&d_f16, base, 2);
    std::memcpy(&dmin_f16, base + 2, 2);
    const uint8_t* packed = base + 4;
    const uint8_t* high = five_bit ? base + 16 : nullptr;
    const uint8_t* q = five_bit ? base + 48 : base + 16;
    int scaled = 0, mins = 0;
    for (int chunk = 0; chunk < 4; ++chunk) {
      for (int part = 0; part < 2; ++part) {
        const int sub = 2 * chunk + part;
        uint8_t sc, m;
        UnpackScaleMinK4(sub, packed, &sc, &m);
        const int8_t* q8 = b[i].quants + 32 * sub;
        int dot = 0;
        for (int l = 0; l < 32; ++l) {
          int v = part == 0 ? (q[32 * chunk + l] & 0x0f) : (q[32 * chunk + l] >> 4);
          if (high && (high[l] >> sub) & 1) v += 16;
          dot += v * q8[l];
        }
        scaled += sc * dot;
        mins += m * (b[i].sums[2 * sub] + b[i].sums[2 * sub + 1]);
      }
    }
    sum += b[i].scale * (HalfToFloat(d_f16) * scaled - HalfToFloat(dmin_f16) * mins);
  }
  return sum;
}

float DotQ4_K(int64_t n, const void* w, const void* x) {
  return DotK4Family(n, static_cast<const uint8_t*>(w), sizeof(BlockQ4_K), static_cast<const BlockQ8_K*>(x), false);
}
float DotQ5_K(int64_t n, const void* w, const void* x) {
  return DotK4Family(n, static_cast<const uint8_t*>(w), sizeof(BlockQ5_K), static_cast<const BlockQ8_K*>(x), true);
}

float DotQ6_K(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ6_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int total = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = a[i].low + 64 * half;
      const uint8_t* qh = a[i].high + 32 * half;
      const int8_t* sc = a[i].scales + 8 * half;
      const int8_t* q8 = b[i].quants + 128 * half;
      int dots[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        dots[is] += (((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32) * q8[l];
        dots[is + 2] += (((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32) * q8[l + 32];
        dots[is + 4] += (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32) * q8[l + 64];
        dots[is + 6] += (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32) * q8[l + 96];
      }
      for (int k = 0; k < 8; ++k) total += sc[k] * dots[k];
    }
    sum += b[i].scale * HalfToFloat(a[i].scale_f16) * total;
  }
  return sum;
}

}  // namespace

VecDotFn ScalarVecDotMore(DType weight_type) {
  switch (weight_type) {
    case DType::kQ4_1: return DotQ4_1;
    case DType::kQ5_0: return DotQ5_0;
    case DType::kQ5_1: return DotQ5_1;
    case DType::kIQ4_NL: return DotIQ4_NL;
    case DType::kQ2_K: return DotQ2_K;
    case DType::kQ3_K: return DotQ3_K;
    case DType::kQ4_K: return DotQ4_K;
    case DType::kQ5_K: return DotQ5_K;
    case DType::kQ6_K: return DotQ6_K;
    default: return nullptr;
  }
}

}  // namespace riglm::cpu
