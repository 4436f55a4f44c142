// Weights repacked at load time into the layout the AVX-512 VNNI kernels read fastest: groups
// of 16 (32-element formats) or 8 rows (K-quants) interleaved column by column, so one vector load
// feeds several rows and the activation block is loaded once for all of them. CPUs with AVX2 but
// not AVX-512 VNNI read the same layout (kernels/avx2/). Goals: fewer instructions per weight
// byte, so decoding runs at memory speed on few cores. Non-goals: the other formats (they keep
// their GGUF layout and the row-by-row kernels).
#pragma once

#include <cstdint>
#include <memory>

#include "backend/cpu/vec_dot.h"
#include "tensor/dtype.h"
#include "util/large_buffer.h"

namespace riglm::cpu {

// Rows per group: one 32-bit lane per row makes a 16-row group of Q4_0 / Q8_0 fill a vector,
// so a dot product needs no horizontal sums. Q4_K, Q5_K and Q6_K take the same 16-row lanes and
// scale each sub-block's integer sums once; Q3_K and Q2_K keep 8-row groups scaled per row pair.
constexpr int kPackRowsLegacy = 16;
constexpr int kPackRowsK16 = 16;  // Q4_K, Q5_K and Q6_K
constexpr int kPackRowsK8 = 8;    // Q3_K and Q2_K
constexpr uint64_t kQ4_KHeadBytes = 32 + 32 + 128 + 128;
constexpr uint64_t kQ4_KChunkBytes = 8 * 64;  // per 64 elements
constexpr uint64_t kQ5_KMaskBytes = 8 * 16;   // per 64 elements
// Q4_K's chunk and column, or (five_bit) Q5_K's with its masks after each chunk's vectors.
constexpr uint64_t Q4_KChunkBytes(bool five_bit) { return kQ4_KChunkBytes + (five_bit ? kQ5_KMaskBytes : 0); }
constexpr uint64_t Q4_KColumnBytes(bool five_bit) { return kQ4_KHeadBytes + 4 * Q4_KChunkBytes(five_bit); }
constexpr uint64_t kQ6_KHeadBytes = 32 + 256;
constexpr uint64_t kQ6_KColumnBytes = kQ6_KHeadBytes + 2 * 8 * 3 * 64;
// Q3_K and Q2_K keep each row pair's quants together, in the order the kernel reads them.
constexpr uint64_t kQ3_KPairBytes = 3 * 64;
constexpr uint64_t kQ2_KPairBytes = 2 * 64;
constexpr uint64_t kQ3_KColumnBytes = 16 + 128 + kPackRowsK8 / 2 * kQ3_KPairBytes;
constexpr uint64_t kQ2_KColumnBytes = 16 + 16 + 128 + kPackRowsK8 / 2 * kQ2_KPairBytes;

// Layout, per group and per block column b:
//   Q4_0x16 (32 elements): 16 f16 scales (32 bytes), then 4 vectors of 64 bytes: vector j holds,
//           for row r in bytes 4r..4r+3, that row's quant bytes 4j..4j+3 (low nibbles: elements
//           4j.., high nibbles: elements 16 + 4j..).
//   Q8_0x16 (32 elements): 16 f16 scales (32 bytes), then 8 vectors of 64 bytes: vector j holds
//           row r's quants 4j..4j+3 in bytes 4r..4r+3, stored as unsigned (q + 128).
//   IQ4_NLx16: as Q4_0 (the nibbles index the format's table). Q4_1x16: as Q4_0 with the 16 f16
//           minima after the scales. Q5_0x16 and Q5_1x16: as Q4_0 and Q4_1, then 8 64-bit masks
//           (vector j's low nibbles, then its high): bit p set when the weight in byte p has
//           its fifth bit.
//   Q4_Kx16 (256 elements): 16 f16 d, 16 f16 dmin, the 6-bit scales unpacked to bytes
//           [sub-block][row], the mins unpacked to bytes [sub-block pair][row][2], then per
//           64-element chunk c 8 vectors of 64 bytes: vector j holds, for row r in bytes
//           4r..4r+3, that row's chunk quant bytes 4j..4j+3 (low nibbles: sub-block 2c,
//           elements 4j..; high nibbles: sub-block 2c+1).
//   Q5_Kx16 (256 elements): Q4_Kx16 with, after each chunk's vectors, two 64-bit masks per
//           vector (low, then high nibbles): bit p set when the weight in byte p has its fifth
//           bit.
//   Q6_Kx16 (256 elements): 16 f16 d, the int8 scales [sub-block][row], then per 128-element
//           half h and j in 0..8 three vectors of 64 bytes w0, w1, w2: byte k of row r's lane
//           (4r + k) in w_v holds the 6-bit value of element 128h + 32v + 4j + k in bits 0-5 and
//           bits 2v..2v+1 of element 128h + 96 + 4j + k's value in bits 6-7.
//   Q3_Kx8 (256 elements): 8 f16 d, the scales unpacked to int8 (offset removed) [row][16], then
//           per row pair the two rows' 32-byte high-bit masks, then per 128-element half their
//           32 bytes of 2-bit quants.
//   Q2_Kx8 (256 elements): 8 f16 d, 8 f16 dmin, the rows' 16 scale-and-min bytes as in GGUF, then
//           per row pair and per 128-element half the two rows' 32 bytes of 2-bit quants (the
//           same bytes as GGUF).
//   The 8-row K-quants are read a row pair at a time: keeping a pair's bytes together makes
//   each column one forward stream, which one-token products from memory measured faster (Q6_K,
//   then in 8-row groups: 61% -> 91% of the read bandwidth) than vectors gathered from places
//   256 bytes apart.
struct PackedWeights {
  DType type = DType::kF32;  // the GGUF type that was packed
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_rows = 0;    // PackRows(type)
  uint64_t group_bytes = 0;  // bytes of one group of rows
  Isa isa = Isa::kAvx512Vnni;  // whose kernels compute with it (PackedMatMul)
  LargeBuffer data;

