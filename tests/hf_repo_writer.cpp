#include "hf_repo_writer.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"
#include "model/config.h"
#include "tensor/quant.h"
#include "tokenizer/vocab.h"
#include "util/files.h"

namespace riglm::testing {
namespace {

using Json = nlohmann::json;

std::string HfName(const std::string& gguf) {
  static const std::map<std::string, std::string> kGlobal = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"}};
  static const std::map<std::string, std::string> kLayer = {
      {"attn_norm.weight", "input_layernorm.weight"},     {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},       {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_q.bias", "self_attn.q_proj.bias"},           {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.bias", "self_attn.v_proj.bias"},           {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"}, {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},            {"ffn_down.weight", "mlp.down_proj.weight"}};
  if (auto it = kGlobal.find(gguf); it != kGlobal.end()) return it->second;
  const size_t dot = gguf.find('.', 4);
  return "model.layers." + gguf.substr(4, dot - 4) + "." + kLayer.at(gguf.substr(dot + 1));
}

// GGUF converters reorder each head's q/k rows from "first half, second half" to interleaved
// pairs; this puts them back.
std::vector<float> UnpermuteHeads(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t heads) {
  std::vector<float> out(w.size());
  const int64_t hd = rows / heads;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t j = 0; j < hd / 2; ++j) {
      for (int64_t s = 0; s < 2; ++s) {
        std::copy_n(&w[(h * hd + 2 * j + s) * cols], cols, &out[(h * hd + s * hd / 2 + j) * cols]);
      }
    }
  }
  return out;
}

std::vector<uint8_t> Encode(DType type, const std::vector<float>& values) {
  std::vector<uint8_t> out(values.size() * GetDTypeInfo(type).block_bytes);
  QuantizeRow(type, values.data(), out.data(), static_cast<int64_t>(values.size()));
  return out;
}

// A SentencePiece vocabulary as tokenizer.json BPE: merges in the order of the merged piece's
// score, which is what SentencePiece's BPE follows.
Json TokenizerJson(const Vocab& vocab) {
  Json pieces = Json::object();
  Json added = Json::array();
  std::vector<int32_t> by_score;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    pieces[vocab.texts[id]] = id;
    const TokenType type = vocab.types[id];
    if (type == TokenType::kControl || type == TokenType::kUnknown) {
      added.push_back({{"id", id}, {"content", vocab.texts[id]}, {"special", true}});
    } else if (type == TokenType::kNormal) {
      by_score.push_back(id);
    }
  }
  std::stable_sort(by_score.begin(), by_score.end(), [&](int32_t a, int32_t b) { return vocab.scores[a] > vocab.scores[b]; });
  Json merges = Json::array();
  for (int32_t id : by_score) {
    const std::string& t = vocab.texts[id];
    for (size_t cut = 1; cut < t.size(); ++cut) {
      if ((static_cast<uint8_t>(t[cut]) & 0xC0) == 0x80) continue;  // inside a UTF-8 sequence
      if (vocab.Find(t.substr(0, cut)) >= 0 && vocab.Find(t.substr(cut)) >= 0) {
        merges.push_back(t.substr(0, cut) + " " + t.substr(cut));
      }
    }
  }
  Json doc;
  doc["version"] = "1.0";
  doc["added_tokens"] = added;
  doc["normalizer"] = {{"type", "Sequence"},
                       {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}},
                                        {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}}}}};
  doc["pre_tokenizer"] = nullptr;
  doc["model"] = {{"type", "BPE"}, {"vocab", pieces}, {"merges", merges}, {"byte_fallback", true},
                  {"unk_token", vocab.unk_id >= 0 ? Json(vocab.texts[vocab.unk_id]) : Json()}};
  return doc;
}

}  // namespace

