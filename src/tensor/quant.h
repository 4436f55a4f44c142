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

// True when DequantizeRow/QuantizeRow know the type.
bool CanDequantize(DType type);
bool CanQuantize(DType type);

// Converts `num_elements` values (a multiple of the block size) of `type` at `src` to floats.
void DequantizeRow(DType type, const void* src, float* dst, int64_t num_elements);
// Inverse of DequantizeRow for the types CanQuantize accepts.
void QuantizeRow(DType type, const float* src, void* dst, int64_t num_elements);

}  // namespace riglm
