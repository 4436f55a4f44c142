#include "tokenizer/vocab.h"

#include <algorithm>

namespace riglm {

bool Vocab::IsEndOfGeneration(int32_t id) const {
  return std::find(end_of_generation.begin(), end_of_generation.end(), id) != end_of_generation.end();
}

Result<Vocab> Vocab::FromGguf(const GgufFile& file) {
  Vocab v;
  RIGLM_ASSIGN_OR_RETURN(v.model, file.GetString("tokenizer.ggml.model"));
  if (auto pre = file.GetString("tokenizer.ggml.pre"); pre.ok()) v.pre = *pre;
  RIGLM_ASSIGN_OR_RETURN(const GgufArray* tokens, file.GetArray("tokenizer.ggml.tokens"));
  const size_t n = tokens->items.size();
  if (n == 0 || n > (1u << 24)) return Corruption(file.name() + ": vocabulary of " + std::to_string(n) + " tokens");
  v.texts.resize(n);
  v.scores.assign(n, 0.0f);
  v.types.assign(n, TokenType::kNormal);
  v.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto* s = std::get_if<std::string>(&tokens->items[i].data);
    if (s == nullptr) return Corruption(file.name() + ": tokenizer.ggml.tokens must be an array of strings");
    v.texts[i] = *s;
    v.ids.emplace(*s, static_cast<int32_t>(i));  // the first of duplicate texts wins
  }
  if (file.Find("tokenizer.ggml.scores")) {
    RIGLM_ASSIGN_OR_RETURN(const GgufArray* scores, file.GetArray("tokenizer.ggml.scores"));
    if (scores->items.size() != n) return Corruption(file.name() + ": tokenizer.ggml.scores length differs from tokens");
    for (size_t i = 0; i < n; ++i) {
      const auto* f = std::get_if<double>(&scores->items[i].data);
      if (f == nullptr) return Corruption(file.name() + ": tokenizer.ggml.scores must be floats");
      v.scores[i] = static_cast<float>(*f);
    }
  }
  if (file.Find("tokenizer.ggml.token_type")) {
    RIGLM_ASSIGN_OR_RETURN(const GgufArray* types, file.GetArray("tokenizer.ggml.token_type"));
    if (types->items.size() != n) return Corruption(file.name() + ": tokenizer.ggml.token_type length differs from tokens");
    for (size_t i = 0; i < n; ++i) {
      const auto* t = std::get_if<int64_t>(&types->items[i].data);
      if (t == nullptr || *t < 0 || *t > 6) return Corruption(file.name() + ": bad tokenizer.ggml.token_type entry");
      v.types[i] = static_cast<TokenType>(*t);
    }
  }
  auto read_id = [&](const char* key, int32_t* out) -> Status {
    if (!file.Find(key)) return Status::Ok();
    // Converters write -1 (as int32 or uint32) for "no such token".
    if (auto signed_id = file.GetInt(key); signed_id.ok() && *signed_id == -1) return Status::Ok();
    RIGLM_ASSIGN_OR_RETURN(uint64_t id, file.GetUint(key));
    if (id == 0xFFFFFFFFu) return Status::Ok();
    if (id >= n) return Corruption(file.name() + ": " + key + " = " + std::to_string(id) + " is outside the vocabulary");
    *out = static_cast<int32_t>(id);
    return Status::Ok();
  };
  RIGLM_RETURN_IF_ERROR(read_id("tokenizer.ggml.bos_token_id", &v.bos_id));
  RIGLM_RETURN_IF_ERROR(read_id("tokenizer.ggml.eos_token_id", &v.eos_id));
  RIGLM_RETURN_IF_ERROR(read_id("tokenizer.ggml.unknown_token_id", &v.unk_id));
  RIGLM_RETURN_IF_ERROR(read_id("tokenizer.ggml.padding_token_id", &v.pad_id));
  RIGLM_RETURN_IF_ERROR(read_id("tokenizer.ggml.eot_token_id", &v.eot_id));
  RIGLM_RETURN_IF_ERROR(read_id("tokenizer.ggml.eom_token_id", &v.eom_id));

  const bool spm = v.model == "llama";
  v.add_bos = spm;
  v.add_space_prefix = spm;
  if (auto b = file.GetBool("tokenizer.ggml.add_bos_token"); b.ok()) v.add_bos = *b;
  if (auto b = file.GetBool("tokenizer.ggml.add_eos_token"); b.ok()) v.add_eos = *b;
  if (auto b = file.GetBool("tokenizer.ggml.add_space_prefix"); b.ok()) v.add_space_prefix = *b;

  // End-of-generation: the ids the metadata names, plus control tokens that chat models use to
  // end a turn even when the metadata forgets to say so.
  for (int32_t id : {v.eos_id, v.eot_id, v.eom_id}) {
    if (id >= 0 && !v.IsEndOfGeneration(id)) v.end_of_generation.push_back(id);
  }
  for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                           "<｜end▁of▁sentence｜>", "<|END_OF_TURN_TOKEN|>"}) {
    int32_t id = v.Find(text);
    if (id >= 0 && v.types[id] == TokenType::kControl && !v.IsEndOfGeneration(id)) v.end_of_generation.push_back(id);
  }
  return v;
}

}  // namespace riglm
