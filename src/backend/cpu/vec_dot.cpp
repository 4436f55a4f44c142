#include "backend/cpu/vec_dot.h"

#include "backend/cpu/packed.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace riglm::cpu {

namespace {

#if defined(__x86_64__)
// Asks CPUID directly (compilers disagree on which feature names __builtin_cpu_supports
// knows), and checks that the OS saves the YMM registers.
bool HasAvx2FmaF16c() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28), f16c = ecx & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return false;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6) != 0x6) return false;  // XMM and YMM state
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ebx & (1u << 5);
}
#endif

}  // namespace

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
#if defined(__x86_64__)
      return HasAvx2FmaF16c();
#else
      return false;
#endif
    case Isa::kAvx512Vnni:
      return IsaAvailable(Isa::kAvx2) && HasAvx512Vnni();
  }
  return false;
}

Isa BestIsa() {
  static const Isa best = IsaAvailable(Isa::kAvx512Vnni) ? Isa::kAvx512Vnni
                          : IsaAvailable(Isa::kAvx2)     ? Isa::kAvx2
                                                         : Isa::kScalar;
  return best;
}

DType ActivationType(DType weight_type) {
  switch (weight_type) {
    case DType::kQ8_0: case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1:
    case DType::kIQ4_NL:
      return DType::kQ8_0;
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
      return DType::kQ8_K;
    default:
      return DType::kF32;
  }
}

VecDotKernel GetVecDotKernel(DType weight_type, Isa isa) {
  VecDotKernel kernel{weight_type, ActivationType(weight_type), nullptr};
  if (isa != Isa::kScalar) {
    kernel.fn = Avx2VecDot(weight_type);
    if (kernel.fn == nullptr) kernel.fn = Avx2VecDotK(weight_type);
    if (kernel.fn == nullptr) kernel.fn = Avx2VecDotMore(weight_type);
  }
  if (kernel.fn == nullptr) kernel.fn = ScalarVecDot(weight_type);
  if (kernel.fn == nullptr) kernel.fn = ScalarVecDotMore(weight_type);
  return kernel;
}

}  // namespace riglm::cpu
