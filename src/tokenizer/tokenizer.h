// Text <-> token ids. One interface over the tokenizer families that GGUF files use; each
// family is its own class behind it. Thread-safe for concurrent Encode/Decode calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.h"
#include "tokenizer/vocab.h"

namespace riglm {

struct EncodeOptions {
  bool add_bos = false;        // prepend BOS if the vocabulary has one
  bool add_eos = false;        // append EOS if the vocabulary has one
  bool parse_special = false;  // turn control-token texts inside the input into those tokens
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Builds the tokenizer that the file's tokenizer.ggml.model names.
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  std::vector<int32_t> Encode(std::string_view text, const EncodeOptions& options) const;
  // The bytes a token stands for. Control tokens give "" unless `render_special`.
  virtual std::string TokenToPiece(int32_t id, bool render_special = false) const = 0;
  std::string Decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  const Vocab& vocab() const { return vocab_; }

  // Builds the lookup of special-token texts; loaders call it once the vocabulary is final.
  void IndexSpecialTokens();
  // One more token that ends generation (generation_config.json lists several for some models).
  void AddEndOfGeneration(int32_t id) {
    if (id >= 0 && id < vocab_.size() && !vocab_.IsEndOfGeneration(id)) vocab_.end_of_generation.push_back(id);
  }

 protected:
  explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
  // Encodes plain text (no special tokens); `at_start` is true at the start of the input and
  // right after a special token.
  virtual void EncodeText(std::string_view text, bool at_start, std::vector<int32_t>* out) const = 0;

  Vocab vocab_;
  std::vector<int32_t> special_ids_;  // control / user-defined / unknown tokens, longest first
  std::vector<int32_t> special_by_first_byte_[256];  // the same, by their first byte
};

}  // namespace riglm
