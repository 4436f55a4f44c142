// Splits text into the pieces a byte-level BPE tokenizer merges within, using the regex
// sequence of the model family named by tokenizer.ggml.pre (or given by tokenizer.json).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "text/regex.h"
#include "util/status.h"

namespace riglm {

class PreTokenizer {
 public:
  // The patterns of a known `pre` name. Unknown names give the default (GPT-2) rules and set
  // *known to false so the caller can warn.
  static Result<PreTokenizer> ForName(std::string_view pre, bool* known);
  static Result<PreTokenizer> FromPatterns(const std::vector<std::string>& patterns);

  // Each regex splits every piece the previous one produced; matches and the text between
  // them both become pieces. Returns UTF-8 pieces in order.
  std::vector<std::string> Split(std::string_view text) const;

 private:
  std::vector<text::Regex> regexes_;
};

}  // namespace riglm
