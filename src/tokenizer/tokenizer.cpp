#include "tokenizer/tokenizer.h"

#include <algorithm>

#include <cstdio>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace riglm {

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  // Models presented from Hugging Face folders carry their tokenizer files whole.
  if (file.Find("tokenizer.ggml.model") == nullptr && file.Find("tokenizer.huggingface.json") != nullptr) {
    RIGLM_ASSIGN_OR_RETURN(std::string json, file.GetString("tokenizer.huggingface.json"));
    std::string config;
    if (file.Find("tokenizer.huggingface.config") != nullptr) {
      RIGLM_ASSIGN_OR_RETURN(config, file.GetString("tokenizer.huggingface.config"));
    }
    RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadHuggingFaceTokenizer(json, config, file.name()));
    if (const GgufValue* eos = file.Find("tokenizer.ggml.eos_token_ids")) {
      if (const auto* ids = std::get_if<GgufArray>(&eos->data)) {
        for (const GgufValue& id : ids->items) {
          if (const auto* v = std::get_if<int64_t>(&id.data)) tokenizer->AddEndOfGeneration(static_cast<int32_t>(*v));
        }
      }
    }
    return tokenizer;
  }
  if (file.Find("tokenizer.ggml.model") == nullptr) {
    return NotFound(file.name() + ": the model has no tokenizer (no tokenizer.ggml.model metadata, or no tokenizer.json "
                    "beside a safetensors model)");
  }
  RIGLM_ASSIGN_OR_RETURN(Vocab vocab, Vocab::FromGguf(file));
  std::unique_ptr<Tokenizer> tokenizer;
  if (vocab.model == "llama") {
    tokenizer = std::make_unique<SpmTokenizer>(std::move(vocab));
  } else if (vocab.model == "gpt2") {
    std::vector<std::string> merges;
    RIGLM_ASSIGN_OR_RETURN(const GgufArray* merge_array, file.GetArray("tokenizer.ggml.merges"));
    merges.reserve(merge_array->items.size());
    for (const GgufValue& m : merge_array->items) {
      const auto* s = std::get_if<std::string>(&m.data);
      if (s == nullptr) return Corruption(file.name() + ": tokenizer.ggml.merges must hold strings");
      merges.push_back(*s);
    }
    bool known = false;
    RIGLM_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::ForName(vocab.pre, &known));
    if (!known) {
      std::fprintf(stderr, "riglm: warning: %s: unknown pre-tokenizer '%s'; using the GPT-2 rules\n",
                   file.name().c_str(), vocab.pre.c_str());
    }
    const bool ignore_merges = vocab.pre == "llama3" || vocab.pre == "llama-bpe" || vocab.pre == "llama-v3";
    RIGLM_ASSIGN_OR_RETURN(tokenizer, BpeTokenizer::Create(std::move(vocab), merges, std::move(pre), ignore_merges));
  } else {
    return Unsupported(file.name() + ": tokenizer model '" + vocab.model + "' is not supported (supported: llama, gpt2)");
  }
  tokenizer->IndexSpecialTokens();
  return tokenizer;
}

void Tokenizer::IndexSpecialTokens() {
  special_ids_.clear();
  for (auto& list : special_by_first_byte_) list.clear();
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    const TokenType type = vocab_.types[id];
    if ((type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown) &&
        !vocab_.texts[id].empty()) {
      special_ids_.push_back(id);
    }
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(),
                   [&](int32_t a, int32_t b) { return vocab_.texts[a].size() > vocab_.texts[b].size(); });
  for (int32_t id : special_ids_) {
    special_by_first_byte_[static_cast<unsigned char>(vocab_.texts[id][0])].push_back(id);
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> out;
  if (options.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  // Special-token texts are cut out first: user-defined tokens always (as Hugging Face's
  // tokenizers do), control and unknown tokens only when asked. The text between is plain.
  size_t plain_start = 0, pos = 0;
  bool after_special = true;  // SentencePiece prefixes a space at the start and after specials
  while (pos < text.size()) {
    int32_t match = -1;
    for (int32_t id : special_by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const std::string& s = vocab_.texts[id];
      if (!options.parse_special && vocab_.types[id] != TokenType::kUserDefined) continue;
      if (text.compare(pos, s.size(), s) == 0) {
        match = id;
        break;
      }
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    if (pos > plain_start) EncodeText(text.substr(plain_start, pos - plain_start), after_special, &out);
    out.push_back(match);
    after_special = true;
    pos += vocab_.texts[match].size();
    plain_start = pos;
  }
  if (plain_start < text.size()) EncodeText(text.substr(plain_start), after_special, &out);
  if (options.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += TokenToPiece(id, render_special);
  return out;
}

}  // namespace riglm