Result<std::vector<std::string>> WriteHfRepoFromGguf(const GgufFile& gguf, const uint8_t* file_bytes,
                                                      const std::string& dir, const HfRepoOptions& options) {
  RIGLM_ASSIGN_OR_RETURN(ModelConfig c, ModelConfig::FromGguf(gguf));
  RIGLM_ASSIGN_OR_RETURN(Vocab vocab, Vocab::FromGguf(gguf));
  std::vector<std::string> written;
  auto write_text = [&](const std::string& name, const std::string& text) -> Status {
    written.push_back(name);
    return WriteFileAtomically(dir + "/" + name, text);
  };
  const bool tied = gguf.FindTensor("output.weight") == nullptr;
  const bool qwen2 = c.architecture == Architecture::kQwen2;
  Json config = {{"architectures", {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
                 {"model_type", qwen2 ? "qwen2" : "llama"},
                 {"hidden_size", c.embedding_length},
                 {"intermediate_size", c.feed_forward_length},
                 {"num_hidden_layers", c.block_count},
                 {"num_attention_heads", c.head_count},
                 {"num_key_value_heads", c.head_count_kv},
                 {"max_position_embeddings", c.context_length},
                 {"vocab_size", c.vocab_size},
                 {"rms_norm_eps", c.rms_norm_eps},
                 {"rope_theta", c.rope_freq_base},
                 {"tie_word_embeddings", tied},
                 {"torch_dtype", options.dtype == DType::kBF16 ? "bfloat16" : options.dtype == DType::kF16 ? "float16" : "float32"}};
  RIGLM_RETURN_IF_ERROR(write_text("config.json", config.dump(2)));
  RIGLM_RETURN_IF_ERROR(write_text("tokenizer.json", TokenizerJson(vocab).dump()));
  Json tokenizer_config = {{"add_bos_token", vocab.add_bos}, {"add_eos_token", false}};
  if (vocab.bos_id >= 0) tokenizer_config["bos_token"] = vocab.texts[vocab.bos_id];
  if (vocab.eos_id >= 0) tokenizer_config["eos_token"] = vocab.texts[vocab.eos_id];
  if (vocab.unk_id >= 0) tokenizer_config["unk_token"] = vocab.texts[vocab.unk_id];
  RIGLM_RETURN_IF_ERROR(write_text("tokenizer_config.json", tokenizer_config.dump(2)));
  // Several end-of-generation ids, as Llama 3.1 lists them; the last one stands for such an extra.
  RIGLM_RETURN_IF_ERROR(write_text("generation_config.json", Json{{"eos_token_id", {vocab.eos_id, vocab.size() - 1}}}.dump(2)));

  std::vector<SafetensorsWriter> shards(std::max(1, options.shards));
  Json weight_map = Json::object();
  size_t index = 0;
  for (const GgufTensorInfo& t : gguf.tensors()) {
    const int64_t cols = static_cast<int64_t>(t.dims[0]);
    const int64_t rows = static_cast<int64_t>(t.num_elements / t.dims[0]);
    const uint8_t* data = file_bytes + gguf.data_offset_bytes() + t.offset_bytes;
    std::vector<float> values(t.num_elements);
    for (int64_t r = 0; r < rows; ++r) DequantizeRow(t.type, data + r * RowBytes(t.type, cols), &values[r * cols], cols);
    // Qwen2 converters keep Hugging Face's order; only llama's q and k were permuted.
    if (!qwen2 && t.name.ends_with("attn_q.weight")) values = UnpermuteHeads(values, rows, cols, c.head_count);
    if (!qwen2 && t.name.ends_with("attn_k.weight")) values = UnpermuteHeads(values, rows, cols, c.head_count_kv);
    std::vector<uint64_t> shape(t.dims.rbegin(), t.dims.rend());
    const DType type = shape.size() == 1 ? DType::kF32 : options.dtype;
    const size_t shard = index++ * shards.size() / gguf.tensors().size();
    shards[shard].Add(HfName(t.name), type, shape, Encode(type, values));
    weight_map[HfName(t.name)] = shard;
  }
  if (shards.size() == 1) {
    written.push_back("model.safetensors");
    RIGLM_RETURN_IF_ERROR(shards[0].WriteFile(dir + "/model.safetensors"));
    return written;
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    names.push_back(name);
    written.push_back(name);
    RIGLM_RETURN_IF_ERROR(shards[i].WriteFile(dir + "/" + name));
  }
  for (auto& [tensor, shard] : weight_map.items()) shard = names[shard.get<size_t>()];
  RIGLM_RETURN_IF_ERROR(write_text("model.safetensors.index.json", Json{{"metadata", Json::object()}, {"weight_map", weight_map}}.dump(2)));
  return written;
}

}  // namespace riglm::testing
