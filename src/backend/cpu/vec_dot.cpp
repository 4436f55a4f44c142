#include "backend/cpu/vec_dot.h"

namespace riglm::cpu {

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
  }
  return "unknown";
}

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
#if defined(__x86_64__)
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
      return false;
#endif
  }
  return false;
}

Isa BestIsa() {
  static const Isa best = IsaAvailable(Isa::kAvx2) ? Isa::kAvx2 : Isa::kScalar;
  return best;
}

VecDotKernel GetVecDotKernel(DType weight_type, Isa isa) {
  VecDotKernel kernel{weight_type, DType::kF32, nullptr};
  switch (weight_type) {
    case DType::kQ8_0:
    case DType::kQ4_0:
      kernel.activation_type = DType::kQ8_0;
      break;
    default:
      break;
  }
  kernel.fn = isa == Isa::kAvx2 ? Avx2VecDot(weight_type) : ScalarVecDot(weight_type);
  return kernel;
}

}  // namespace riglm::cpu
