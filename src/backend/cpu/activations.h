// Activations quantized for the integer dot products, with the fastest code this CPU runs.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace riglm::cpu {

// Same bytes as QuantizeRow(type, x, dst, n) for every type (F16: except NaN payloads); Q8_0,
// Q8_K and F16 take AVX2 / F16C when present.
void QuantizeActivations(DType type, const float* x, void* dst, int64_t n);

// What the packed kernels of the 32-element `weight_type`s read besides Q8_0 activations, two
// words per block: the correction for the weights' stored offset times the sum of the block's
// quants (Q4_1 and Q5_1, which have minima: that sum times the block's scale, as f32 bits),
// then the block's scale as f32 bits.
void Q8_0BlockTerms(DType weight_type, const void* blocks, int64_t num_blocks, int32_t* terms);
// The portable definition, for `offset` and `has_min` as Q8_0BlockTerms derives them.
void Q8_0BlockTermsScalar(int32_t offset, bool has_min, const void* blocks, int64_t num_blocks, int32_t* terms);

// Defined in kernels/avx2/.
void QuantizeQ8_0Avx2(const float* x, void* dst, int64_t n);
void Q8_0BlockTermsAvx2(int32_t offset, bool has_min, const void* blocks, int64_t num_blocks, int32_t* terms);
void QuantizeQ8_KAvx2(const float* x, void* dst, int64_t n);
void QuantizeF16F16c(const float* x, void* dst, int64_t n);

}  // namespace riglm::cpu
