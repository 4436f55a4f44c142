// Whether text is the beginning of one JSON value (RFC 8259), fed a character at a time: the
// check behind `format: "json"` (Ollama) and `response_format: json_object` (OpenAI), which
// masks every token that would make the output stop being a JSON prefix. Given a schema, also
// the beginning of a value the schema accepts (see JsonSchema for the keywords enforced), and
// never a prefix that could not be completed into one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/json_schema.h"

namespace riglm {

class JsonPrefix {
 public:
  JsonPrefix() = default;
  explicit JsonPrefix(std::shared_ptr<const JsonSchema> schema) : root_(std::move(schema)) {}

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
  // Schema checks; all pass when there is no schema.
  struct Frame {
    const JsonSchema* schema = nullptr;  // null: anything goes inside
    std::vector<bool> seen;              // objects: properties present so far
    const JsonSchema* value = nullptr;   // objects: the schema of the value after the current key
    int64_t items = 0;                   // arrays: elements begun
  };
  const JsonSchema* NextValueSchema() const;
  bool StartValue(char c);
  bool CanClose() const;
  bool CanContinue() const;  // a comma may follow
  bool KeyPossible() const;
  bool StringChar(char c);
  bool StringEnd();

  std::vector<char> stack_;  // '{' or '['
  Expect expect_ = Expect::kValue;
  Mode mode_ = Mode::kNone;
  Number number_ = Number::kSign;
  bool string_is_key_ = false;
  int unicode_left_ = 0;
  const char* literal_ = nullptr;  // the rest of true / false / null
  int whitespace_run_ = 0;         // a model must not pad forever
  std::shared_ptr<const JsonSchema> root_;
  std::vector<Frame> frames_;           // with a schema: one per open container
  const JsonSchema* string_schema_ = nullptr;  // the string being read when its text is constrained
  bool key_constrained_ = false;
  std::string text_;                    // that text so far
  bool integer_only_ = false;
};

}  // namespace riglm