  const uint8_t* group(int64_t g) const { return data.get() + g * group_bytes; }
};

// The 32-element formats, packed 16 rows at a time.
inline bool IsPackedLegacy(DType type) {
  return type == DType::kQ4_0 || type == DType::kQ8_0 || type == DType::kQ4_1 || type == DType::kQ5_0 ||
         type == DType::kQ5_1 || type == DType::kIQ4_NL;
}

// The K-quants, packed 8 rows at a time; all read Q8_K activations.
inline bool IsPackedK(DType type) {
  return type == DType::kQ2_K || type == DType::kQ3_K || type == DType::kQ4_K || type == DType::kQ5_K ||
         type == DType::kQ6_K;
}

// Rows per group of `type`'s packed layout.
inline int PackRows(DType type) {
  if (IsPackedLegacy(type)) return kPackRowsLegacy;
  return type == DType::kQ4_K || type == DType::kQ5_K || type == DType::kQ6_K ? kPackRowsK16 : kPackRowsK8;
}

// The packed kernels this CPU runs: AVX-512 VNNI, else AVX2, else none (Isa::kScalar).
Isa PackedIsa();
// True when `isa` has packed kernels for `type`, this CPU can run them, and `rows` fills whole
// groups (false for every type when RIGLM_NO_PACK is set).
bool CanPack(DType type, int64_t rows, int64_t cols, Isa isa);
inline bool CanPack(DType type, int64_t rows, int64_t cols) { return CanPack(type, rows, cols, PackedIsa()); }
// Repacks rows of GGUF blocks (`row_bytes` apart) into a new buffer, for `isa`'s kernels.
PackedWeights Pack(DType type, const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes,
                   Isa isa = PackedIsa());

// y[t * y_stride + r] for the rows of groups [group_begin, group_end) and `num_tokens` tokens of
// activations (`act_row_bytes` apart) in ActivationType(w.type): Q8_0, or Q8_K for K-quants.
// For the 32-element formats, `act_sums` holds per token and block two words: -offset (8 for
// Q4_0, 16 for Q5_0, 128 for Q8_0 and IQ4_NL) times the sum of the block's activation quants, for
// the formats' stored offsets, or for Q4_1 and Q5_1 the sum of the block's activations as f32
// bits (for their minima); then the block's activation scale as f32 bits. Q4_K and Q5_K read it
// as 16-bit sums of each 32.
void PackedMatMul(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                  uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y, int64_t y_stride);

bool HasAvx512Vnni();

// Whether the packed kernels ask for their weights ahead of use with software prefetches: unless
// plain reads are more than 10% faster than prefetched ones on this machine (measured once per
// process, PrefetchedReadSpeedup). On some machines the hardware prefetchers alone stream the
// weights fastest and the extra requests only cost (a Zen 4 VM: plain reads 7-20% faster). On a
// Zen 5 VM a plain reader measured from 8% faster to 24% slower from one process to the next,
// while the kernels that make the requests never ran slower with them: whole 1B Q4_0 decoding
// steps 1.07-1.09x, Q6_K products 1.45x (the AVX-512 Q4_K and Q5_K tiles, which did, make none).
// RIGLM_WEIGHT_PREFETCH=0 or 1 decides instead.
bool PrefetchWeights();
// The least MeasuredPrefetchSpeedup at which PrefetchWeights says yes (exclusive).
constexpr double kPrefetchMinSpeedup = 0.9;
// The speedup PrefetchWeights decided on; 0 when RIGLM_WEIGHT_PREFETCH decided.
double MeasuredPrefetchSpeedup();

}  // namespace riglm::cpu
