// Byte-level BPE (tokenizer.ggml.model = "gpt2"): GPT-2, Llama 3, Qwen2, DeepSeek, StarCoder,
// Falcon, Mistral Nemo... Text is split by the family's pre-tokenizer, each piece's bytes are
// mapped to GPT-2's printable alphabet, and merges are applied lowest rank first.
#pragma once

#include <string>
#include <unordered_map>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace riglm {

class BpeTokenizer : public Tokenizer {
 public:
  // `merges` are "left right" strings, best first.
  static Result<std::unique_ptr<BpeTokenizer>> Create(Vocab vocab, const std::vector<std::string>& merges,
                                                      PreTokenizer pre_tokenizer, bool ignore_merges);
  std::string TokenToPiece(int32_t id, bool render_special = false) const override;

 protected:
  void EncodeText(std::string_view text, bool at_start, std::vector<int32_t>* out) const override;

 private:
  BpeTokenizer(Vocab vocab, PreTokenizer pre_tokenizer) : Tokenizer(std::move(vocab)), pre_(std::move(pre_tokenizer)) {}
  void EncodeWord(const std::string& word, std::vector<int32_t>* out) const;
  int Rank(std::string_view left, std::string_view right) const;

  PreTokenizer pre_;
  bool ignore_merges_ = false;
  StringMap<int> ranks_;  // left + '\0' + right -> rank
};

}  // namespace riglm
