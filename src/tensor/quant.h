// Scalar reference (de)quantization of the GGUF block formats and half-precision conversions.
// These are the definitions the optimized kernels are tested against; they favour clarity.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

namespace riglm {

float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);  // round to nearest even; overflow gives infinity

inline float BFloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
uint16_t FloatToBFloat16(float f);  // round to nearest even; NaN stays NaN

constexpr int kQ8_0BlockElements = 32;
struct BlockQ8_0 {
  uint16_t scale_f16;
  int8_t quants[kQ8_0BlockElements];
};
static_assert(sizeof(BlockQ8_0) == 34);

constexpr int kQ4_0BlockElements = 32;
// Element j (j < 16) is the low nibble of quants[j], element j + 16 the high nibble; value
// (nibble - 8) * scale.
struct BlockQ4_0 {
  uint16_t scale_f16;
  uint8_t quants[kQ4_0BlockElements / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Legacy 32-element blocks with a minimum or a fifth bit. Element j < 16 is in the low nibble of
// quants[j], element j + 16 in the high nibble; Q5 types keep bit 4 of element j in bit j of
// high_bits.
struct BlockQ4_1 {
  uint16_t scale_f16;
  uint16_t min_f16;
  uint8_t quants[16];
};
static_assert(sizeof(BlockQ4_1) == 20);
struct BlockQ5_0 {
  uint16_t scale_f16;
  uint8_t high_bits[4];
  uint8_t quants[16];
};
static_assert(sizeof(BlockQ5_0) == 22);
struct BlockQ5_1 {
  uint16_t scale_f16;
  uint16_t min_f16;
  uint8_t high_bits[4];
  uint8_t quants[16];
};
static_assert(sizeof(BlockQ5_1) == 24);
// IQ4_NL: 4-bit indices into a fixed non-linear table (kIq4NlValues), one scale per 32.
struct BlockIQ4_NL {
  uint16_t scale_f16;
  uint8_t quants[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);
alignas(16) inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                      1,    13,   25,  38,  53,  69,  89,  113};

// K-quants: super-blocks of 256 elements with per-sub-block scales (GGUF layouts).
constexpr int kQK = 256;
struct BlockQ2_K {
  uint8_t scales[16];  // per 16 elements: low nibble scale, high nibble min
  uint8_t quants[64];  // 2 bits each
  uint16_t scale_f16;
  uint16_t min_f16;
};
static_assert(sizeof(BlockQ2_K) == 84);
struct BlockQ3_K {
  uint8_t high_mask[32];  // bit 2 of each quant
  uint8_t quants[64];     // low 2 bits
  uint8_t scales[12];     // 16 six-bit scales, offset by 32
  uint16_t scale_f16;
};
static_assert(sizeof(BlockQ3_K) == 110);
struct BlockQ4_K {
  uint16_t scale_f16;
  uint16_t min_f16;
  uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, packed
  uint8_t quants[128];
};
static_assert(sizeof(BlockQ4_K) == 144);
struct BlockQ5_K {
  uint16_t scale_f16;
  uint16_t min_f16;
  uint8_t scales[12];
  uint8_t high_bits[32];
  uint8_t quants[128];
};
static_assert(sizeof(BlockQ5_K) == 176);
struct BlockQ6_K {
  uint8_t low[128];     // low 4 bits
  uint8_t high[64];     // high 2 bits
  int8_t scales[16];    // per 16 elements
  uint16_t scale_f16;
};
static_assert(sizeof(BlockQ6_K) == 210);
// Activations for K-quant dot products: one float scale, int8 quants, and sums of each 16.
struct BlockQ8_K {
  float scale;
  int8_t quants[kQK];
  int16_t sums[16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block.
inline void UnpackScaleMinK4(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}
// The 16 signed scales of a Q3_K super-block.
void UnpackQ3KScales(const uint8_t* packed, int8_t* scales);

// True when DequantizeRow/QuantizeRow know the type.
bool CanDequantize(DType type);
bool CanQuantize(DType type);

// Converts `num_elements` values (a multiple of the block size) of `type` at `src` to floats.
void DequantizeRow(DType type, const void* src, float* dst, int64_t num_elements);
// Inverse of DequantizeRow for the types CanQuantize accepts.
void QuantizeRow(DType type, const float* src, void* dst, int64_t num_elements);

}  // namespace riglm
