// Builds GGUF files: metadata and tensors in, bytes out. Used by tests, converters and `synth`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "format/gguf.h"
#include "util/status.h"

namespace riglm {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t version = 3, uint64_t alignment = 32) : version_(version), alignment_(alignment) {}

  void Set(const std::string& key, GgufValue value);
  void SetUint32(const std::string& key, uint32_t v) { Set(key, {GgufType::kUint32, uint64_t{v}}); }
  void SetUint64(const std::string& key, uint64_t v) { Set(key, {GgufType::kUint64, v}); }
  void SetInt32(const std::string& key, int32_t v) { Set(key, {GgufType::kInt32, int64_t{v}}); }
  void SetFloat32(const std::string& key, float v) { Set(key, {GgufType::kFloat32, double{v}}); }
  void SetBool(const std::string& key, bool v) { Set(key, {GgufType::kBool, v}); }
  void SetString(const std::string& key, std::string v) { Set(key, {GgufType::kString, std::move(v)}); }
  void SetStringArray(const std::string& key, const std::vector<std::string>& values);
  void SetFloat32Array(const std::string& key, const std::vector<float>& values);
  void SetInt32Array(const std::string& key, const std::vector<int32_t>& values);

  // `data` must hold exactly the tensor's bytes for `type` and `dims` (dims[0] innermost).
  void AddTensor(const std::string& name, DType type, std::vector<uint64_t> dims, std::vector<uint8_t> data);

  // Produces rows [first_row, first_row + num_rows) of a tensor into `out`; rows are dims[0]
  // elements each.
  using RowSource = std::function<void(uint64_t first_row, uint64_t num_rows, uint8_t* out)>;
  // A tensor whose bytes are produced while the file is written, so that files far larger than
  // memory can be made.
  void AddTensor(const std::string& name, DType type, std::vector<uint64_t> dims, RowSource source);

  void ClearTensors() { tensors_.clear(); }

  std::vector<uint8_t> ToBytes() const;
  // Streams the file: at most `chunk_bytes` of tensor data are held at a time. `on_progress`
  // sees bytes written so far and the total.
  Status WriteFile(const std::string& path, uint64_t chunk_bytes = 16 << 20,
                   const std::function<void(uint64_t, uint64_t)>& on_progress = nullptr) const;
  uint64_t TotalBytes() const;
  // Everything before the tensor data: header, metadata, tensor infos and alignment padding.
  std::vector<uint8_t> HeaderBytes() const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;  // empty when `source` produces the bytes
    RowSource source;
    uint64_t size_bytes = 0;
  };
  uint32_t version_;
  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

// Appends one metadata value in GGUF encoding (without its type tag) to `out`.
void AppendGgufValue(const GgufValue& value, std::vector<uint8_t>* out);

}  // namespace riglm
