#include "template/parser.h"

#include <cstdlib>

namespace riglm::jinja {
namespace {

constexpr int kMaxNesting = 200;

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Result<Body> ParseTemplate() {
    Body body;
    std::string end_tag;
    RIGLM_RETURN_IF_ERROR(ParseBody(&body, {}, &end_tag));
    return body;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool IsOp(const char* op, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kOperator && Peek(ahead).text == op;
  }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kName && Peek(ahead).text == name;
  }
  Status Error(const Token& at, const std::string& what) const {
    return InvalidArgument("chat template: " + what + " at line " + std::to_string(at.line) + ", column " +
                           std::to_string(at.column));
  }
  Status Expect(const char* op) {
    if (!IsOp(op)) return Error(Peek(), std::string("expected '") + op + "'" + Found());
    Next();
    return Status::Ok();
  }
  std::string Found() const {
    const Token& t = Peek();
    switch (t.kind) {
      case Token::Kind::kStatementEnd: return ", found the end of the tag";
      case Token::Kind::kExpressionEnd: return ", found '}}'";
      case Token::Kind::kEnd: return ", found the end of the template";
      default: return ", found '" + t.text + "'";
    }
  }
  Status ExpectStatementEnd() {
    if (Peek().kind != Token::Kind::kStatementEnd) return Error(Peek(), "expected '%}'" + Found());
    Next();
    return Status::Ok();
  }
  Result<std::string> ExpectName() {
    if (Peek().kind != Token::Kind::kName) return Error(Peek(), "expected a name" + Found());
    return Next().text;
  }

  // Parses statements until one of `end_tags` opens a tag; that tag's name goes to *end_tag
  // (its remaining tokens are left for the caller).
  Status ParseBody(Body* body, const std::vector<std::string>& end_tags, std::string* end_tag) {
    if (++nesting_ > kMaxNesting) return Error(Peek(), "blocks nested too deeply");
    while (true) {
      const Token& t = Peek();
      if (t.kind == Token::Kind::kEnd) {
        if (!end_tags.empty()) return Error(t, "missing {% " + end_tags.back() + " %}");
        break;
      }
      if (t.kind == Token::Kind::kText) {
        auto stmt = NewStmt(Stmt::Kind::kText, t);
        stmt->text = t.text;
        body->push_back(std::move(stmt));
        Next();
        continue;
      }
      if (t.kind == Token::Kind::kExpressionBegin) {
        Next();
        auto stmt = NewStmt(Stmt::Kind::kOutput, t);
        RIGLM_ASSIGN_OR_RETURN(stmt->expr, ParseExpression());
        if (Peek().kind != Token::Kind::kExpressionEnd) return Error(Peek(), "expected '}}'" + Found());
        Next();
        body->push_back(std::move(stmt));
        continue;
      }
      if (t.kind != Token::Kind::kStatementBegin) return Error(t, "unexpected token");
      const Token& keyword = Peek(1);
      if (keyword.kind != Token::Kind::kName) return Error(keyword, "expected a statement name");
      for (const std::string& end : end_tags) {
        if (keyword.text == end) {
          Next();
          Next();
          *end_tag = end;
          --nesting_;
          return Status::Ok();
        }
      }
      Next();
      Next();
      StmtPtr stmt;
      RIGLM_ASSIGN_OR_RETURN(stmt, ParseStatement(keyword));
      body->push_back(std::move(stmt));
    }
    --nesting_;
    return Status::Ok();
  }

