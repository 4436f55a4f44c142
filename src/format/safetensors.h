// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw tensor bytes. Read from any byte source (so
// a shard can be a file, a URL or synthetic bytes); written by tests and converters.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "tensor/dtype.h"

namespace riglm {

struct SafetensorsTensor {
  std::string name;
  DType type = DType::kF32;     // F32, F16, BF16 (and the integer types, read but not computed)
  std::vector<uint64_t> shape;  // outermost first, as PyTorch writes it
  uint64_t offset = 0;          // absolute position of the first byte in the file
  uint64_t size_bytes = 0;
  uint64_t num_elements = 1;
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;  // in file order
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;                // 8 + header length
  const SafetensorsTensor* Find(const std::string& name) const;
};

// Checks the header length, the JSON, every dtype, shape and byte range (inside the file,
// matching dtype x shape, no overlaps); each problem is Corruption or Unsupported naming the
// source and the tensor.
Result<SafetensorsHeader> ReadSafetensorsHeader(ByteSource& source);
Result<SafetensorsHeader> ParseSafetensorsHeader(std::span<const uint8_t> bytes, uint64_t file_size,
                                                 const std::string& name);

// "F32", "F16", "BF16", ... as safetensors spells them; nullopt for dtypes riglm cannot hold.
std::optional<DType> SafetensorsDType(std::string_view name);
std::string_view SafetensorsDTypeName(DType type);

// Builds a safetensors file in memory (tests, converters of small models).
class SafetensorsWriter {
 public:
  // `data` holds the tensor's bytes for `type` and `shape` (outermost first).
  void Add(const std::string& name, DType type, std::vector<uint64_t> shape, std::vector<uint8_t> data);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  std::vector<uint8_t> ToBytes() const;
  Status WriteFile(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    DType type;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace riglm
