// Activations quantized for the integer dot products, with the fastest code this CPU runs.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace riglm::cpu {

// Same bytes as QuantizeRow(type, x, dst, n) for every type (F16: except NaN payloads); Q8_0,
// Q8_K and F16 take AVX2 / F16C when present.
void QuantizeActivations(DType type, const float* x, void* dst, int64_t n);

// Defined in kernels/avx2/.
void QuantizeQ8_0Avx2(const float* x, void* dst, int64_t n);
void QuantizeQ8_KAvx2(const float* x, void* dst, int64_t n);
void QuantizeF16F16c(const float* x, void* dst, int64_t n);

}  // namespace riglm::cpu
