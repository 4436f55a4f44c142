// Loads a model for the CPU from a path, a URL or a Hugging Face folder: a local GGUF file is mapped (the CPU reads weights
// in place, no copy); anything else is streamed into host memory through the loader, with
// staging buffers bounded by LoadOptions.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "io/byte_source.h"
#include "loader/loader.h"
#include "model/llama_model.h"
#include "util/large_buffer.h"

namespace riglm {

// Host memory for the tensors placed on the CPU: one allocation per tensor.
class HostSink : public TensorSink {
 public:
  explicit HostSink(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Status Prepare(const GgufTensorInfo& tensor) override;
  Status Write(const GgufTensorInfo& tensor, uint64_t offset, std::span<const uint8_t> bytes) override;
  const uint8_t* data(const GgufTensorInfo& tensor) const;
  uint64_t bytes() const { return bytes_; }

 private:
  std::string name_;
  std::unordered_map<const GgufTensorInfo*, LargeBuffer> tensors_;
  uint64_t bytes_ = 0;
};

struct ModelLoadOptions {
  SourceOptions source;
  LoadOptions load;
  std::string quant;  // safetensors folders: quantize while streaming (a QuantRecipe name)
};

// The model's bytes as a GGUF: a GGUF file, an http(s) URL of one, a Hugging Face model
// folder (config.json + safetensors) converted on the fly, or synthetic:SHAPE:TYPE (a model of a
// preset shape whose tensor bytes are generated as they are read: noise, for load tests of any
// size without the disk space).
bool IsSyntheticLocation(const std::string& location);
Result<std::unique_ptr<ByteSource>> OpenModelSource(const std::string& location, const ModelLoadOptions& options = {});

Result<std::unique_ptr<LlamaModel>> LoadModelFrom(const std::string& location, const ModelLoadOptions& options = {});

}  // namespace riglm
