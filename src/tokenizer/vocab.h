// A model's vocabulary as GGUF stores it: token texts, scores, types and special token ids.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "format/gguf.h"
#include "util/status.h"

namespace riglm {

// Values are the on-disk ids of tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Lets maps keyed by std::string be searched with a string_view, without a temporary string.
struct TransparentStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, TransparentStringHash, std::equal_to<>>;

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), ...
  std::string pre;    // tokenizer.ggml.pre
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<TokenType> types;
  StringMap<int32_t> ids;  // text -> id
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1, eom_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;
  std::vector<int32_t> end_of_generation;  // ids that end a reply: EOS, EOT, <|im_end|>, ...

  int32_t size() const { return static_cast<int32_t>(texts.size()); }
  int32_t Find(std::string_view text) const {
    auto it = ids.find(text);
    return it == ids.end() ? -1 : it->second;
  }
  bool IsEndOfGeneration(int32_t id) const;

  static Result<Vocab> FromGguf(const GgufFile& file);
};

}  // namespace riglm