  StmtPtr NewStmt(Stmt::Kind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  Result<StmtPtr> ParseStatement(const Token& keyword) {
    const std::string& k = keyword.text;
    if (k == "if") return ParseIf(keyword);
    if (k == "for") return ParseFor(keyword);
    if (k == "set") return ParseSet(keyword);
    if (k == "macro") return ParseMacro(keyword);
    if (k == "filter") return ParseFilterBlock(keyword);
    if (k == "break" || k == "continue") {
      auto stmt = NewStmt(k == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, keyword);
      RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
      return stmt;
    }
    if (k == "generation" || k == "endgeneration") {  // HF's assistant-mask marker: renders its body
      RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
      auto stmt = NewStmt(Stmt::Kind::kText, keyword);
      return stmt;
    }
    return Error(keyword, "unknown statement '" + k + "'");
  }

  Result<StmtPtr> ParseIf(const Token& keyword) {
    auto stmt = NewStmt(Stmt::Kind::kIf, keyword);
    ExprPtr condition;
    RIGLM_ASSIGN_OR_RETURN(condition, ParseExpression());
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    while (true) {
      Body body;
      std::string end;
      RIGLM_RETURN_IF_ERROR(ParseBody(&body, {"elif", "else", "endif"}, &end));
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      if (end == "endif") break;
      if (end == "else") {
        RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
        Body else_body;
        RIGLM_RETURN_IF_ERROR(ParseBody(&else_body, {"endif"}, &end));
        stmt->branches.emplace_back(nullptr, std::move(else_body));
        break;
      }
      RIGLM_ASSIGN_OR_RETURN(condition, ParseExpression());
      RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    }
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    return stmt;
  }

  Result<StmtPtr> ParseFor(const Token& keyword) {
    auto stmt = NewStmt(Stmt::Kind::kFor, keyword);
    do {
      if (IsOp("(")) Next();
      RIGLM_ASSIGN_OR_RETURN(std::string target, ExpectName());
      stmt->targets.push_back(target);
      if (IsOp(")")) Next();
    } while (IsOp(",") && (Next(), true));
    if (!IsName("in")) return Error(Peek(), "expected 'in'" + Found());
    Next();
    RIGLM_ASSIGN_OR_RETURN(stmt->expr, ParseOr());  // no conditional: `if` here filters
    if (IsName("if")) {
      Next();
      RIGLM_ASSIGN_OR_RETURN(stmt->condition, ParseOr());
    }
    if (IsName("recursive")) return Error(Peek(), "recursive loops are not supported");
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    std::string end;
    RIGLM_RETURN_IF_ERROR(ParseBody(&stmt->body, {"else", "endfor"}, &end));
    if (end == "else") {
      RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
      RIGLM_RETURN_IF_ERROR(ParseBody(&stmt->else_body, {"endfor"}, &end));
    }
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    return stmt;
  }

  Result<StmtPtr> ParseSet(const Token& keyword) {
    auto stmt = NewStmt(Stmt::Kind::kSet, keyword);
    RIGLM_ASSIGN_OR_RETURN(std::string first, ExpectName());
    if (IsOp(".")) {
      Next();
      RIGLM_ASSIGN_OR_RETURN(stmt->attribute, ExpectName());
    }
    stmt->targets.push_back(first);
    while (stmt->attribute.empty() && IsOp(",")) {
      Next();
      RIGLM_ASSIGN_OR_RETURN(std::string more, ExpectName());
      stmt->targets.push_back(more);
    }
    if (IsOp("=")) {
      Next();
      RIGLM_ASSIGN_OR_RETURN(stmt->expr, ParseTupleOrExpression());
      RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
      return stmt;
    }
    // Block set: {% set name %}...{% endset %}, optionally filtered.
    if (!stmt->attribute.empty() || stmt->targets.size() != 1) return Error(Peek(), "expected '='" + Found());
    stmt->kind = Stmt::Kind::kSetBlock;
    RIGLM_RETURN_IF_ERROR(ParseFilterChain(&stmt->filters));
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    std::string end;
    RIGLM_RETURN_IF_ERROR(ParseBody(&stmt->body, {"endset"}, &end));
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    return stmt;
  }

  Result<StmtPtr> ParseMacro(const Token& keyword) {
    auto stmt = NewStmt(Stmt::Kind::kMacro, keyword);
    RIGLM_ASSIGN_OR_RETURN(stmt->name, ExpectName());
    RIGLM_RETURN_IF_ERROR(Expect("("));
    while (!IsOp(")")) {
      MacroParam param;
      RIGLM_ASSIGN_OR_RETURN(param.name, ExpectName());
      if (IsOp("=")) {
        Next();
        RIGLM_ASSIGN_OR_RETURN(param.default_value, ParseExpression());
      }
      stmt->params.push_back(std::move(param));
      if (!IsOp(",")) break;
      Next();
    }
    RIGLM_RETURN_IF_ERROR(Expect(")"));
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    std::string end;
    RIGLM_RETURN_IF_ERROR(ParseBody(&stmt->body, {"endmacro"}, &end));
    if (Peek().kind == Token::Kind::kName) Next();  // {% endmacro name %}
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    return stmt;
  }

  Result<StmtPtr> ParseFilterBlock(const Token& keyword) {
    auto stmt = NewStmt(Stmt::Kind::kFilterBlock, keyword);
    // The first filter has no leading '|'.
    RIGLM_ASSIGN_OR_RETURN(ExprPtr first, ParseFilterCall(nullptr));
    stmt->filters.push_back(std::move(first));
    RIGLM_RETURN_IF_ERROR(ParseFilterChain(&stmt->filters));
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    std::string end;
    RIGLM_RETURN_IF_ERROR(ParseBody(&stmt->body, {"endfilter"}, &end));
    RIGLM_RETURN_IF_ERROR(ExpectStatementEnd());
    return stmt;
  }

  Status ParseFilterChain(std::vector<ExprPtr>* filters) {
    while (IsOp("|")) {
      Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr f, ParseFilterCall(nullptr));
      filters->push_back(std::move(f));
    }
    return Status::Ok();
  }

