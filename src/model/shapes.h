// Shapes of well-known models, so that riglm can synthesize files (synth) and plan splits (plan)
// for models the user has not downloaded. One table, shared by every command that takes --shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "util/status.h"

namespace riglm {

struct ModelShape {
  std::string name;          // preset name, e.g. "llama-3.1-8b"
  std::string architecture;  // "llama" or "qwen2"
  int64_t layers = 0;
  int64_t embedding = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t ffn = 0;
  int64_t vocab = 0;
  int64_t context = 0;
  bool tied_output = false;
  double rope_base = 10000.0;

  int64_t head_dim() const { return embedding / heads; }
  Status Validate() const;
};

const std::vector<ModelShape>& ModelShapePresets();
// NotFound lists the preset names.
Result<ModelShape> FindModelShape(const std::string& name);

// Which type each tensor gets: a single type ("Q8_0", "F16") or a llama.cpp-style mixed recipe
// ("Q4_K_M", "Q5_K_S", ...) that keeps some tensors at higher precision.
class QuantRecipe {
 public:
  static Result<QuantRecipe> Parse(const std::string& name);  // InvalidArgument lists the recipes
  // `tensor` is the GGUF name without the "blk.N." prefix; layer is -1 for non-layer tensors.
  DType TypeFor(const std::string& tensor, int64_t layer, int64_t num_layers) const;
  // TypeFor, falling back to Q8_0 or F16 when rows of `cols` elements are not whole blocks of it.
  DType TypeForMatrix(const std::string& tensor, int64_t layer, int64_t num_layers, int64_t cols) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  DType base_ = DType::kF32;
  DType output_ = DType::kF32;      // output.weight
  DType embedding_ = DType::kF32;   // token_embd.weight
  DType more_bits_ = DType::kF32;   // attn_v / ffn_down in the layers that get more bits
  bool mixed_ = false;
};

}  // namespace riglm
