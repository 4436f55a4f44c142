#include "backend/cpu/activations.h"

#include <bit>

#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

namespace riglm::cpu {

void QuantizeActivations(DType type, const float* x, void* dst, int64_t n) {
  static const bool avx2 = IsaAvailable(Isa::kAvx2);
  if (avx2 && type == DType::kQ8_0) return QuantizeQ8_0Avx2(x, dst, n);
  if (avx2 && type == DType::kQ8_K) return QuantizeQ8_KAvx2(x, dst, n);
  if (avx2 && type == DType::kF16) return QuantizeF16F16c(x, dst, n);
  QuantizeRow(type, x, dst, n);
}

void Q8_0BlockTermsScalar(int32_t offset, bool has_min, const void* blocks, int64_t num_blocks, int32_t* terms) {
  const auto* q = static_cast<const BlockQ8_0*>(blocks);
  for (int64_t b = 0; b < num_blocks; ++b) {
    int32_t sum = 0;
    for (int j = 0; j < kQ8_0BlockElements; ++j) sum += q[b].quants[j];
    const float scale = HalfToFloat(q[b].scale_f16);
    terms[2 * b] = has_min ? std::bit_cast<int32_t>(scale * static_cast<float>(sum)) : -offset * sum;
    terms[2 * b + 1] = std::bit_cast<int32_t>(scale);
  }
}

void Q8_0BlockTerms(DType weight_type, const void* blocks, int64_t num_blocks, int32_t* terms) {
  const bool has_min = weight_type == DType::kQ4_1 || weight_type == DType::kQ5_1;
  const int32_t offset = weight_type == DType::kQ4_0 ? 8 : weight_type == DType::kQ5_0 ? 16 : has_min ? 0 : 128;
  static const bool avx2 = IsaAvailable(Isa::kAvx2);
  if (avx2) return Q8_0BlockTermsAvx2(offset, has_min, blocks, num_blocks, terms);
  Q8_0BlockTermsScalar(offset, has_min, blocks, num_blocks, terms);
}

}  // namespace riglm::cpu
