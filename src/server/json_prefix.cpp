#include "server/json_prefix.h"

namespace riglm {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// Whitespace between tokens: a model must not pad forever, and under a schema (answers meant for
// programs) one character is room enough, so a small model cannot spend its tokens on layout.
constexpr int kMaxWhitespaceRun = 16;
constexpr int kMaxWhitespaceRunWithSchema = 1;

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
        if (!StringEnd()) return false;
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
        return !key_constrained_ && string_schema_ == nullptr;  // matched texts are written plainly
      }
      return static_cast<unsigned char>(c) >= 0x20 && StringChar(c);
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
      if (integer_only_ && (c == '.' || c == 'e' || c == 'E')) return false;
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
  if (IsSpace(c)) return ++whitespace_run_ <= (root_ ? kMaxWhitespaceRunWithSchema : kMaxWhitespaceRun);
  whitespace_run_ = 0;
  const bool in_object = !stack_.empty() && stack_.back() == '{';
  switch (expect_) {
    case Expect::kValueOrClose:
      if (c == ']') {
        if (!CanClose()) return false;
        stack_.pop_back();
        if (root_) frames_.pop_back();
        ValueDone();
        return true;
      }
      [[fallthrough]];
    case Expect::kValue:
      if (!StartValue(c)) return false;
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
        if (!CanClose()) return false;
        stack_.pop_back();
        if (root_) frames_.pop_back();
        ValueDone();
        return true;
      }
      [[fallthrough]];
    case Expect::kKey:
      if (c != '"' || !KeyPossible()) return false;
      mode_ = Mode::kString;
      string_is_key_ = true;
      key_constrained_ = root_ && frames_.back().schema != nullptr && frames_.back().schema->has_properties;
      string_schema_ = nullptr;
      text_.clear();
      return true;
    case Expect::kColon:
      if (c != ':') return false;
      expect_ = Expect::kValue;
      return true;
    case Expect::kCommaOrClose:
      if (c == ',') {
        expect_ = in_object ? Expect::kKey : Expect::kValue;
        return CanContinue();
      }
      if ((c == '}' && in_object) || (c == ']' && !in_object)) {
        if (!CanClose()) return false;
        stack_.pop_back();
        if (root_) frames_.pop_back();
        ValueDone();
        return true;
      }
      return false;
    case Expect::kEnd:
      return false;
  }
  return false;
}

const JsonSchema* JsonPrefix::NextValueSchema() const {
  if (frames_.empty()) return root_.get();
  const Frame& f = frames_.back();
  if (f.schema == nullptr) return nullptr;
  return stack_.back() == '{' ? f.value : f.schema->items.get();
}

bool JsonPrefix::StartValue(char c) {
  if (!root_) return true;
  const JsonSchema* schema = NextValueSchema();
  if (!frames_.empty() && stack_.back() == '[') {
    Frame& f = frames_.back();
    if (f.schema != nullptr && f.schema->max_items >= 0 && f.items >= f.schema->max_items) return false;
    ++f.items;
  }
  auto allows = [&](uint8_t types) { return schema == nullptr || (schema->types & types) != 0; };
  switch (c) {
    case '{':
      if (!allows(JsonSchema::kObject)) return false;
      frames_.push_back({schema, std::vector<bool>(schema ? schema->properties.size() : 0, false), nullptr, 0});
      return true;
    case '[':
      if (!allows(JsonSchema::kArray)) return false;
      frames_.push_back({schema, {}, nullptr, 0});
      return true;
    case '"':
      if (!allows(JsonSchema::kString)) return false;
      string_schema_ = schema != nullptr && schema->has_enum ? schema : nullptr;
      key_constrained_ = false;
      text_.clear();
      return true;
    case 't':
    case 'f':
      return allows(JsonSchema::kBoolean);
    case 'n':
      return allows(JsonSchema::kNull);
    default:  // a number (anything else fails in the caller)
      if (!allows(JsonSchema::kNumber | JsonSchema::kInteger)) return false;
      integer_only_ = schema != nullptr && !schema->Allows(JsonSchema::kNumber);
      return true;
  }
}

bool JsonPrefix::CanClose() const {
  if (frames_.empty() || frames_.back().schema == nullptr) return true;
  const Frame& f = frames_.back();
  if (stack_.back() == '[') return f.items >= f.schema->min_items;
  for (size_t i = 0; i < f.seen.size(); ++i) {
    if (f.schema->required[i] && !f.seen[i]) return false;
  }
  return true;
}

bool JsonPrefix::KeyPossible() const {
  if (frames_.empty() || frames_.back().schema == nullptr || !frames_.back().schema->has_properties) return true;
  for (bool seen : frames_.back().seen) {
    if (!seen) return true;
  }
  return false;  // every property is there: only the closing brace may follow
}

bool JsonPrefix::CanContinue() const {
  if (frames_.empty() || frames_.back().schema == nullptr) return true;
  const Frame& f = frames_.back();
  if (stack_.back() == '[') return f.schema->max_items < 0 || f.items < f.schema->max_items;
  return KeyPossible();
}

bool JsonPrefix::StringChar(char c) {
  if (!key_constrained_ && string_schema_ == nullptr) return true;
  text_ += c;
  if (key_constrained_) {
    const Frame& f = frames_.back();
    for (size_t i = 0; i < f.seen.size(); ++i) {
      if (!f.seen[i] && f.schema->properties[i].first.starts_with(text_)) return true;
    }
    return false;
  }
  for (const std::string& value : string_schema_->string_enum) {
    if (value.starts_with(text_)) return true;
  }
  return false;
}

bool JsonPrefix::StringEnd() {
  if (string_is_key_) {
    if (!root_) return true;
    Frame& f = frames_.back();
    f.value = nullptr;
    if (!key_constrained_) return true;
    key_constrained_ = false;
    const int index = f.schema->PropertyIndex(text_);
    if (index < 0 || f.seen[index]) return false;
    f.seen[index] = true;
    f.value = f.schema->properties[index].second.get();
    return true;
  }
  if (string_schema_ == nullptr) return true;
  const JsonSchema* schema = string_schema_;
  string_schema_ = nullptr;
  for (const std::string& value : schema->string_enum) {
    if (value == text_) return true;
  }
  return false;
}

}  // namespace riglm
