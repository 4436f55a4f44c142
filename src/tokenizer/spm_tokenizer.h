// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): Llama 1/2, Mistral, Phi-3,
// Gemma. Merges adjacent pieces greedily by vocabulary score; characters the vocabulary lacks
// fall back to <0xNN> byte tokens.
#pragma once

#include "tokenizer/tokenizer.h"

namespace riglm {

class SpmTokenizer : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);
  std::string TokenToPiece(int32_t id, bool render_special = false) const override;

 protected:
  void EncodeText(std::string_view text, bool at_start, std::vector<int32_t>* out) const override;

 private:
  void EmitSymbol(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodeSegment(std::string_view text, std::vector<int32_t>* out) const;
  int32_t byte_ids_[256];
  // True when no token has a space marker after another character, so no merge can cross the
  // start of a word and words can be merged one at a time (much faster on long inputs).
  bool words_are_independent_ = false;
};

}  // namespace riglm
