// SwiGLU with AVX2: out = g * sigmoid(g) * up, eight at a time through the vector exp.
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/kernels/avx2/avx2_util.h"
#include "backend/cpu/ops.h"

namespace riglm::cpu {

void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace riglm::cpu
