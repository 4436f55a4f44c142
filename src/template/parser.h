// Tokens -> syntax tree, for the Jinja2 subset that real chat templates use.
#pragma once

#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace riglm::jinja {

// Errors name the line and column of the offending token.
Result<Body> Parse(const std::vector<Token>& tokens);

}  // namespace riglm::jinja
