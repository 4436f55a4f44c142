// Splits a Jinja template into text and tag tokens, applying whitespace control the way
// Jinja2 does with trim_blocks and lstrip_blocks on (as Hugging Face renders chat templates).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace riglm::jinja {

struct Token {
  enum class Kind {
    kText,
    kExpressionBegin,  // {{
    kExpressionEnd,    // }}
    kStatementBegin,   // {%
    kStatementEnd,     // %}
    kName,
    kString,
    kInteger,
    kFloat,
    kOperator,
    kEnd,
  };
  Kind kind;
  std::string text;  // text, name, operator, or the decoded string literal
  int line = 1;
  int column = 1;
};

// Errors name the line and column.
Result<std::vector<Token>> Lex(std::string_view source);

}  // namespace riglm::jinja
