// How each GGUF weight type's block turns into numbers, written once for the GPU kernels and for
// the host: nvcc compiles these as __host__ __device__, a plain C++ compiler as inline functions,
// so the CPU tests check every decoder the GPU runs against the reference dequantizer
// (tensor/quant.h) on machines without a GPU.
//
// WeightBlock<T>::Visit(block, f) calls f(i, value) for the block's elements i = 0..kElements-1.
// A kernel passes a lambda that accumulates a dot product or stores the value; after inlining
// nothing of the visit remains but the arithmetic.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define RIGLM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define RIGLM_HOST_DEVICE inline
#endif

namespace riglm::cuda {

// Little-endian loads that need no alignment (blocks of 18, 34 or 210 bytes are not aligned).
RIGLM_HOST_DEVICE uint32_t LoadU16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }
RIGLM_HOST_DEVICE uint32_t LoadU32(const uint8_t* p) { return LoadU16(p) | LoadU16(p + 2) << 16; }

RIGLM_HOST_DEVICE float BitsToFloat(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  union {
    uint32_t u;
    float f;
  } v{bits};
  return v.f;
#endif
}

RIGLM_HOST_DEVICE float HalfAt(const uint8_t* p) {
  const uint32_t h = LoadU16(p);
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
#else
  const uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  if (exponent == 0x1f) return BitsToFloat(sign | 0x7f800000u | mantissa << 13);  // inf, NaN
  if (exponent != 0) return BitsToFloat(sign | (exponent + 112) << 23 | mantissa << 13);
  // Subnormal (or zero): mantissa * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
  return sign ? -magnitude : magnitude;
#endif
}

RIGLM_HOST_DEVICE float BFloatAt(const uint8_t* p) { return BitsToFloat(LoadU16(p) << 16); }

// Q4_K and Q5_K: scale j and min j (0..7), six bits each, packed into 12 bytes.
RIGLM_HOST_DEVICE void ScaleMinK4(int j, const uint8_t* packed, int* scale, int* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
    *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Q3_K: scale j (0..15), six bits offset by 32, packed into 12 bytes.
RIGLM_HOST_DEVICE int ScaleQ3K(int j, const uint8_t* packed) {
  const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | high << 4) - 32;
}

// IQ4_NL's 16 levels, as bytes of two constants so that a GPU reads them from registers.
RIGLM_HOST_DEVICE int Iq4NlLevel(int index) {
  constexpr uint64_t kLevels0to7 = 0xf6ea'ddcf'bfad'9881ull;   // -127 -104 -83 -65 -49 -35 -22 -10
  constexpr uint64_t kLevels8to15 = 0x7159'4535'2619'0d01ull;  // 1 13 25 38 53 69 89 113
  const uint64_t half = index < 8 ? kLevels0to7 : kLevels8to15;
  return static_cast<int8_t>(static_cast<uint8_t>(half >> (8 * (index & 7))));
}

template <DType kType>
struct WeightBlock;

template <>
struct WeightBlock<DType::kF32> {
  static constexpr int kElements = 1, kBytes = 4;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) { f(0, BitsToFloat(LoadU32(b))); }
};

template <>
struct WeightBlock<DType::kF16> {
  static constexpr int kElements = 1, kBytes = 2;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) { f(0, HalfAt(b)); }
};

template <>
struct WeightBlock<DType::kBF16> {
  static constexpr int kElements = 1, kBytes = 2;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) { f(0, BFloatAt(b)); }
};

template <>
struct WeightBlock<DType::kQ8_0> {  // half scale, 32 int8
  static constexpr int kElements = 32, kBytes = 34;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    const float d = HalfAt(b);
    for (int i = 0; i < 32; ++i) f(i, d * static_cast<int8_t>(b[2 + i]));
  }
};

// The 32-element formats with 16 bytes of nibbles: low nibbles are elements 0-15, high 16-31.
// `high_bits`: the fifth bit of each element (Q5_0, Q5_1), else null.
template <typename Level>
RIGLM_HOST_DEVICE void VisitNibbles32(const uint8_t* quants, const uint8_t* high_bits, float scale, float offset,
                                      Level&& level, auto&& f) {
  const uint32_t qh = high_bits ? LoadU32(high_bits) : 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (quants[j] & 0x0f) | static_cast<int>(((qh >> j) & 1) << 4);
    const int hi = (quants[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
    f(j, scale * level(lo) + offset);
    f(j + 16, scale * level(hi) + offset);
  }
}

template <>
struct WeightBlock<DType::kQ4_0> {  // half scale, 16 bytes of nibbles, level - 8
  static constexpr int kElements = 32, kBytes = 18;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    VisitNibbles32(b + 2, nullptr, HalfAt(b), 0.0f, [](int q) { return q - 8; }, f);
  }
};

template <>
struct WeightBlock<DType::kQ4_1> {  // half scale, half min, 16 bytes of nibbles
  static constexpr int kElements = 32, kBytes = 20;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    VisitNibbles32(b + 4, nullptr, HalfAt(b), HalfAt(b + 2), [](int q) { return q; }, f);
  }
};

template <>
struct WeightBlock<DType::kQ5_0> {  // half scale, 4 bytes of fifth bits, 16 bytes of nibbles, level - 16
  static constexpr int kElements = 32, kBytes = 22;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    VisitNibbles32(b + 6, b + 2, HalfAt(b), 0.0f, [](int q) { return q - 16; }, f);
  }
};

template <>
struct WeightBlock<DType::kQ5_1> {  // half scale, half min, 4 bytes of fifth bits, 16 bytes of nibbles
  static constexpr int kElements = 32, kBytes = 24;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    VisitNibbles32(b + 8, b + 4, HalfAt(b), HalfAt(b + 2), [](int q) { return q; }, f);
  }
};

