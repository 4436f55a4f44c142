// The table of tensor element types that GGUF files use: ids, block layouts and byte sizes.
// Which types a backend can compute with is a separate question (see backend/cpu/matmul.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace riglm {

// Values are the on-disk ids of the GGUF specification.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct DTypeInfo {
  DType type;
  std::string_view name;    // as llama.cpp and Hugging Face name it: "Q4_K", "BF16"
  uint32_t block_elements;  // elements per block; 1 for plain types
  uint32_t block_bytes;     // bytes per block
};

// Layout of a known type id, or nullopt for an id this build does not know.
std::optional<DTypeInfo> LookupDType(uint32_t id);
const DTypeInfo& GetDTypeInfo(DType type);  // REQUIRES: a DType enumerator
std::string_view DTypeName(DType type);
std::optional<DType> DTypeFromName(std::string_view name);  // case-insensitive

// Bytes of a row of `num_elements`; REQUIRES: num_elements is a multiple of the block size.
inline uint64_t RowBytes(DType type, uint64_t num_elements) {
  const DTypeInfo& info = GetDTypeInfo(type);
  return num_elements / info.block_elements * info.block_bytes;
}

}  // namespace riglm
