#include "model/synthetic.h"

#include <cmath>
#include <cstdio>

#include "tensor/quant.h"

namespace riglm {
namespace {

// Uniform floats in [-scale, scale), from a counter-based generator so any row can be made alone.
void FillRandom(uint64_t seed, uint64_t row, float scale, float* out, int64_t n) {
  uint64_t s = (seed ^ (row * 0xd1b54a32d192ed03ull)) * 0x9e3779b97f4a7c15ull + 1;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    out[i] = scale * (static_cast<float>(s >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
}

DType Fit(DType wanted, int64_t cols) {
  if (cols % GetDTypeInfo(wanted).block_elements == 0) return wanted;
  return cols % 32 == 0 ? DType::kQ8_0 : DType::kF16;
}

}  // namespace

void AddSyntheticVocabulary(GgufWriter* w, int64_t size) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256 && static_cast<int64_t>(tokens.size()) < size; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
  }
  while (static_cast<int64_t>(tokens.size()) < size) {
    tokens.push_back("\xe2\x96\x81piece" + std::to_string(tokens.size()));
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
  w->SetString("tokenizer.ggml.model", "llama");
  w->SetStringArray("tokenizer.ggml.tokens", tokens);
  w->SetFloat32Array("tokenizer.ggml.scores", scores);
  w->SetInt32Array("tokenizer.ggml.token_type", types);
  w->SetUint32("tokenizer.ggml.bos_token_id", 1);
  w->SetUint32("tokenizer.ggml.eos_token_id", 2);
  w->SetUint32("tokenizer.ggml.unknown_token_id", 0);
}

Result<GgufWriter> SyntheticModelWriter(const ModelShape& s, const QuantRecipe& recipe, uint64_t seed) {
  RIGLM_RETURN_IF_ERROR(s.Validate());
  GgufWriter w;
  const std::string& a = s.architecture;
  w.SetString("general.architecture", a);
  w.SetString("general.name", "synthetic " + (s.name.empty() ? a : s.name) + " " + recipe.name());
  w.SetUint32(a + ".context_length", static_cast<uint32_t>(s.context));
  w.SetUint32(a + ".embedding_length", static_cast<uint32_t>(s.embedding));
  w.SetUint32(a + ".block_count", static_cast<uint32_t>(s.layers));
  w.SetUint32(a + ".feed_forward_length", static_cast<uint32_t>(s.ffn));
  w.SetUint32(a + ".attention.head_count", static_cast<uint32_t>(s.heads));
  w.SetUint32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
  w.SetFloat32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetFloat32(a + ".rope.freq_base", static_cast<float>(s.rope_base));
  AddSyntheticVocabulary(&w, s.vocab);

  uint64_t tensor_seed = seed * 7919;
  auto add = [&](const std::string& name, int64_t layer, int64_t cols, int64_t rows, float base, float spread) {
    const std::string short_name = layer >= 0 ? name.substr(name.find('.', 4) + 1) : name;
    const DType type = Fit(recipe.TypeFor(short_name, layer, s.layers), cols);
    const uint64_t tseed = ++tensor_seed;
    std::vector<uint64_t> dims = {static_cast<uint64_t>(cols)};
    if (rows > 1) dims.push_back(static_cast<uint64_t>(rows));
    const uint64_t row_bytes = RowBytes(type, cols);
    w.AddTensor(name, type, dims, [=](uint64_t first, uint64_t count, uint8_t* out) {
      std::vector<float> values(cols);
      for (uint64_t r = 0; r < count; ++r) {
        FillRandom(tseed, first + r, spread, values.data(), cols);
        for (float& v : values) v += base;
        QuantizeRow(type, values.data(), out + r * row_bytes, cols);
      }
    });
  };
  const int64_t q_width = s.heads * s.head_dim(), kv_width = s.kv_heads * s.head_dim();
  const float weight_scale = 1.7f / std::sqrt(static_cast<float>(s.embedding));
  add("token_embd.weight", -1, s.embedding, s.vocab, 0.0f, 1.0f);
  add("output_norm.weight", -1, s.embedding, 1, 1.0f, 0.2f);
  if (!s.tied_output) add("output.weight", -1, s.embedding, s.vocab, 0.0f, weight_scale);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", l, s.embedding, 1, 1.0f, 0.2f);
    add(p + "attn_q.weight", l, s.embedding, q_width, 0.0f, weight_scale);
    add(p + "attn_k.weight", l, s.embedding, kv_width, 0.0f, weight_scale);
    add(p + "attn_v.weight", l, s.embedding, kv_width, 0.0f, weight_scale);
    if (a == "qwen2") {
      add(p + "attn_q.bias", l, q_width, 1, 0.0f, 0.5f);
      add(p + "attn_k.bias", l, kv_width, 1, 0.0f, 0.5f);
      add(p + "attn_v.bias", l, kv_width, 1, 0.0f, 0.5f);
    }
    add(p + "attn_output.weight", l, q_width, s.embedding, 0.0f, weight_scale);
    add(p + "ffn_norm.weight", l, s.embedding, 1, 1.0f, 0.2f);
    add(p + "ffn_gate.weight", l, s.embedding, s.ffn, 0.0f, weight_scale);
    add(p + "ffn_up.weight", l, s.embedding, s.ffn, 0.0f, weight_scale);
    add(p + "ffn_down.weight", l, s.ffn, s.embedding, 0.0f, 1.7f / std::sqrt(static_cast<float>(s.ffn)));
  }
  return w;
}

}  // namespace riglm
