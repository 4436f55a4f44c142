// Per-type reference (de)quantizers behind DequantizeRow/QuantizeRow; internal to tensor/.
#pragma once

#include <cstdint>

namespace riglm::quant_impl {

#define RIGLM_DECLARE_QUANT(Type)                                    \
  void Dequantize##Type(const void* src, float* dst, int64_t n);     \
  void Quantize##Type(const float* src, void* dst, int64_t n);

RIGLM_DECLARE_QUANT(Q4_1)
RIGLM_DECLARE_QUANT(Q5_0)
RIGLM_DECLARE_QUANT(Q5_1)
RIGLM_DECLARE_QUANT(IQ4_NL)
RIGLM_DECLARE_QUANT(Q2_K)
RIGLM_DECLARE_QUANT(Q3_K)
RIGLM_DECLARE_QUANT(Q4_K)
RIGLM_DECLARE_QUANT(Q5_K)
RIGLM_DECLARE_QUANT(Q6_K)
RIGLM_DECLARE_QUANT(Q8_K)

#undef RIGLM_DECLARE_QUANT

}  // namespace riglm::quant_impl
