#include "template/lexer.h"

#include <cctype>

#include "text/unicode.h"

namespace riglm::jinja {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(source) {}

  Result<std::vector<Token>> Run() {
    bool line_starting = true;  // Jinja treats the template start as the start of a line
    bool strip_next_text = false;
    while (pos_ < src_.size()) {
      size_t open = FindOpen(pos_);
      std::string text(src_.substr(pos_, open - pos_));
      const size_t text_begin = pos_;
      if (strip_next_text) {
        size_t k = 0;
        while (k < text.size() && IsSpace(text[k])) ++k;
        text.erase(0, k);
        strip_next_text = false;
      }
      if (open == src_.size()) {
        AddText(std::move(text), text_begin);
        break;
      }
      const char kind = src_[open + 1];  // '{', '%' or '#'
      const char modifier = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (modifier == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if ((kind == '%' || kind == '#') && modifier != '+') {
        // lstrip_blocks: whitespace alone between the line start and the tag goes away.
        const size_t line_start = text.rfind('\n');
        const size_t from = line_start == std::string::npos ? 0 : line_start + 1;
        if (line_start != std::string::npos || line_starting) {
          bool blank = true;
          for (size_t k = from; k < text.size() && blank; ++k) blank = text[k] == ' ' || text[k] == '\t';
          if (blank) text.erase(from);
        }
      }
      AddText(std::move(text), text_begin);
      pos_ = open + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      bool trim_after = false;
      if (kind == '#') {
        const size_t close = src_.find("#}", pos_);
        if (close == std::string_view::npos) return Error(open, "unterminated comment");
        strip_next_text = close > pos_ && src_[close - 1] == '-';
        trim_after = !strip_next_text && !(close > pos_ && src_[close - 1] == '+');
        pos_ = close + 2;
      } else {
        RIGLM_RETURN_IF_ERROR(LexTag(kind, open, &strip_next_text, &trim_after));
      }
      // trim_blocks: the first newline after a block or comment tag goes away.
      line_starting = false;
      if (trim_after && kind != '{' && pos_ < src_.size() && src_[pos_] == '\n') {
        ++pos_;
        line_starting = true;
      }
    }
    tokens_.push_back({Token::Kind::kEnd, "", line_, 1});
    return std::move(tokens_);
  }

 private:
  Status Error(size_t at, const std::string& what) const {
    auto [line, column] = Position(at);
    return InvalidArgument("chat template: " + what + " at line " + std::to_string(line) + ", column " +
                           std::to_string(column));
  }

  // Line and column of a byte offset; offsets mostly increase, so scanning resumes from the
  // last one asked about.
  std::pair<int, int> Position(size_t at) const {
    if (at < cursor_) {
      cursor_ = 0;
      cursor_line_ = cursor_column_ = 1;
    }
    for (; cursor_ < at && cursor_ < src_.size(); ++cursor_) {
      if (src_[cursor_] == '\n') {
        ++cursor_line_;
        cursor_column_ = 1;
      } else {
        ++cursor_column_;
      }
    }
    return {cursor_line_, cursor_column_};
  }

  size_t FindOpen(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  void AddText(std::string text, size_t at) {
    if (text.empty()) return;
    auto [line, column] = Position(at);
    tokens_.push_back({Token::Kind::kText, std::move(text), line, column});
  }

  void Add(Token::Kind kind, std::string text, size_t at) {
    auto [line, column] = Position(at);
    tokens_.push_back({kind, std::move(text), line, column});
  }

  Status LexTag(char kind, size_t open, bool* strip_next_text, bool* trim_after) {
    const bool expression = kind == '{';
    Add(expression ? Token::Kind::kExpressionBegin : Token::Kind::kStatementBegin, "", open);
    const char close_char = expression ? '}' : '%';
    int depth = 0;  // open brackets: a '}' that closes a dict literal is not the tag's end
    while (true) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) return Error(open, "unterminated tag");
      const char c = src_[pos_];
      // The tag's end, optionally with a whitespace-control modifier.
      if (depth == 0) {
        size_t p = pos_;
        char modifier = '\0';
        if ((c == '-' || c == '+') && p + 2 < src_.size() + 0 && src_[p + 1] == close_char && p + 2 < src_.size() &&
            src_[p + 2] == '}') {
          modifier = c;
          ++p;
        }
        if (src_[p] == close_char && p + 1 < src_.size() && src_[p + 1] == '}') {
          Add(expression ? Token::Kind::kExpressionEnd : Token::Kind::kStatementEnd, "", pos_);
          *strip_next_text = modifier == '-';
          *trim_after = modifier == '\0';
          pos_ = p + 2;
          return Status::Ok();
        }
      }
      const size_t start = pos_;
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        while (pos_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
        Add(Token::Kind::kName, std::string(src_.substr(start, pos_ - start)), start);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        bool is_float = false;
        while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
        if (pos_ + 1 < src_.size() && src_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
          is_float = true;
          ++pos_;
          while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
        }
        if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
          size_t q = pos_ + 1;
          if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
          if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
            is_float = true;
            pos_ = q;
            while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
          }
        }
        std::string number;
        for (char d : src_.substr(start, pos_ - start)) {
          if (d != '_') number += d;
        }
        Add(is_float ? Token::Kind::kFloat : Token::Kind::kInteger, number, start);
      } else if (c == '\'' || c == '"') {
        std::string value;
        RIGLM_RETURN_IF_ERROR(LexString(c, &value));
        Add(Token::Kind::kString, std::move(value), start);
      } else {
        static const char* const kTwoChar[] = {"**", "//", "==", "!=", "<=", ">="};
        std::string op(1, c);
        for (const char* two : kTwoChar) {
          if (src_.substr(pos_, 2) == two) op = two;
        }
        if (op.size() == 1 && std::string_view("+-*/%~<>=()[]{},.:|!").find(c) == std::string_view::npos) {
          return Error(pos_, std::string("unexpected character '") + c + "'");
        }
        if (op == "!") return Error(pos_, "unexpected '!'");
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        pos_ += op.size();
        Add(Token::Kind::kOperator, op, start);
      }
    }
  }

  // A Python string literal; escapes decoded as Python's unicode-escape does.
  Status LexString(char quote, std::string* out) {
    const size_t start = pos_++;
    while (true) {
      if (pos_ >= src_.size()) return Error(start, "unterminated string");
      const char c = src_[pos_++];
      if (c == quote) return Status::Ok();
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= src_.size()) return Error(start, "unterminated string");
      const char e = src_[pos_++];
      switch (e) {
        case 'n': *out += '\n'; break;
        case 't': *out += '\t'; break;
        case 'r': *out += '\r'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'v': *out += '\v'; break;
        case 'a': *out += '\a'; break;
        case '0': *out += '\0'; break;
        case '\\': *out += '\\'; break;
        case '\'': *out += '\''; break;
        case '"': *out += '"'; break;
        case '\n': break;  // line continuation
        case 'x': case 'u': case 'U': {
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos_ + digits > src_.size()) return Error(pos_, "truncated escape");
          char32_t cp = 0;
          for (int i = 0; i < digits; ++i) {
            const char h = src_[pos_ + i];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return Error(pos_, "bad escape");
            cp = cp * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
          }
          pos_ += digits;
          text::AppendUtf8(cp, out);
          break;
        }
        default:
          *out += '\\';
          *out += e;
      }
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
  mutable size_t cursor_ = 0;
  mutable int cursor_line_ = 1, cursor_column_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

Result<std::vector<Token>> Lex(std::string_view source) {
  // keep_trailing_newline is off in Jinja2's default environment: one final newline goes.
  std::string normalized;
  normalized.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r' && i + 1 < source.size() && source[i + 1] == '\n') continue;
    normalized += source[i];
  }
  if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
  Lexer lexer(normalized);
  return lexer.Run();
}

}  // namespace riglm::jinja
