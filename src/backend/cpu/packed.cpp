#include "backend/cpu/packed.h"

#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <new>

#include "backend/cpu/bandwidth.h"
#include "tensor/quant.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace riglm::cpu {

// Defined in kernels/avx2/ and kernels/avx512/.
void PackedMatMulAvx2(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                      uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y,
                      int64_t y_stride);
void PackedMatMulAvx512(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                        uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y,
                        int64_t y_stride);

bool HasAvx512Vnni() {
#if defined(__x86_64__)
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;  // OSXSAVE
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6) return false;  // XMM, YMM, opmask, ZMM state
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool f = ebx & (1u << 16), dq = ebx & (1u << 17), bw = ebx & (1u << 30), vl = ebx & (1u << 31);
    const bool vnni = ecx & (1u << 11);
    return f && dq && bw && vl && vnni;
  }();
  return has;
#else
  return false;
#endif
}

double MeasuredPrefetchSpeedup() {
  static const double speedup = std::getenv("RIGLM_WEIGHT_PREFETCH") ? 0.0 : PrefetchedReadSpeedup();
  return speedup;
}

bool PrefetchWeights() {
  static const bool on = [] {
    if (const char* env = std::getenv("RIGLM_WEIGHT_PREFETCH")) return std::strcmp(env, "0") != 0;
    return MeasuredPrefetchSpeedup() > kPrefetchMinSpeedup;
  }();
  return on;
}

Isa PackedIsa() {
  static const Isa isa = [] {
    // RIGLM_PACKED_ISA=avx2 runs the AVX2 kernels on a CPU that also has AVX-512 (to compare).
    const char* env = std::getenv("RIGLM_PACKED_ISA");
    if (env != nullptr && std::strcmp(env, "avx2") == 0 && IsaAvailable(Isa::kAvx2)) return Isa::kAvx2;
    if (IsaAvailable(Isa::kAvx512Vnni)) return Isa::kAvx512Vnni;
    return IsaAvailable(Isa::kAvx2) ? Isa::kAvx2 : Isa::kScalar;
  }();
  return isa;
}

bool CanPack(DType type, int64_t rows, int64_t cols, Isa isa) {
  if (std::getenv("RIGLM_NO_PACK") != nullptr) return false;  // for comparisons and tests
  if (isa == Isa::kScalar || !IsaAvailable(isa)) return false;
  if (IsPackedLegacy(type)) return rows % kPackRowsLegacy == 0 && cols % 64 == 0;
  return IsPackedK(type) && rows % PackRows(type) == 0 && cols % kQK == 0;
}

