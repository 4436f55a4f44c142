// A small backtracking regular-expression engine over Unicode code points, for the split
// patterns of tokenizers (GPT-2, Llama 3, Qwen2, DeepSeek, ... and any tokenizer.json Split).
// Semantics follow Oniguruma/PCRE, which the reference tokenizers use: leftmost match,
// alternatives tried in order, greedy quantifiers, \p{..} categories, lookahead.
// Supported: literals, . [...] [^...] ranges, \s \S \d \D \w \W \p{X} \P{X} \r \n \t \f \v
// \xHH \uHHHH \b, groups ( ) (?: ) (?i: ) (?= ) (?! ), | ? * + {n} {n,} {n,m} (lazy ?,
// possessive + read as greedy), ^ $.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace riglm::text {

class Regex {
 public:
  // InvalidArgument with the pattern and the offending offset for bad or unsupported syntax.
  static Result<Regex> Compile(std::string_view pattern);

  // Finds the leftmost match in text[from, end) where the subject is text[begin, end): anchors
  // and lookahead see only that range. Returns false if there is none.
  bool Search(const char32_t* text, size_t begin, size_t end, size_t from, size_t* match_begin,
              size_t* match_end) const;

  // Splits text[begin, end) into pieces: each match, and each stretch between matches.
  // Appends [piece_begin, piece_end) pairs to `pieces`.
  void Split(const char32_t* text, size_t begin, size_t end, std::vector<std::pair<size_t, size_t>>* pieces) const;

  const std::string& pattern() const { return pattern_; }

  struct ClassItem {
    char32_t lo = 0, hi = 0;  // a range, when flags == 0
    uint32_t flags = 0;       // a property set (text::CodePointFlag bits)
    bool negated = false;     // for property items: \S, \P{L}
  };
  struct CharClass {
    std::vector<ClassItem> items;
    bool negated = false;
    bool Matches(char32_t cp) const;
  };
  enum class Op : uint8_t { kClass, kSplit, kJump, kMatch, kBegin, kEnd, kWordBoundary, kLookahead };
  struct Inst {
    Op op;
    bool negative = false;  // kLookahead: (?! ) rather than (?= )
    int32_t x = 0;          // kClass: class index; kSplit/kJump/kLookahead: target
    int32_t y = 0;          // kSplit: the lower-priority target
  };

 private:
  friend class RegexCompiler;
  struct Thread {
    int32_t pc;
    size_t pos;
  };
  // `stack` is scratch space, reused across calls to avoid allocating per match attempt.
  bool Run(int32_t pc, const char32_t* text, size_t begin, size_t end, size_t pos, size_t* match_end,
           std::vector<Thread>& stack) const;

  std::string pattern_;
  std::vector<Inst> program_;
  std::vector<CharClass> classes_;
};

}  // namespace riglm::text
