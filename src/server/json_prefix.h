// Whether text is the beginning of one JSON value (RFC 8259), fed a character at a time: the
// check behind `format: "json"` (Ollama) and `response_format: json_object` (OpenAI), which
// masks every token that would make the output stop being a JSON prefix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace riglm {

class JsonPrefix {
 public:
  // Feeds `text`; false (and the state is then unspecified) as soon as a character cannot
  // continue a JSON value. Copy the object first to try a piece.
  bool Feed(std::string_view text);
  // A whole value has been read (only whitespace may follow).
  bool complete() const { return expect_ == Expect::kEnd && mode_ == Mode::kNone; }

 private:
  enum class Expect : uint8_t { kValue, kValueOrClose, kKeyOrClose, kKey, kColon, kCommaOrClose, kEnd };
  enum class Mode : uint8_t { kNone, kString, kEscape, kUnicode, kNumber, kLiteral };
  enum class Number : uint8_t { kSign, kZero, kInt, kFracStart, kFrac, kExpStart, kExpSign, kExp };
  bool FeedChar(char c);
  bool Structural(char c);
  void ValueDone();
  bool NumberComplete() const;

  std::vector<char> stack_;  // '{' or '['
  Expect expect_ = Expect::kValue;
  Mode mode_ = Mode::kNone;
  Number number_ = Number::kSign;
  bool string_is_key_ = false;
  int unicode_left_ = 0;
  const char* literal_ = nullptr;  // the rest of true / false / null
  int whitespace_run_ = 0;         // a model must not pad forever
};

}  // namespace riglm
