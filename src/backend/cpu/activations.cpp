#include "backend/cpu/activations.h"

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

}  // namespace riglm::cpu
