// GGUF (versions 2 and 3) reader: bytes -> validated metadata and tensor index.
// Goals: every count, length and offset is checked against the bytes present and a fixed cap
// before anything is allocated, so a hostile file yields a Corruption status naming the file
// and the problem. Non-goals: owning or copying tensor data (callers map or stream it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tensor/dtype.h"
#include "util/status.h"

namespace riglm {

// On-disk metadata value type ids.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

struct GgufValue;
struct GgufArray {
  GgufType element_type = GgufType::kUint8;
  std::vector<GgufValue> items;
};

// One metadata value. Integers keep their signedness; `type` keeps the exact on-disk width.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> data;
};

struct GgufTensorInfo {
  std::string name;
  DType type = DType::kF32;
  std::vector<uint64_t> dims;  // dims[0] is the contiguous (innermost) dimension
  uint64_t num_elements = 0;
  uint64_t offset_bytes = 0;   // from the start of the data section
  uint64_t size_bytes = 0;
};

class GgufFile {
 public:
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset_bytes() const { return data_offset_bytes_; }  // from file start
  uint64_t file_size_bytes() const { return file_size_bytes_; }
  const std::string& name() const { return name_; }

  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufValue* Find(std::string_view key) const;
  const GgufTensorInfo* FindTensor(std::string_view name) const;

  // Typed accessors: NotFound when absent, InvalidArgument (naming key and types) on a
  // mismatch. Integers convert between widths when the value fits.
  Result<uint64_t> GetUint(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  Result<double> GetFloat(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  Result<const GgufArray*> GetArray(std::string_view key) const;

  // Parses a GGUF header. `bytes` is the start of the file (the whole file when mapped); it must
  // hold at least the header and tensor infos. `file_size_bytes` is the full size, used to
  // check that tensor data lies inside the file. `name` appears in every error message.
  static Result<GgufFile> Parse(std::span<const uint8_t> bytes, uint64_t file_size_bytes,
                                std::string name);

 private:
  friend class GgufParser;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_bytes_ = 0;
  uint64_t file_size_bytes_ = 0;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

std::string_view GgufTypeName(GgufType type);

}  // namespace riglm
