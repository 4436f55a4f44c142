#include "server/json_prefix.h"

namespace riglm {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
constexpr int kMaxWhitespaceRun = 16;

}  // namespace

bool JsonPrefix::Feed(std::string_view text) {
  for (char c : text) {
    if (!FeedChar(c)) return false;
  }
  return true;
}

void JsonPrefix::ValueDone() {
  mode_ = Mode::kNone;
  expect_ = stack_.empty() ? Expect::kEnd : Expect::kCommaOrClose;
}

bool JsonPrefix::NumberComplete() const {
  return number_ == Number::kZero || number_ == Number::kInt || number_ == Number::kFrac || number_ == Number::kExp;
}

bool JsonPrefix::FeedChar(char c) {
  switch (mode_) {
    case Mode::kString:
      if (c == '"') {
        mode_ = Mode::kNone;
        if (string_is_key_) {
          expect_ = Expect::kColon;
        } else {
          ValueDone();
        }
        return true;
      }
      if (c == '\\') {
        mode_ = Mode::kEscape;
        return true;
      }
      return static_cast<unsigned char>(c) >= 0x20;
    case Mode::kEscape:
      if (c == 'u') {
        mode_ = Mode::kUnicode;
        unicode_left_ = 4;
        return true;
      }
      mode_ = Mode::kString;
      return c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't';
    case Mode::kUnicode:
      if (!IsHex(c)) return false;
      if (--unicode_left_ == 0) mode_ = Mode::kString;
      return true;
    case Mode::kLiteral:
      if (c != *literal_) return false;
      if (*++literal_ == '\0') ValueDone();
      return true;
    case Mode::kNumber:
      switch (number_) {
        case Number::kSign:
          if (c == '0') return number_ = Number::kZero, true;
          if (IsDigit(c)) return number_ = Number::kInt, true;
          return false;
        case Number::kZero:
        case Number::kInt:
          if (IsDigit(c) && number_ == Number::kInt) return true;
          if (c == '.') return number_ = Number::kFracStart, true;
          if (c == 'e' || c == 'E') return number_ = Number::kExpStart, true;
          break;
        case Number::kFracStart:
          return IsDigit(c) ? (number_ = Number::kFrac, true) : false;
        case Number::kFrac:
          if (IsDigit(c)) return true;
          if (c == 'e' || c == 'E') return number_ = Number::kExpStart, true;
          break;
        case Number::kExpStart:
          if (c == '+' || c == '-') return number_ = Number::kExpSign, true;
          return IsDigit(c) ? (number_ = Number::kExp, true) : false;
        case Number::kExpSign:
          return IsDigit(c) ? (number_ = Number::kExp, true) : false;
        case Number::kExp:
          if (IsDigit(c)) return true;
          break;
      }
      // Anything else ends a complete number and is then read as structure.
      if (!NumberComplete()) return false;
      ValueDone();
      return Structural(c);
    case Mode::kNone:
      return Structural(c);
  }
  return false;
}

bool JsonPrefix::Structural(char c) {
  if (IsSpace(c)) return ++whitespace_run_ <= kMaxWhitespaceRun;
  whitespace_run_ = 0;
  const bool in_object = !stack_.empty() && stack_.back() == '{';
  switch (expect_) {
    case Expect::kValueOrClose:
      if (c == ']') {
        stack_.pop_back();
        ValueDone();
        return true;
      }
      [[fallthrough]];
    case Expect::kValue:
      if (c == '{') {
        stack_.push_back('{');
        expect_ = Expect::kKeyOrClose;
        return stack_.size() <= 64;
      }
      if (c == '[') {
        stack_.push_back('[');
        expect_ = Expect::kValueOrClose;
        return stack_.size() <= 64;
      }
      if (c == '"') {
        mode_ = Mode::kString;
        string_is_key_ = false;
        return true;
      }
      if (c == '-' || IsDigit(c)) {
        mode_ = Mode::kNumber;
        number_ = c == '-' ? Number::kSign : c == '0' ? Number::kZero : Number::kInt;
        return true;
      }
      if (c == 't' || c == 'f' || c == 'n') {
        mode_ = Mode::kLiteral;
        literal_ = c == 't' ? "rue" : c == 'f' ? "alse" : "ull";
        return true;
      }
      return false;
    case Expect::kKeyOrClose:
      if (c == '}') {
        stack_.pop_back();
        ValueDone();
        return true;
      }
      [[fallthrough]];
    case Expect::kKey:
      if (c != '"') return false;
      mode_ = Mode::kString;
      string_is_key_ = true;
      return true;
    case Expect::kColon:
      if (c != ':') return false;
      expect_ = Expect::kValue;
      return true;
    case Expect::kCommaOrClose:
      if (c == ',') {
        expect_ = in_object ? Expect::kKey : Expect::kValue;
        return true;
      }
      if ((c == '}' && in_object) || (c == ']' && !in_object)) {
        stack_.pop_back();
        ValueDone();
        return true;
      }
      return false;
    case Expect::kEnd:
      return false;
  }
  return false;
}

}  // namespace riglm