  ExprPtr NewExpr(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // `a, b` at statement level makes a tuple.
  Result<ExprPtr> ParseTupleOrExpression() {
    const Token& at = Peek();
    RIGLM_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
    if (!IsOp(",")) return first;
    auto tuple = NewExpr(Expr::Kind::kTuple, at);
    tuple->items.push_back(std::move(first));
    while (IsOp(",")) {
      Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr more, ParseExpression());
      tuple->items.push_back(std::move(more));
    }
    return tuple;
  }

  Result<ExprPtr> ParseExpression() {
    if (++nesting_ > kMaxNesting) return Error(Peek(), "expression nested too deeply");
    const Token& at = Peek();
    RIGLM_ASSIGN_OR_RETURN(ExprPtr value, ParseOr());
    if (IsName("if")) {
      Next();
      auto cond = NewExpr(Expr::Kind::kConditional, at);
      RIGLM_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
      ExprPtr otherwise;
      if (IsName("else")) {
        Next();
        RIGLM_ASSIGN_OR_RETURN(otherwise, ParseExpression());
      }
      cond->items.push_back(std::move(value));
      cond->items.push_back(std::move(test));
      cond->items.push_back(std::move(otherwise));
      value = std::move(cond);
    }
    --nesting_;
    return value;
  }

  Result<ExprPtr> ParseOr() {
    RIGLM_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      const Token& at = Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      auto e = NewExpr(Expr::Kind::kOr, at);
      e->items.push_back(std::move(left));
      e->items.push_back(std::move(right));
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseAnd() {
    RIGLM_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      const Token& at = Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      auto e = NewExpr(Expr::Kind::kAnd, at);
      e->items.push_back(std::move(left));
      e->items.push_back(std::move(right));
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseNot() {
    if (IsName("not")) {
      const Token& at = Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr inner, ParseNot());
      auto e = NewExpr(Expr::Kind::kNot, at);
      e->items.push_back(std::move(inner));
      return e;
    }
    return ParseCompare();
  }

  Result<ExprPtr> ParseCompare() {
    RIGLM_ASSIGN_OR_RETURN(ExprPtr left, ParseAdditive());
    while (true) {
      const Token& at = Peek();
      std::string op;
      if (at.kind == Token::Kind::kOperator &&
          (at.text == "==" || at.text == "!=" || at.text == "<" || at.text == ">" || at.text == "<=" || at.text == ">=")) {
        op = at.text;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        Next();
        Next();
      } else {
        break;
      }
      RIGLM_ASSIGN_OR_RETURN(ExprPtr right, ParseAdditive());
      auto e = NewExpr(Expr::Kind::kBinary, at);
      e->name = op;
      e->items.push_back(std::move(left));
      e->items.push_back(std::move(right));
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseBinaryLevel(const std::vector<std::string>& ops, Result<ExprPtr> (Parser::*next)()) {
    RIGLM_ASSIGN_OR_RETURN(ExprPtr left, (this->*next)());
    while (Peek().kind == Token::Kind::kOperator) {
      const Token& at = Peek();
      bool match = false;
      for (const std::string& op : ops) match = match || at.text == op;
      if (!match) break;
      Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr right, (this->*next)());
      auto e = NewExpr(Expr::Kind::kBinary, at);
      e->name = at.text;
      e->items.push_back(std::move(left));
      e->items.push_back(std::move(right));
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseAdditive() { return ParseBinaryLevel({"+", "-"}, &Parser::ParseConcat); }
  Result<ExprPtr> ParseConcat() { return ParseBinaryLevel({"~"}, &Parser::ParseMultiplicative); }
  Result<ExprPtr> ParseMultiplicative() { return ParseBinaryLevel({"*", "/", "//", "%"}, &Parser::ParsePower); }
  Result<ExprPtr> ParsePower() { return ParseBinaryLevel({"**"}, &Parser::ParseUnary); }

  Result<ExprPtr> ParseUnary() {
    if (IsOp("-") || IsOp("+")) {
      const Token& at = Next();
      RIGLM_ASSIGN_OR_RETURN(ExprPtr inner, ParseUnary());
      if (at.text == "+") return inner;
      auto e = NewExpr(Expr::Kind::kNegate, at);
      e->items.push_back(std::move(inner));
      return e;
    }
    RIGLM_ASSIGN_OR_RETURN(ExprPtr primary, ParsePrimary());
    RIGLM_ASSIGN_OR_RETURN(primary, ParsePostfix(std::move(primary)));
    return ParseFiltersAndTests(std::move(primary));
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Token::Kind::kString: {
        auto e = NewExpr(Expr::Kind::kLiteral, t);
        std::string s;
        while (Peek().kind == Token::Kind::kString) s += Next().text;  // adjacent literals join
        e->value = Value(std::move(s));
        return e;
      }
      case Token::Kind::kInteger: {
        auto e = NewExpr(Expr::Kind::kLiteral, Next());
        e->value = Value(static_cast<int64_t>(std::strtoll(t.text.c_str(), nullptr, 10)));
        return e;
      }
      case Token::Kind::kFloat: {
        auto e = NewExpr(Expr::Kind::kLiteral, Next());
        e->value = Value(std::strtod(t.text.c_str(), nullptr));
        return e;
      }
      case Token::Kind::kName: {
        Next();
        auto e = NewExpr(Expr::Kind::kLiteral, t);
        if (t.text == "true" || t.text == "True") e->value = Value(true);
        else if (t.text == "false" || t.text == "False") e->value = Value(false);
        else if (t.text == "none" || t.text == "None") e->value = Value::MakeNone();
        else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case Token::Kind::kOperator: {
        if (t.text == "(") {
          Next();
          if (IsOp(")")) {
            Next();
            return NewExpr(Expr::Kind::kTuple, t);
          }
          RIGLM_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression());
          if (IsOp(")")) {
            Next();
            return first;
          }
          auto tuple = NewExpr(Expr::Kind::kTuple, t);
          tuple->items.push_back(std::move(first));
          while (IsOp(",")) {
            Next();
            if (IsOp(")")) break;
            RIGLM_ASSIGN_OR_RETURN(ExprPtr more, ParseExpression());
            tuple->items.push_back(std::move(more));
          }
          RIGLM_RETURN_IF_ERROR(Expect(")"));
          return tuple;
        }
        if (t.text == "[") {
          Next();
          auto list = NewExpr(Expr::Kind::kList, t);
          while (!IsOp("]")) {
            RIGLM_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
            list->items.push_back(std::move(item));
            if (!IsOp(",")) break;
            Next();
          }
          RIGLM_RETURN_IF_ERROR(Expect("]"));
          return list;
        }
        if (t.text == "{") {
          Next();
          auto dict = NewExpr(Expr::Kind::kDict, t);
          while (!IsOp("}")) {
            RIGLM_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
            RIGLM_RETURN_IF_ERROR(Expect(":"));
            RIGLM_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
            dict->items.push_back(std::move(key));
            dict->items.push_back(std::move(value));
            if (!IsOp(",")) break;
            Next();
          }
          RIGLM_RETURN_IF_ERROR(Expect("}"));
          return dict;
        }
        break;
      }
      default:
        break;
    }
    return Error(t, "expected an expression" + Found());
  }

  Status ParseCallArguments(Expr* call) {
    RIGLM_RETURN_IF_ERROR(Expect("("));
    while (!IsOp(")")) {
      if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
        std::string name = Next().text;
        Next();
        RIGLM_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
        call->keywords.emplace_back(std::move(name), std::move(value));
      } else {
        RIGLM_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
        call->items.push_back(std::move(value));
      }
      if (!IsOp(",")) break;
      Next();
    }
    return Expect(")");
  }

  Result<ExprPtr> ParsePostfix(ExprPtr target) {
    while (true) {
      const Token& at = Peek();
      if (IsOp(".")) {
        Next();
        auto e = NewExpr(Expr::Kind::kAttribute, at);
        if (Peek().kind == Token::Kind::kInteger) {
          e->kind = Expr::Kind::kSubscript;
          auto index = NewExpr(Expr::Kind::kLiteral, Peek());
          index->value = Value(static_cast<int64_t>(std::strtoll(Next().text.c_str(), nullptr, 10)));
          e->items.push_back(std::move(target));
          e->items.push_back(std::move(index));
        } else {
          RIGLM_ASSIGN_OR_RETURN(e->name, ExpectName());
          e->items.push_back(std::move(target));
        }
        target = std::move(e);
      } else if (IsOp("[")) {
        Next();
        auto e = NewExpr(Expr::Kind::kSubscript, at);
        e->items.push_back(std::move(target));
        ExprPtr parts[3];
        int part = 0;
        bool slice = false;
        while (true) {
          if (!IsOp(":") && !IsOp("]")) {
            RIGLM_ASSIGN_OR_RETURN(parts[part], ParseExpression());
          }
          if (IsOp(":") && part < 2) {
            Next();
            slice = true;
            ++part;
            continue;
          }
          break;
        }
        RIGLM_RETURN_IF_ERROR(Expect("]"));
        if (slice) {
          e->kind = Expr::Kind::kSlice;
          for (auto& p : parts) e->items.push_back(std::move(p));
        } else {
          if (!parts[0]) return Error(at, "empty subscript");
          e->items.push_back(std::move(parts[0]));
        }
        target = std::move(e);
      } else if (IsOp("(")) {
        auto e = NewExpr(Expr::Kind::kCall, at);
        e->items.push_back(std::move(target));
        RIGLM_RETURN_IF_ERROR(ParseCallArguments(e.get()));
        target = std::move(e);
      } else {
        return target;
      }
    }
  }

  // `name` or `name(args)` after a '|'; `target` becomes the filtered value.
  Result<ExprPtr> ParseFilterCall(ExprPtr target) {
    const Token& at = Peek();
    auto e = NewExpr(Expr::Kind::kFilter, at);
    RIGLM_ASSIGN_OR_RETURN(e->name, ExpectName());
    while (IsOp(".")) {  // dotted filter names are not a thing; keep the error clear
      return Error(Peek(), "unexpected '.' after filter name");
    }
    e->items.push_back(std::move(target));
    if (IsOp("(")) RIGLM_RETURN_IF_ERROR(ParseCallArguments(e.get()));
    return e;
  }

  Result<ExprPtr> ParseFiltersAndTests(ExprPtr target) {
    while (true) {
      if (IsOp("|")) {
        Next();
        RIGLM_ASSIGN_OR_RETURN(target, ParseFilterCall(std::move(target)));
        RIGLM_ASSIGN_OR_RETURN(target, ParsePostfix(std::move(target)));
      } else if (IsName("is")) {
        const Token& at = Next();
        auto e = NewExpr(Expr::Kind::kTest, at);
        if (IsName("not")) {
          Next();
          e->negated = true;
        }
        const Token& name = Peek();
        if (name.kind == Token::Kind::kName) {
          e->name = Next().text;
        } else if (name.kind == Token::Kind::kOperator && (name.text == "==" || name.text == "!=")) {
          e->name = Next().text;
        } else {
          return Error(name, "expected a test name" + Found());
        }
        e->items.push_back(std::move(target));
        if (IsOp("(")) {
          RIGLM_RETURN_IF_ERROR(ParseCallArguments(e.get()));
        } else if (Peek().kind == Token::Kind::kString || Peek().kind == Token::Kind::kInteger ||
                   Peek().kind == Token::Kind::kFloat ||
                   (Peek().kind == Token::Kind::kName && !IsName("and") && !IsName("or") && !IsName("if") &&
                    !IsName("else") && !IsName("is") && !IsName("in") && !IsName("not"))) {
          // A test takes one argument without parentheses: `x is equalto 3`, `x is sameas none`.
          RIGLM_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
          RIGLM_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
          e->items.push_back(std::move(arg));
        }
        target = std::move(e);
      } else {
        return target;
      }
    }
  }

  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace

Result<Body> Parse(const std::vector<Token>& tokens) { return Parser(tokens).ParseTemplate(); }

}  // namespace riglm::jinja
