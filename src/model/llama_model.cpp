#include "model/llama_model.h"

#include <map>

#include "tensor/quant.h"
#include "util/strings.h"

namespace riglm {
namespace {

// Resolves tensor names against the file and checks them against the config, keeping the first
// error so the caller can report one clear message.
class TensorBinder {
 public:
  TensorBinder(const GgufFile& gguf, const LlamaModel::TensorLocator& locate, bool matrices_on_device)
      : gguf_(gguf), locate_(locate), matrices_on_device_(matrices_on_device) {}

  const GgufTensorInfo* Find(const std::string& name, std::vector<uint64_t> expected_dims, bool required) {
    const GgufTensorInfo* t = gguf_.FindTensor(name);
    if (t == nullptr) {
      if (required) Fail(NotFound(gguf_.name() + ": tensor '" + name + "' is missing"));
      return nullptr;
    }
    if (t->dims != expected_dims) {
      Fail(Corruption(gguf_.name() + ": tensor '" + name + "' has shape " + ShapeString(t->dims) +
                      ", the model's metadata implies " + ShapeString(expected_dims) +
                      "; is the file from another model variant?"));
      return nullptr;
    }
    return t;
  }

  cpu::WeightMatrix Matrix(const std::string& name, int64_t cols, int64_t rows, bool required = true) {
    const GgufTensorInfo* t = Find(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, required);
    if (t == nullptr) return {};
    if (!cpu::MatMulSupports(t->type)) {
      Fail(Unsupported(gguf_.name() + ": tensor '" + name + "' has type " + std::string(DTypeName(t->type)) +
                       ", which this build cannot compute with yet"));
      return {};
    }
    weight_bytes_ += t->size_bytes;
    cpu::WeightMatrix w{t->type, Data(*t), rows, cols, RowBytes(t->type, cols), nullptr};
    if (!matrices_on_device_) cpu::PreparePacked(&w);
    return w;
  }

  std::vector<float> Vector(const std::string& name, int64_t length, bool required = true) {
    const GgufTensorInfo* t = Find(name, {static_cast<uint64_t>(length)}, required);
    if (t == nullptr) return {};
    if (!CanDequantize(t->type)) {
      Fail(Unsupported(gguf_.name() + ": tensor '" + name + "' has unsupported type " +
                       std::string(DTypeName(t->type))));
      return {};
    }
    weight_bytes_ += t->size_bytes;
    std::vector<float> out(length);
    DequantizeRow(t->type, Data(*t), out.data(), length);
    return out;
  }

  const Status& status() const { return status_; }
  uint64_t weight_bytes() const { return weight_bytes_; }

 private:
  const uint8_t* Data(const GgufTensorInfo& t) const { return locate_(t); }
  void Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  const GgufFile& gguf_;
  const LlamaModel::TensorLocator& locate_;
  bool matrices_on_device_;
  Status status_;
  uint64_t weight_bytes_ = 0;
};

}  // namespace

Result<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& path) {
  RIGLM_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  RIGLM_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::Parse(file.bytes(), file.size(), path));
  RIGLM_ASSIGN_OR_RETURN(auto model, FromGguf(std::move(gguf), file.data()));
  model->file_ = std::move(file);  // the mapping's address does not change when moved
  return model;
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromGguf(GgufFile gguf, const uint8_t* file_bytes) {
  const uint64_t data_offset = gguf.data_offset_bytes();
  return FromGguf(std::move(gguf), [&](const GgufTensorInfo& t) { return file_bytes + data_offset + t.offset_bytes; });
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromGguf(GgufFile gguf, const TensorLocator& locate) {
  return Bind(std::move(gguf), locate, false);
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromGgufOnDevice(GgufFile gguf, const TensorLocator& locate) {
  return Bind(std::move(gguf), locate, true);
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::Bind(GgufFile gguf, const TensorLocator& locate, bool matrices_on_device) {
  auto model = std::make_unique<LlamaModel>();
  model->matrices_on_device_ = matrices_on_device;
  RIGLM_ASSIGN_OR_RETURN(model->config_, ModelConfig::FromGguf(gguf));
  const ModelConfig& c = model->config_;
  TensorBinder bind(gguf, locate, matrices_on_device);
  const int64_t embd = c.embedding_length;
  model->token_embedding_ = bind.Matrix("token_embd.weight", embd, c.vocab_size);
  model->output_norm_ = bind.Vector("output_norm.weight", embd);
  model->output_ = bind.Matrix("output.weight", embd, c.vocab_size, /*required=*/false);
  if (model->output_.data == nullptr && bind.status().ok()) model->output_ = model->token_embedding_;  // tied
  std::vector<float> freq_factors = bind.Vector("rope_freqs.weight", c.rope_dims / 2, /*required=*/false);
  model->rope_inv_freq_ = c.RopeInverseFrequencies(freq_factors);

  model->layers_.resize(c.block_count);
  for (int64_t layer_idx = 0; layer_idx < c.block_count && bind.status().ok(); ++layer_idx) {
    LayerWeights& l = model->layers_[layer_idx];
    const std::string p = "blk." + std::to_string(layer_idx) + ".";
    l.attn_norm = bind.Vector(p + "attn_norm.weight", embd);
    l.attn_q = bind.Matrix(p + "attn_q.weight", embd, c.q_width());
    l.attn_k = bind.Matrix(p + "attn_k.weight", embd, c.kv_width());
    l.attn_v = bind.Matrix(p + "attn_v.weight", embd, c.kv_width());
    l.attn_output = bind.Matrix(p + "attn_output.weight", c.q_width(), embd);
    if (c.has_qkv_bias) {
      l.bias_q = bind.Vector(p + "attn_q.bias", c.q_width());
      l.bias_k = bind.Vector(p + "attn_k.bias", c.kv_width());
      l.bias_v = bind.Vector(p + "attn_v.bias", c.kv_width());
    }
    l.ffn_norm = bind.Vector(p + "ffn_norm.weight", embd);
    l.ffn_gate = bind.Matrix(p + "ffn_gate.weight", embd, c.feed_forward_length);
    l.ffn_up = bind.Matrix(p + "ffn_up.weight", embd, c.feed_forward_length);
    l.ffn_down = bind.Matrix(p + "ffn_down.weight", c.feed_forward_length, embd);
  }
  RIGLM_RETURN_IF_ERROR(bind.status());
  model->weight_bytes_ = bind.weight_bytes();
  model->gguf_ = std::move(gguf);
  return model;
}

uint64_t LlamaModel::parameter_count() const {
  uint64_t n = 0;
  for (const GgufTensorInfo& t : gguf_.tensors()) n += t.num_elements;
  return n;
}

DType LlamaModel::main_weight_type() const {
  std::map<DType, uint64_t> bytes_by_type;
  for (const GgufTensorInfo& t : gguf_.tensors()) bytes_by_type[t.type] += t.size_bytes;
  DType main = DType::kF32;
  uint64_t best = 0;
  for (auto [type, bytes] : bytes_by_type) {
    if (bytes > best) {
      best = bytes;
      main = type;
    }
  }
  return main;
}

}  // namespace riglm