template <>
struct WeightBlock<DType::kIQ4_NL> {  // half scale, 16 bytes of indices into the level table
  static constexpr int kElements = 32, kBytes = 18;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    VisitNibbles32(b + 2, nullptr, HalfAt(b), 0.0f, [](int q) { return Iq4NlLevel(q); }, f);
  }
};

template <>
struct WeightBlock<DType::kQ2_K> {  // 16 scale/min nibble pairs, 64 bytes of 2-bit levels, half d, half dmin
  static constexpr int kElements = 256, kBytes = 84;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    const float d = HalfAt(b + 80), dmin = HalfAt(b + 82);
    int i = 0, group = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = b + 16 + 32 * half;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++group) {
          const float dl = d * (b[group] & 0x0f), ml = dmin * (b[group] >> 4);
          for (int l = 0; l < 16; ++l) f(i++, dl * ((q[l + 16 * part] >> shift) & 3) - ml);
        }
      }
    }
  }
};

template <>
struct WeightBlock<DType::kQ3_K> {  // 32 bytes of third bits, 64 bytes of 2-bit levels, 12 of scales, half d
  static constexpr int kElements = 256, kBytes = 110;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    const uint8_t* high_mask = b;
    const float d = HalfAt(b + 108);
    int i = 0, group = 0;
    unsigned mask = 1;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = b + 32 + 32 * half;
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part, ++group) {
          const float dl = d * ScaleQ3K(group, b + 96);
          for (int l = 0; l < 16; ++l) {
            const int low = (q[l + 16 * part] >> shift) & 3;
            const int high = (high_mask[l + 16 * part] & mask) ? 0 : 4;
            f(i++, dl * (low - high));
          }
        }
      }
    }
  }
};

// Q4_K and Q5_K share their scales and nibble order; `high_bits` is Q5_K's fifth bits or null.
template <typename F>
RIGLM_HOST_DEVICE void VisitK4(const uint8_t* b, const uint8_t* high_bits, const uint8_t* quants, F&& f) {
  const float d = HalfAt(b), dmin = HalfAt(b + 2);
  for (int chunk = 0; chunk < 4; ++chunk) {
    int sc, m;
    ScaleMinK4(2 * chunk, b + 4, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(2 * chunk + 1, b + 4, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    const uint8_t* q = quants + 32 * chunk;
    const unsigned bit1 = 1u << (2 * chunk), bit2 = 2u << (2 * chunk);
    for (int l = 0; l < 32; ++l) {
      const int fifth = high_bits && (high_bits[l] & bit1) ? 16 : 0;
      f(64 * chunk + l, d1 * ((q[l] & 0x0f) + fifth) - m1);
    }
    for (int l = 0; l < 32; ++l) {
      const int fifth = high_bits && (high_bits[l] & bit2) ? 16 : 0;
      f(64 * chunk + 32 + l, d2 * ((q[l] >> 4) + fifth) - m2);
    }
  }
}

template <>
struct WeightBlock<DType::kQ4_K> {  // half d, half dmin, 12 bytes of scales/mins, 128 bytes of nibbles
  static constexpr int kElements = 256, kBytes = 144;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) { VisitK4(b, nullptr, b + 16, f); }
};

template <>
struct WeightBlock<DType::kQ5_K> {  // as Q4_K, with 32 bytes of fifth bits before the nibbles
  static constexpr int kElements = 256, kBytes = 176;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) { VisitK4(b, b + 16, b + 48, f); }
};

template <>
struct WeightBlock<DType::kQ6_K> {  // 128 bytes low nibbles, 64 bytes high pairs, 16 int8 scales, half d
  static constexpr int kElements = 256, kBytes = 210;
  template <typename F>
  RIGLM_HOST_DEVICE static void Visit(const uint8_t* b, F&& f) {
    const float d = HalfAt(b + 208);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = b + 64 * half;
      const uint8_t* qh = b + 128 + 32 * half;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int base = 128 * half + l;
        f(base, d * sc[is] * (((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32));
        f(base + 32, d * sc[is + 2] * (((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32));
        f(base + 64, d * sc[is + 4] * (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32));
        f(base + 96, d * sc[is + 6] * (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32));
      }
    }
  }
};

// visitor.template operator()<T>() for a type with a WeightBlock; `otherwise` for any other type.
template <typename Visitor, typename R>
R WithWeightBlock(DType type, Visitor&& visitor, R otherwise) {
  switch (type) {
    case DType::kF32: return visitor.template operator()<DType::kF32>();
    case DType::kF16: return visitor.template operator()<DType::kF16>();
    case DType::kBF16: return visitor.template operator()<DType::kBF16>();
    case DType::kQ8_0: return visitor.template operator()<DType::kQ8_0>();
    case DType::kQ4_0: return visitor.template operator()<DType::kQ4_0>();
    case DType::kQ4_1: return visitor.template operator()<DType::kQ4_1>();
    case DType::kQ5_0: return visitor.template operator()<DType::kQ5_0>();
    case DType::kQ5_1: return visitor.template operator()<DType::kQ5_1>();
    case DType::kIQ4_NL: return visitor.template operator()<DType::kIQ4_NL>();
    case DType::kQ2_K: return visitor.template operator()<DType::kQ2_K>();
    case DType::kQ3_K: return visitor.template operator()<DType::kQ3_K>();
    case DType::kQ4_K: return visitor.template operator()<DType::kQ4_K>();
    case DType::kQ5_K: return visitor.template operator()<DType::kQ5_K>();
    case DType::kQ6_K: return visitor.template operator()<DType::kQ6_K>();
    default: return otherwise;
  }
}

}  // namespace riglm::cuda
