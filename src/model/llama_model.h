// A llama-family model (llama, qwen2) held in memory: its config and views of its weights.
// The weights stay in the memory-mapped GGUF file; norms and biases are copied to float.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/matmul.h"
#include "format/gguf.h"
#include "io/mapped_file.h"
#include "model/config.h"

namespace riglm {

struct LayerWeights {
  std::vector<float> attn_norm;  // [embedding]
  cpu::WeightMatrix attn_q;      // [q_width rows, embedding cols]
  cpu::WeightMatrix attn_k;      // [kv_width, embedding]
  cpu::WeightMatrix attn_v;      // [kv_width, embedding]
  cpu::WeightMatrix attn_output; // [embedding, q_width]
  std::vector<float> bias_q, bias_k, bias_v;  // qwen2 only
  std::vector<float> ffn_norm;   // [embedding]
  cpu::WeightMatrix ffn_gate;    // [ffn, embedding]
  cpu::WeightMatrix ffn_up;      // [ffn, embedding]
  cpu::WeightMatrix ffn_down;    // [embedding, ffn]
};

class LlamaModel {
 public:
  // Maps the file, parses and validates it, and checks every tensor's shape and type.
  static Result<std::unique_ptr<LlamaModel>> Load(const std::string& path);
  // For a GGUF already parsed over memory the caller keeps alive (tests, other sources).
  static Result<std::unique_ptr<LlamaModel>> FromGguf(GgufFile gguf, const uint8_t* file_bytes);
  // Where each tensor's bytes are: for weights streamed into memory the model does not map.
  using TensorLocator = std::function<const uint8_t*(const GgufTensorInfo&)>;
  static Result<std::unique_ptr<LlamaModel>> FromGguf(GgufFile gguf, const TensorLocator& locate);
  // For a GPU backend: the matrices' `data` are addresses in GPU memory, which the host must not
  // read, so no CPU-packed copies are made; vectors (norms, biases) must still be in host memory.
  static Result<std::unique_ptr<LlamaModel>> FromGgufOnDevice(GgufFile gguf, const TensorLocator& locate);
  // Keeps the memory behind the tensors alive as long as the model.
  void KeepAlive(std::shared_ptr<const void> storage) { storage_.push_back(std::move(storage)); }

  const ModelConfig& config() const { return config_; }
  const GgufFile& gguf() const { return gguf_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  const cpu::WeightMatrix& token_embedding() const { return token_embedding_; }  // [vocab, embedding]
  const cpu::WeightMatrix& output() const { return output_; }                    // [vocab, embedding]
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<float>& rope_inv_freq() const { return rope_inv_freq_; }
  bool matrices_on_device() const { return matrices_on_device_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  uint64_t parameter_count() const;  // elements of every tensor
  DType main_weight_type() const;    // the type holding the most bytes, as model names quote it

 private:
  MappedFile file_;
  std::vector<std::shared_ptr<const void>> storage_;
  GgufFile gguf_;
  ModelConfig config_;
  std::vector<LayerWeights> layers_;
  cpu::WeightMatrix token_embedding_;
  cpu::WeightMatrix output_;
  std::vector<float> output_norm_;
  std::vector<float> rope_inv_freq_;
  uint64_t weight_bytes_ = 0;
  bool matrices_on_device_ = false;

  static Result<std::unique_ptr<LlamaModel>> Bind(GgufFile gguf, const TensorLocator& locate, bool matrices_on_device);
};

}  // namespace riglm
