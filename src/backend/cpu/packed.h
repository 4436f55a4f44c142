// Weights repacked at load time into the layout the AVX-512 VNNI kernels read fastest: blocks
// of 8 rows interleaved column by column, so one vector load feeds several rows and the
// activation block is loaded once for all of them. Goals: fewer instructions per weight byte,
// so decoding runs at memory speed on few cores. Non-goals: formats other than Q4_0 and Q8_0
// (the others keep their GGUF layout).
#pragma once

#include <cstdint>
#include <memory>

#include "tensor/dtype.h"
#include "util/large_buffer.h"

namespace riglm::cpu {

constexpr int kPackRows = 8;

// Layout, per group of 8 rows and per block column b:
//   Q4_0x8 (32 elements): 8 f16 scales (16 bytes), then each row's 16 quant bytes, rows in order.
//   Q8_0x8 (32 elements): 8 f16 scales (16 bytes), then each row's 32 quant bytes in order,
//           stored as unsigned (q + 128).
//   Q4_Kx8 (256 elements): 8 f16 d, 8 f16 dmin, the 6-bit scales and mins unpacked to bytes
//           ([row][sub-block], 64 bytes each), then per 64-element chunk each row's 32 quant
//           bytes in order (low nibbles: sub-block 2c, high: 2c+1).
//   Q6_Kx8 (256 elements): 8 f16 d, the int8 scales [row][16], then per 128-element half the
//           rows' low[0..32), the rows' low[32..64), the rows' high[0..32), 32 bytes each.
struct PackedWeights {
  DType type = DType::kF32;  // the GGUF type that was packed
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t group_bytes = 0;  // bytes of one group of 8 rows
  LargeBuffer data;

  const uint8_t* group(int64_t g) const { return data.get() + g * group_bytes; }
};

// True when `type` has a packed kernel this CPU can run and `rows` is a multiple of 8.
bool CanPack(DType type, int64_t rows, int64_t cols);
// Repacks rows of GGUF blocks (`row_bytes` apart) into a new buffer.
PackedWeights Pack(DType type, const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes);

// y[t * y_stride + r] for rows [group_begin * 8, group_end * 8) and `num_tokens` tokens of
// activations (`act_row_bytes` apart) in ActivationType(w.type): Q8_0, or Q8_K for K-quants.
// For Q4_0 and Q8_0, `act_sums` holds per token and block the sum of that block's activation
// quants (for the formats' offsets of 8 and 128); Q4_K reads it as 16-bit sums of each 32.
void PackedMatMul(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                  uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y, int64_t y_stride);

bool HasAvx512Vnni();

}  // namespace riglm::cpu