namespace {

// An empty packed matrix with room for its groups of `column_bytes` per block column.
PackedWeights AllocatePacked(DType type, int64_t rows, int64_t cols, int64_t blocks, uint64_t column_bytes) {
  PackedWeights p;
  p.type = type;
  p.rows = rows;
  p.cols = cols;
  p.group_rows = PackRows(type);
  p.group_bytes = column_bytes * blocks;
  const uint64_t total = p.group_bytes * (rows / p.group_rows);
  p.data = AllocateLarge(total);
  if (p.data == nullptr) throw std::bad_alloc();
  return p;
}

// Q4_K, or Q5_K (kBlock = BlockQ5_K): the same layout, with the fifth bits as byte masks after
// each chunk.
template <typename kBlock>
PackedWeights PackQ4_KOrQ5_K(DType type, const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes) {
  constexpr bool kFiveBit = std::is_same_v<kBlock, BlockQ5_K>;
  constexpr uint64_t kChunkBytes = Q4_KChunkBytes(kFiveBit);
  constexpr uint64_t kColumnBytes = Q4_KColumnBytes(kFiveBit);
  const int64_t blocks = cols / kQK;
  PackedWeights p = AllocatePacked(type, rows, cols, blocks, kColumnBytes);
  if constexpr (kFiveBit) std::memset(p.data.get(), 0, p.group_bytes * (rows / kPackRowsK16));  // masks are ORed in
  for (int64_t g = 0; g < rows / kPackRowsK16; ++g) {
    uint8_t* out = p.data.get() + g * p.group_bytes;
    for (int64_t b = 0; b < blocks; ++b, out += kColumnBytes) {
      for (int r = 0; r < kPackRowsK16; ++r) {
        const auto* block = reinterpret_cast<const kBlock*>(data + (g * kPackRowsK16 + r) * row_bytes) + b;
        std::memcpy(out + 2 * r, &block->scale_f16, 2);
        std::memcpy(out + 32 + 2 * r, &block->min_f16, 2);
        for (int sub = 0; sub < 8; ++sub) {
          UnpackScaleMinK4(sub, block->scales, out + 64 + 16 * sub + r, out + 192 + 32 * (sub / 2) + 2 * r + sub % 2);
        }
        for (int chunk = 0; chunk < 4; ++chunk) {
          uint8_t* vectors = out + kQ4_KHeadBytes + chunk * kChunkBytes;
          for (int j = 0; j < 8; ++j) std::memcpy(vectors + 64 * j + 4 * r, block->quants + 32 * chunk + 4 * j, 4);
          if constexpr (kFiveBit) {
            for (int l = 0; l < 32; ++l) {
              uint8_t* masks = vectors + kQ4_KChunkBytes + 16 * (l / 4);
              const int bit = 4 * r + l % 4;
              if (block->high_bits[l] & (1u << (2 * chunk))) masks[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
              if (block->high_bits[l] & (2u << (2 * chunk))) masks[8 + bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
            }
          }
        }
      }
    }
  }
  return p;
}

PackedWeights PackQ6_K(const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes) {
  const int64_t blocks = cols / kQK;
  PackedWeights p = AllocatePacked(DType::kQ6_K, rows, cols, blocks, kQ6_KColumnBytes);
  for (int64_t g = 0; g < rows / kPackRowsK16; ++g) {
    uint8_t* out = p.data.get() + g * p.group_bytes;
    for (int64_t b = 0; b < blocks; ++b, out += kQ6_KColumnBytes) {
      for (int r = 0; r < kPackRowsK16; ++r) {
        const auto* block = reinterpret_cast<const BlockQ6_K*>(data + (g * kPackRowsK16 + r) * row_bytes) + b;
        std::memcpy(out + 2 * r, &block->scale_f16, 2);
        for (int sub = 0; sub < 16; ++sub) out[32 + 16 * sub + r] = static_cast<uint8_t>(block->scales[sub]);
        for (int half = 0; half < 2; ++half) {
          for (int j = 0; j < 8; ++j) {
            uint8_t* vectors = out + kQ6_KHeadBytes + 192 * (8 * half + j) + 4 * r;
            // Four elements of each 32-element quarter at once, a byte each: GGUF keeps quarters
            // 0 and 2 in the nibbles of low[64h + l], 1 and 3 in those of low[64h + 32 + l], and
            // their bit pairs in high[32h + l].
            uint32_t low02, low13, high;
            std::memcpy(&low02, block->low + 64 * half + 4 * j, 4);
            std::memcpy(&low13, block->low + 64 * half + 32 + 4 * j, 4);
            std::memcpy(&high, block->high + 32 * half + 4 * j, 4);
            constexpr uint32_t kNibbles = 0x0f0f0f0f, kPairs = 0x03030303;
            const uint32_t q[4] = {(low02 & kNibbles) | (high & kPairs) << 4, (low13 & kNibbles) | (high >> 2 & kPairs) << 4,
                                   (low02 >> 4 & kNibbles) | (high >> 4 & kPairs) << 4,
                                   (low13 >> 4 & kNibbles) | (high >> 6 & kPairs) << 4};
            for (int v = 0; v < 3; ++v) {
              const uint32_t word = q[v] | (q[3] >> (2 * v) & kPairs) << 6;
              std::memcpy(vectors + 64 * v, &word, 4);
            }
          }
        }
      }
    }
  }
  return p;
}

// The 32-element formats: per block column, the rows' f16 scales, then (Q4_1, Q5_1) their f16
// minima, then the quants in 4-byte lanes, then (Q5_0, Q5_1) the fifth bits as masks.
PackedWeights PackLegacy(DType type, const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes) {
  const bool q8 = type == DType::kQ8_0;
  const bool has_min = type == DType::kQ4_1 || type == DType::kQ5_1;
  const bool five_bit = type == DType::kQ5_0 || type == DType::kQ5_1;
  const int64_t blocks = cols / 32;
  const uint64_t quant_bytes = q8 ? 32 : 16;
  const uint64_t block_bytes = RowBytes(type, 32);
  // Where each format keeps its quants, and (Q5_0, Q5_1) its 32 fifth bits, within a block.
  const uint64_t quants_in_block = block_bytes - quant_bytes;
  const uint64_t high_bits_in_block = has_min ? 4 : 2;
  const uint64_t quants_at = 2 * kPackRowsLegacy * (has_min ? 2 : 1);
  const uint64_t column_bytes = quants_at + kPackRowsLegacy * quant_bytes + (five_bit ? 64 : 0);
  PackedWeights p = AllocatePacked(type, rows, cols, blocks, column_bytes);
  for (int64_t g = 0; g < rows / kPackRowsLegacy; ++g) {
    uint8_t* out = p.data.get() + g * p.group_bytes;
    for (int64_t b = 0; b < blocks; ++b, out += column_bytes) {
      if (five_bit) std::memset(out + quants_at + kPackRowsLegacy * quant_bytes, 0, 64);
      for (int r = 0; r < kPackRowsLegacy; ++r) {
        const uint8_t* block = data + (g * kPackRowsLegacy + r) * row_bytes + b * block_bytes;
        std::memcpy(out + 2 * r, block, 2);  // f16 scale
        if (has_min) std::memcpy(out + 32 + 2 * r, block + 2, 2);
        for (uint64_t j = 0; j < quant_bytes / 4; ++j) {
          uint8_t* lane = out + quants_at + 64 * j + 4 * r;
          std::memcpy(lane, block + quants_in_block + 4 * j, 4);
          if (q8) {
            // Stored as unsigned w + 128, the operand dpbusd wants; the kernel subtracts 128 * sum(a).
            for (int k = 0; k < 4; ++k) lane[k] ^= 0x80;
          }
        }
        if (five_bit) {
          uint32_t high;
          std::memcpy(&high, block + high_bits_in_block, 4);
          // Mask 2j (low nibbles) or 2j + 1 (high): bit 4r + i for element 4j + i (or 16 + 4j + i).
          uint8_t* masks = out + quants_at + kPackRowsLegacy * quant_bytes;
          for (int e = 0; e < 32; ++e) {
            if (!(high >> e & 1)) continue;
            const int j = (e % 16) / 4, i = e % 4, mask = 2 * j + (e >= 16 ? 1 : 0), bit = 4 * r + i;
            masks[8 * mask + bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
          }
        }
      }
    }
  }
  return p;
}

PackedWeights PackQ2_K(const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes) {
  const int64_t blocks = cols / kQK;
  PackedWeights p = AllocatePacked(DType::kQ2_K, rows, cols, blocks, kQ2_KColumnBytes);
  for (int64_t g = 0; g < rows / kPackRowsK8; ++g) {
    uint8_t* out = p.data.get() + g * p.group_bytes;
    for (int64_t b = 0; b < blocks; ++b, out += kQ2_KColumnBytes) {
      for (int r = 0; r < kPackRowsK8; ++r) {
        const auto* block = reinterpret_cast<const BlockQ2_K*>(data + (g * kPackRowsK8 + r) * row_bytes) + b;
        std::memcpy(out + 2 * r, &block->scale_f16, 2);
        std::memcpy(out + 16 + 2 * r, &block->min_f16, 2);
        std::memcpy(out + 32 + 16 * r, block->scales, 16);
        uint8_t* pair = out + 160 + (r / 2) * kQ2_KPairBytes + 32 * (r % 2);
        for (int half = 0; half < 2; ++half) std::memcpy(pair + 64 * half, block->quants + 32 * half, 32);
      }
    }
  }
  return p;
}

PackedWeights PackQ3_K(const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes) {
  const int64_t blocks = cols / kQK;
  PackedWeights p = AllocatePacked(DType::kQ3_K, rows, cols, blocks, kQ3_KColumnBytes);
  for (int64_t g = 0; g < rows / kPackRowsK8; ++g) {
    uint8_t* out = p.data.get() + g * p.group_bytes;
    for (int64_t b = 0; b < blocks; ++b, out += kQ3_KColumnBytes) {
      for (int r = 0; r < kPackRowsK8; ++r) {
        const auto* block = reinterpret_cast<const BlockQ3_K*>(data + (g * kPackRowsK8 + r) * row_bytes) + b;
        std::memcpy(out + 2 * r, &block->scale_f16, 2);
        UnpackQ3KScales(block->scales, reinterpret_cast<int8_t*>(out + 16 + 16 * r));
        uint8_t* pair = out + 144 + (r / 2) * kQ3_KPairBytes + 32 * (r % 2);
        std::memcpy(pair, block->high_mask, 32);
        for (int half = 0; half < 2; ++half) std::memcpy(pair + 64 + 64 * half, block->quants + 32 * half, 32);
      }
    }
  }
  return p;
}

}  // namespace

PackedWeights Pack(DType type, const uint8_t* data, int64_t rows, int64_t cols, uint64_t row_bytes, Isa isa) {
  PackedWeights p;
  if (type == DType::kQ4_K) {
    p = PackQ4_KOrQ5_K<BlockQ4_K>(type, data, rows, cols, row_bytes);
  } else if (type == DType::kQ5_K) {
    p = PackQ4_KOrQ5_K<BlockQ5_K>(type, data, rows, cols, row_bytes);
  } else if (type == DType::kQ6_K) {
    p = PackQ6_K(data, rows, cols, row_bytes);
  } else if (type == DType::kQ3_K) {
    p = PackQ3_K(data, rows, cols, row_bytes);
  } else if (type == DType::kQ2_K) {
    p = PackQ2_K(data, rows, cols, row_bytes);
  } else {
    p = PackLegacy(type, data, rows, cols, row_bytes);
  }
  p.isa = isa;
  return p;
}

void PackedMatMul(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                  uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y, int64_t y_stride) {
  if (w.isa == Isa::kAvx2) {
    PackedMatMulAvx2(w, group_begin, group_end, activations, act_row_bytes, act_sums, num_tokens, y, y_stride);
  } else {
    PackedMatMulAvx512(w, group_begin, group_end, activations, act_row_bytes, act_sums, num_tokens, y, y_stride);
  }
}

}  // namespace riglm::cpu
