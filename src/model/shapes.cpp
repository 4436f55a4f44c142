#include "model/shapes.h"

#include <cctype>

namespace riglm {

Status ModelShape::Validate() const {
  if (architecture != "llama" && architecture != "qwen2") {
    return InvalidArgument("architecture '" + architecture + "' is not one of llama, qwen2");
  }
  if (layers <= 0 || embedding <= 0 || heads <= 0 || kv_heads <= 0 || ffn <= 0 || vocab <= 0) {
    return InvalidArgument("every dimension of the model shape must be positive");
  }
  if (embedding % heads != 0 || heads % kv_heads != 0 || head_dim() % 2 != 0) {
    return InvalidArgument("width " + std::to_string(embedding) + " must split into " + std::to_string(heads) +
                           " heads of even size, and heads into " + std::to_string(kv_heads) + " KV groups");
  }
  return Status::Ok();
}

const std::vector<ModelShape>& ModelShapePresets() {
  static const std::vector<ModelShape> presets = {
      {"llama-3.2-1b", "llama", 16, 2048, 32, 8, 8192, 128256, 131072, true, 500000.0},
      {"llama-3.2-3b", "llama", 28, 3072, 24, 8, 8192, 128256, 131072, true, 500000.0},
      {"tinyllama-1.1b", "llama", 22, 2048, 32, 4, 5632, 32000, 2048, false, 10000.0},
      {"llama-3.1-8b", "llama", 32, 4096, 32, 8, 14336, 128256, 131072, false, 500000.0},
      {"llama-3.1-70b", "llama", 80, 8192, 64, 8, 28672, 128256, 131072, false, 500000.0},
      {"mistral-7b", "llama", 32, 4096, 32, 8, 14336, 32768, 32768, false, 1000000.0},
      {"qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 4864, 151936, 32768, true, 1000000.0},
      {"qwen2.5-7b", "qwen2", 28, 3584, 28, 4, 18944, 152064, 32768, false, 1000000.0},
      {"qwen2.5-32b", "qwen2", 64, 5120, 40, 8, 27648, 152064, 32768, false, 1000000.0},
  };
  return presets;
}

Result<ModelShape> FindModelShape(const std::string& name) {
  std::string known;
  for (const ModelShape& s : ModelShapePresets()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  return NotFound("no model shape named '" + name + "' (known: " + known + ")");
}

Result<QuantRecipe> QuantRecipe::Parse(const std::string& raw) {
  std::string name;
  for (char c : raw) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  QuantRecipe r;
  r.name_ = name;
  struct Mixed {
    const char* name;
    DType base, more_bits, output;
  };
  // As llama.cpp's quantize chooses: the *_M recipes give attn_v and ffn_down of some layers
  // more bits, and the output matrix Q6_K.
  static const Mixed kMixed[] = {
      {"Q2_K", DType::kQ2_K, DType::kQ3_K, DType::kQ6_K},   {"Q3_K_S", DType::kQ3_K, DType::kQ3_K, DType::kQ6_K},
      {"Q3_K_M", DType::kQ3_K, DType::kQ5_K, DType::kQ6_K}, {"Q4_K_S", DType::kQ4_K, DType::kQ5_K, DType::kQ6_K},
      {"Q4_K_M", DType::kQ4_K, DType::kQ6_K, DType::kQ6_K}, {"Q5_K_S", DType::kQ5_K, DType::kQ5_K, DType::kQ6_K},
      {"Q5_K_M", DType::kQ5_K, DType::kQ6_K, DType::kQ6_K}, {"Q6_K", DType::kQ6_K, DType::kQ6_K, DType::kQ6_K},
      {"Q4_0", DType::kQ4_0, DType::kQ4_0, DType::kQ6_K},   {"Q4_1", DType::kQ4_1, DType::kQ4_1, DType::kQ6_K},
      {"Q5_0", DType::kQ5_0, DType::kQ5_0, DType::kQ6_K},   {"Q5_1", DType::kQ5_1, DType::kQ5_1, DType::kQ6_K},
      {"IQ4_NL", DType::kIQ4_NL, DType::kIQ4_NL, DType::kQ6_K},
  };
  for (const Mixed& m : kMixed) {
    if (name == m.name) {
      r.mixed_ = true;
      r.base_ = r.embedding_ = m.base;
      r.more_bits_ = m.more_bits;
      r.output_ = m.output;
      return r;
    }
  }
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
    if (name == DTypeName(t)) {
      r.base_ = r.embedding_ = r.more_bits_ = r.output_ = t;
      return r;
    }
  }
  return InvalidArgument("unknown quantization '" + raw +
                         "' (known: F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q4_K_M, Q4_K_S, Q3_K_M, Q3_K_S, Q2_K, "
                         "Q5_1, Q5_0, Q4_1, Q4_0, IQ4_NL)");
}

DType QuantRecipe::TypeFor(const std::string& tensor, int64_t layer, int64_t num_layers) const {
  if (tensor.find("norm") != std::string::npos || tensor.find("bias") != std::string::npos ||
      tensor == "rope_freqs.weight") {
    return DType::kF32;
  }
  if (tensor == "output.weight") return output_;
  if (tensor == "token_embd.weight") return embedding_;
  if (mixed_ && (tensor == "attn_v.weight" || tensor == "ffn_down.weight")) {
    // llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between.
    const bool more = layer < num_layers / 8 || layer >= 7 * num_layers / 8 || (layer - num_layers / 8) % 3 == 2;
    if (more) return more_bits_;
  }
  return base_;
}

DType QuantRecipe::TypeForMatrix(const std::string& tensor, int64_t layer, int64_t num_layers, int64_t cols) const {
  const DType type = TypeFor(tensor, layer, num_layers);
  if (cols % GetDTypeInfo(type).block_elements == 0) return type;
  return cols % 32 == 0 ? DType::kQ8_0 : DType::kF16;
}

}  // namespace riglm
