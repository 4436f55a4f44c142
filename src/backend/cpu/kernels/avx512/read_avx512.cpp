// The AVX-512 memory reader of MeasureReadBandwidth. Compiled with AVX-512 enabled; only called
// after CPUID said the CPU has it.
#include <immintrin.h>

#include "backend/cpu/bandwidth.h"
#include "backend/cpu/kernels/packed_tiles.h"

namespace riglm::cpu {

// The ceiling is measured the way the decoding kernels read.
static_assert(kAvx512ReadAhead == kPrefetchDistance);

uint64_t ReadPrefetchedAvx512(const uint8_t* bytes, uint64_t n) {
  __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
  for (uint64_t i = 0; i + 128 <= n; i += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(bytes + i + kAvx512ReadAhead), _MM_HINT_NTA);
    _mm_prefetch(reinterpret_cast<const char*>(bytes + i + kAvx512ReadAhead + 64), _MM_HINT_NTA);
    a = _mm512_xor_si512(a, _mm512_loadu_si512(bytes + i));
    b = _mm512_xor_si512(b, _mm512_loadu_si512(bytes + i + 64));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_xor_si512(a, b));
  uint64_t sum = 0;
  for (const uint64_t lane : lanes) sum ^= lane;
  return sum;
}

}  // namespace riglm::cpu
