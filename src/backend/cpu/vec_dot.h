// Dot products of one weight row with one activation row, per weight type and instruction set.
// Quantized weights are multiplied with activations quantized on the fly (to Q8_0), so the
// inner loop is integer arithmetic; float weights take float activations.
#pragma once

#include <cstdint>
#include <string_view>

#include "tensor/dtype.h"

namespace riglm::cpu {

using VecDotFn = float (*)(int64_t num_elements, const void* weight_row, const void* activation_row);

struct VecDotKernel {
  DType weight_type;
  DType activation_type;  // kF32, kQ8_0 or kQ8_K
  VecDotFn fn = nullptr;
};

// kAvx512Vnni adds the packed matrix kernels (backend/cpu/packed.h); its dot products are AVX2's.
enum class Isa { kScalar, kAvx2, kAvx512Vnni };
std::string_view IsaName(Isa isa);
bool IsaAvailable(Isa isa);  // what this CPU can run
Isa BestIsa();               // chosen once, from CPUID

// The kernel for `weight_type` on `isa`, or one with fn == nullptr when there is none.
VecDotKernel GetVecDotKernel(DType weight_type, Isa isa);
inline VecDotKernel GetVecDotKernel(DType weight_type) { return GetVecDotKernel(weight_type, BestIsa()); }

// Per-ISA tables, defined in kernels/<isa>/; a null entry falls back to the scalar kernel.
VecDotFn ScalarVecDot(DType weight_type);
VecDotFn ScalarVecDotMore(DType weight_type);  // Q4_1, Q5_x, IQ4_NL, K-quants
VecDotFn Avx2VecDot(DType weight_type);
VecDotFn Avx2VecDotK(DType weight_type);
VecDotFn Avx2VecDotMore(DType weight_type);  // Q4_1, Q5_x, IQ4_NL, Q2_K, Q3_K

// The activation format a weight type's kernels take.
DType ActivationType(DType weight_type);

}  // namespace riglm::cpu
