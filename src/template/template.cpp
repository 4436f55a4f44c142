#include "template/template.h"

#include <cmath>
#include <limits>
#include <unordered_map>

#include "template/builtins.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "text/unicode.h"

namespace riglm::jinja {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  Renderer(const RenderLimits& limits, std::time_t now) : limits_(limits), now_(now == 0 ? std::time(nullptr) : now) {}

  Result<std::string> Run(const Body& body, const Value& context) {
    Frame globals;
    const Object builtins = BuiltinGlobals();
    for (const auto& [k, v] : builtins.items()) globals[k] = v;
    globals["raise_exception"] = Value(Function([this](CallArgs& a) -> Result<Value> {
      raised_ = true;
      return InvalidArgument(a.Get(0, "message").Str());
    }));
    globals["strftime_now"] = Value(Function([this](CallArgs& a) -> Result<Value> {
      std::tm tm{};
      gmtime_r(&now_, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, a.Get(0, "format").Str().c_str(), &tm);
      return Value(std::string(buf, n));
    }));
    frames_.push_back(std::move(globals));
    Frame top;
    if (context.is_object()) {
      for (const auto& [k, v] : context.AsObject().items()) top[k] = v;
    }
    frames_.push_back(std::move(top));
    std::string out;
    Flow flow = Flow::kNormal;
    Status s = Exec(body, &out, &flow);
    // Namespaces are the only mutable values, so only they can hold themselves (ns.x = ns);
    // emptying them breaks any such reference cycle before the values are released.
    for (Value& ns : assigned_namespaces_) ns.MutableObject().Clear();
    assigned_namespaces_.clear();
    if (!s.ok()) {
      if (raised_) return InvalidArgument(s.message());
      return s;
    }
    return out;
  }

 private:
  using Frame = std::unordered_map<std::string, Value>;

  Status ErrorAt(int line, int column, const std::string& what) const {
    return InvalidArgument("chat template: " + what + " at line " + std::to_string(line) + ", column " +
                           std::to_string(column));
  }
  Status At(const Expr& e, const Status& s) const {
    if (s.ok() || raised_ || s.message().find(" at line ") != std::string::npos) return s;
    std::string message = s.message();
    if (message.rfind("chat template: ", 0) == 0) message.erase(0, 15);
    return ErrorAt(e.line, e.column, message);
  }

  Value Lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return Value::MakeUndefined(name);
  }

  Status Emit(std::string* out, const std::string& text) {
    if (out->size() + text.size() > limits_.max_output_bytes) {
      return InvalidArgument("output exceeded " + std::to_string(limits_.max_output_bytes) + " bytes");
    }
    *out += text;
    return Status::Ok();
  }

  Status Exec(const Body& body, std::string* out, Flow* flow) {
    for (const StmtPtr& stmt : body) {
      RIGLM_RETURN_IF_ERROR(ExecOne(*stmt, out, flow));
      if (*flow != Flow::kNormal) return Status::Ok();
    }
    return Status::Ok();
  }

  Status ExecOne(const Stmt& s, std::string* out, Flow* flow) {
    switch (s.kind) {
      case Stmt::Kind::kText:
        return Emit(out, s.text);
      case Stmt::Kind::kOutput: {
        RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*s.expr));
        Status st = Emit(out, v.Str());
        return st.ok() ? st : ErrorAt(s.line, s.column, st.message());
      }
      case Stmt::Kind::kIf:
        for (const auto& [condition, body] : s.branches) {
          bool take = true;
          if (condition) {
            RIGLM_ASSIGN_OR_RETURN(Value c, Eval(*condition));
            take = c.Truthy();
          }
          if (take) return Exec(body, out, flow);
        }
        return Status::Ok();
      case Stmt::Kind::kFor:
        return ExecFor(s, out, flow);
      case Stmt::Kind::kSet: {
        RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*s.expr));
        if (!s.attribute.empty()) {
          Value target = Lookup(s.targets[0]);
          if (!target.is_namespace()) {
            return ErrorAt(s.line, s.column, "cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
          }
          target.MutableObject().Set(s.attribute, std::move(v));
          assigned_namespaces_.push_back(target);
          return Status::Ok();
        }
        return Assign(s, s.targets, v);
      }
      case Stmt::Kind::kSetBlock: {
        std::string captured;
        Flow inner = Flow::kNormal;
        RIGLM_RETURN_IF_ERROR(Exec(s.body, &captured, &inner));
        RIGLM_ASSIGN_OR_RETURN(Value v, ApplyFilterChain(s.filters, Value(std::move(captured))));
        frames_.back()[s.targets[0]] = std::move(v);
        return Status::Ok();
      }
      case Stmt::Kind::kMacro: {
        frames_.back()[s.name] = MakeMacro(s);
        return Status::Ok();
      }
      case Stmt::Kind::kFilterBlock: {
        std::string captured;
        Flow inner = Flow::kNormal;
        RIGLM_RETURN_IF_ERROR(Exec(s.body, &captured, &inner));
        RIGLM_ASSIGN_OR_RETURN(Value v, ApplyFilterChain(s.filters, Value(std::move(captured))));
        return Emit(out, v.Str());
      }
      case Stmt::Kind::kBreak:
      case Stmt::Kind::kContinue:
        if (loop_depth_ == 0) return ErrorAt(s.line, s.column, "'break' or 'continue' outside a loop");
        *flow = s.kind == Stmt::Kind::kBreak ? Flow::kBreak : Flow::kContinue;
        return Status::Ok();
    }
    return Status::Ok();
  }

  Status Assign(const Stmt& s, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      frames_.back()[targets[0]] = v;
      return Status::Ok();
    }
    if (!v.is_array() || v.AsArray().size() != targets.size()) {
      return ErrorAt(s.line, s.column, "cannot unpack " + v.TypeName() + " into " + std::to_string(targets.size()) +
                                           " names");
    }
    for (size_t i = 0; i < targets.size(); ++i) frames_.back()[targets[i]] = v.AsArray()[i];
    return Status::Ok();
  }

  Result<Value> ApplyFilterChain(const std::vector<ExprPtr>& filters, Value v) {
    for (const ExprPtr& f : filters) {
      CallArgs args;
      RIGLM_RETURN_IF_ERROR(EvalArguments(*f, 1, &args));
      auto result = ApplyFilter(f->name, v, args);
      if (!result.ok()) return At(*f, result.status());
      v = std::move(result).value();
    }
    return v;
  }

  Status ExecFor(const Stmt& s, std::string* out, Flow* flow) {
    RIGLM_ASSIGN_OR_RETURN(Value iterable, Eval(*s.expr));
    Array items;
    if (iterable.is_array()) {
      items = iterable.AsArray();
    } else if (iterable.is_object()) {
      for (const auto& [k, _] : iterable.AsObject().items()) items.emplace_back(k);
    } else if (iterable.is_string()) {
      for (char32_t cp : text::ToCodePoints(iterable.AsString())) items.emplace_back(text::ToUtf8(std::u32string(1, cp)));
    } else if (!iterable.is_undefined() && !iterable.is_none()) {
      return ErrorAt(s.line, s.column, "'" + iterable.TypeName() + "' object is not iterable");
    } else if (iterable.is_none()) {
      return ErrorAt(s.line, s.column, "'NoneType' object is not iterable");
    }
    if (s.condition) {  // `for x in y if cond` filters before loop.* is computed
      Array kept;
      for (const Value& item : items) {
        frames_.emplace_back();
        Status st = Assign(s, s.targets, item);
        auto keep = st.ok() ? Eval(*s.condition) : Result<Value>(st);
        frames_.pop_back();
        if (!keep.ok()) return keep.status();
        if (keep->Truthy()) kept.push_back(item);
      }
      items.swap(kept);
    }
    if (items.empty()) return Exec(s.else_body, out, flow);
    ++loop_depth_;
    const int64_t n = static_cast<int64_t>(items.size());
    Status status;
    for (int64_t i = 0; i < n; ++i) {
      if (++iterations_ > limits_.max_loop_iterations) {
        status = ErrorAt(s.line, s.column, "loop iterations exceeded " + std::to_string(limits_.max_loop_iterations));
        break;
      }
      Object loop;
      loop.Set("index", Value(i + 1));
      loop.Set("index0", Value(i));
      loop.Set("revindex", Value(n - i));
      loop.Set("revindex0", Value(n - i - 1));
      loop.Set("first", Value(i == 0));
      loop.Set("last", Value(i == n - 1));
      loop.Set("length", Value(n));
      loop.Set("previtem", i > 0 ? items[i - 1] : Value::MakeUndefined("previtem"));
      loop.Set("nextitem", i + 1 < n ? items[i + 1] : Value::MakeUndefined("nextitem"));
      loop.Set("cycle", Value(Function([i](CallArgs& a) -> Result<Value> {
        if (a.positional.empty()) return InvalidArgument("loop.cycle needs arguments");
        return a.positional[static_cast<size_t>(i) % a.positional.size()];
      })));
      frames_.emplace_back();
      frames_.back()["loop"] = Value(std::move(loop));
      status = Assign(s, s.targets, items[i]);
      Flow inner = Flow::kNormal;
      if (status.ok()) status = Exec(s.body, out, &inner);
      frames_.pop_back();
      if (!status.ok() || inner == Flow::kBreak) break;
    }
    --loop_depth_;
    return status;
  }

  Value MakeMacro(const Stmt& s) {
    const Stmt* macro = &s;
    return Value(Function([this, macro](CallArgs& a) -> Result<Value> {
      if (++call_depth_ > limits_.max_call_depth) {
        --call_depth_;
        return ErrorAt(macro->line, macro->column, "macro calls nested deeper than " +
                                                       std::to_string(limits_.max_call_depth));
      }
      Frame frame;
      for (size_t i = 0; i < macro->params.size(); ++i) {
        const MacroParam& p = macro->params[i];
        Value v = a.Get(i, p.name, Value::MakeUndefined(p.name));
        if (v.is_undefined() && p.default_value) {
          auto d = Eval(*p.default_value);
          if (!d.ok()) {
            --call_depth_;
            return d.status();
          }
          v = std::move(d).value();
        }
        frame[p.name] = std::move(v);
      }
      // A macro sees the template's globals and top-level names, not its caller's locals.
      std::vector<Frame> saved(frames_.begin() + 2, frames_.end());
      frames_.resize(2);
      frames_.push_back(std::move(frame));
      const int saved_loop_depth = loop_depth_;
      loop_depth_ = 0;
      std::string out;
      Flow flow = Flow::kNormal;
      Status st = Exec(macro->body, &out, &flow);
      loop_depth_ = saved_loop_depth;
      frames_.resize(2);
      for (auto& f : saved) frames_.push_back(std::move(f));
      --call_depth_;
      if (!st.ok()) return st;
      return Value(std::move(out));
    }));
  }

  // Positional arguments from e.items[first_arg..], keywords from e.keywords.
  Status EvalArguments(const Expr& e, size_t first_arg, CallArgs* args) {
    for (size_t i = first_arg; i < e.items.size(); ++i) {
      RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*e.items[i]));
      args->positional.push_back(std::move(v));
    }
    for (const auto& [name, expr] : e.keywords) {
      RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*expr));
      args->keyword.emplace_back(name, std::move(v));
    }
    return Status::Ok();
  }

  Result<Value> GetAttribute(const Expr& e, const Value& target, const std::string& name) {
    if (target.is_undefined()) return At(e, InvalidArgument("'" + target.undefined_name() + "' is undefined"));
    if (target.is_object()) {
      if (!target.is_namespace()) {
        Value method = GetMethod(target, name);
        if (!method.is_undefined()) return method;
      }
      const Value* found = target.AsObject().Find(name);
      return found ? *found : Value::MakeUndefined(name);
    }
    return GetMethod(target, name);
  }

  Result<Value> GetItem(const Expr& e, const Value& target, const Value& key) {
    if (target.is_undefined()) return At(e, InvalidArgument("'" + target.undefined_name() + "' is undefined"));
    if (target.is_object()) {
      if (key.is_string()) {
        const Value* found = target.AsObject().Find(key.AsString());
        if (found) return *found;
        return GetAttribute(e, target, key.AsString());
      }
      return Value::MakeUndefined(key.Str());
    }
    if (target.is_generator()) return At(e, InvalidArgument("'generator' object is not subscriptable"));
    if ((target.is_array() || target.is_string()) && key.is_number() && !key.is_float()) {
      int64_t index = key.AsInt();
      if (target.is_array()) {
        const int64_t n = static_cast<int64_t>(target.AsArray().size());
        if (index < 0) index += n;
        if (index < 0 || index >= n) return Value::MakeUndefined("index " + key.Str());
        return target.AsArray()[index];
      }
      const std::u32string cps = text::ToCodePoints(target.AsString());
      const int64_t n = static_cast<int64_t>(cps.size());
      if (index < 0) index += n;
      if (index < 0 || index >= n) return Value::MakeUndefined("index " + key.Str());
      return Value(text::ToUtf8(std::u32string(1, cps[index])));
    }
    if (key.is_string()) return GetAttribute(e, target, key.AsString());
    return Value::MakeUndefined(key.Str());
  }

  Result<Value> Slice(const Expr& e, const Value& target) {
    int64_t bounds[3];
    bool present[3];
    for (int i = 0; i < 3; ++i) {
      present[i] = e.items[1 + i] != nullptr;
      bounds[i] = 0;
      if (present[i]) {
        RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*e.items[1 + i]));
        if (v.is_none()) {
          present[i] = false;
        } else if (!v.is_number() || v.is_float()) {
          return At(e, InvalidArgument("slice indices must be integers"));
        } else {
          bounds[i] = v.AsInt();
        }
      }
    }
    const int64_t step = present[2] ? bounds[2] : 1;
    if (step == 0) return At(e, InvalidArgument("slice step cannot be zero"));
    std::u32string cps;
    Array items;
    int64_t n = 0;
    if (target.is_string()) {
      cps = text::ToCodePoints(target.AsString());
      n = static_cast<int64_t>(cps.size());
    } else if (target.is_array()) {
      items = target.AsArray();
      n = static_cast<int64_t>(items.size());
    } else {
      return At(e, InvalidArgument("'" + target.TypeName() + "' object is not subscriptable"));
    }
    // Python's slice.indices().
    auto clamp = [&](int64_t v, bool given, int64_t if_missing) {
      if (!given) return if_missing;
      if (v < 0) v += n;
      if (step > 0) return std::clamp<int64_t>(v, 0, n);
      return std::clamp<int64_t>(v, -1, n - 1);
    };
    const int64_t start = clamp(bounds[0], present[0], step > 0 ? 0 : n - 1);
    const int64_t stop = clamp(bounds[1], present[1], step > 0 ? n : -1);
    std::u32string out_cps;
    Array out_items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (target.is_string()) {
        out_cps += cps[i];
      } else {
        out_items.push_back(items[i]);
      }
    }
    if (target.is_string()) return Value(text::ToUtf8(out_cps));
    return Value(std::move(out_items));
  }

  Result<Value> Binary(const Expr& e, const Value& a, const Value& b) {
    const std::string& op = e.name;
    auto type_error = [&]() {
      return At(e, InvalidArgument("unsupported operand type(s) for " + op + ": '" + a.TypeName() + "' and '" +
                                   b.TypeName() + "'"));
    };
    if (op == "==") return Value(Equal(a, b));
    if (op == "!=") return Value(!Equal(a, b));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      auto less = op == "<" || op == ">=" ? Less(a, b) : Less(b, a);
      if (!less.ok()) return At(e, less.status());
      return Value(op == "<" || op == ">" ? *less : !*less);
    }
    if (op == "in" || op == "not in") {
      CallArgs args;
      args.positional.push_back(b);
      if (!b.is_string() && !b.is_array() && !b.is_object() && !b.is_undefined()) {
        return At(e, InvalidArgument("argument of type '" + b.TypeName() + "' is not iterable"));
      }
      auto in = ApplyTest("in", a, args);
      if (!in.ok()) return At(e, in.status());
      return Value(op == "in" ? *in : !*in);
    }
    if (op == "~") return Value(a.Str() + b.Str());
    if (op == "+") {
      if (a.is_string() && b.is_string()) {
        if (a.is_safe() || b.is_safe()) {  // Markup escapes the plain side
          return Value::MakeSafe((a.is_safe() ? a.AsString() : HtmlEscape(a.AsString())) +
                                 (b.is_safe() ? b.AsString() : HtmlEscape(b.AsString())));
        }
        return Value(a.AsString() + b.AsString());
      }
      if (a.is_array() && b.is_array() && !a.is_generator() && !b.is_generator()) {
        Array joined = a.AsArray();
        joined.insert(joined.end(), b.AsArray().begin(), b.AsArray().end());
        return Value(std::move(joined));
      }
    }
    if (op == "*" && ((a.is_string() && b.is_int()) || (a.is_int() && b.is_string()))) {
      const std::string& s = a.is_string() ? a.AsString() : b.AsString();
      const int64_t times = a.is_string() ? b.AsInt() : a.AsInt();
      if (times > 0 && s.size() * static_cast<uint64_t>(times) > limits_.max_output_bytes) {
        return At(e, InvalidArgument("string repetition too large"));
      }
      std::string out;
      for (int64_t i = 0; i < times; ++i) out += s;
      return Value(std::move(out));
    }
    if (!a.is_number() || !b.is_number()) return type_error();
    const bool floats = a.is_float() || b.is_float();
    // Python's integers never overflow; ours are 64-bit, so a result beyond them is an error.
    int64_t r = 0;
    auto int_result = [&](bool overflow) -> Result<Value> {
      if (overflow) return At(e, InvalidArgument("integer overflow in '" + op + "'"));
      return Value(r);
    };
    if (op == "+") {
      return floats ? Value(a.AsDouble() + b.AsDouble()) : int_result(__builtin_add_overflow(a.AsInt(), b.AsInt(), &r));
    }
    if (op == "-") {
      return floats ? Value(a.AsDouble() - b.AsDouble()) : int_result(__builtin_sub_overflow(a.AsInt(), b.AsInt(), &r));
    }
    if (op == "*") {
      return floats ? Value(a.AsDouble() * b.AsDouble()) : int_result(__builtin_mul_overflow(a.AsInt(), b.AsInt(), &r));
    }
    if (op == "**") {
      if (!floats && b.AsInt() >= 0) {
        const int64_t base = a.AsInt(), exponent = b.AsInt();
        if (exponent == 0) return Value(int64_t{1});
        if (base == 0 || base == 1) return Value(base);
        if (base == -1) return Value(exponent % 2 == 0 ? int64_t{1} : int64_t{-1});
        // |base| >= 2 overflows within 63 steps, so the loop is short.
        bool overflow = false;
        r = 1;
        for (int64_t i = 0; i < exponent && !overflow; ++i) overflow = __builtin_mul_overflow(r, base, &r);
        return int_result(overflow);
      }
      return Value(std::pow(a.AsDouble(), b.AsDouble()));
    }
    if (b.AsDouble() == 0.0) return At(e, InvalidArgument("division by zero"));
    if (op == "/") return Value(a.AsDouble() / b.AsDouble());
    if (op == "//") {
      if (floats) return Value(std::floor(a.AsDouble() / b.AsDouble()));
      if (a.AsInt() == std::numeric_limits<int64_t>::min() && b.AsInt() == -1) return int_result(true);
      const int64_t q = a.AsInt() / b.AsInt();
      return Value((a.AsInt() % b.AsInt() != 0 && ((a.AsInt() < 0) != (b.AsInt() < 0))) ? q - 1 : q);
    }
    if (op == "%") {
      if (floats) {
        const double r = std::fmod(a.AsDouble(), b.AsDouble());
        return Value(r != 0 && ((r < 0) != (b.AsDouble() < 0)) ? r + b.AsDouble() : r);
      }
      if (b.AsInt() == -1) return Value(int64_t{0});  // INT64_MIN % -1 would trap
      r = a.AsInt() % b.AsInt();
      return Value(r != 0 && ((r < 0) != (b.AsInt() < 0)) ? r + b.AsInt() : r);
    }
    return type_error();
  }

  Result<Value> Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.value;
      case Expr::Kind::kName: return Lookup(e.name);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        Array items;
        for (const ExprPtr& item : e.items) {
          RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*item));
          items.push_back(std::move(v));
        }
        return Value(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        Object o;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          RIGLM_ASSIGN_OR_RETURN(Value k, Eval(*e.items[i]));
          RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*e.items[i + 1]));
          o.Set(k.Str(), std::move(v));
        }
        return Value(std::move(o));
      }
      case Expr::Kind::kAttribute: {
        RIGLM_ASSIGN_OR_RETURN(Value target, Eval(*e.items[0]));
        return GetAttribute(e, target, e.name);
      }
      case Expr::Kind::kSubscript: {
        RIGLM_ASSIGN_OR_RETURN(Value target, Eval(*e.items[0]));
        RIGLM_ASSIGN_OR_RETURN(Value key, Eval(*e.items[1]));
        return GetItem(e, target, key);
      }
      case Expr::Kind::kSlice: {
        RIGLM_ASSIGN_OR_RETURN(Value target, Eval(*e.items[0]));
        return Slice(e, target);
      }
      case Expr::Kind::kCall: {
        RIGLM_ASSIGN_OR_RETURN(Value callee, Eval(*e.items[0]));
        if (!callee.is_function()) {
          if (callee.is_undefined()) return At(e, InvalidArgument("'" + callee.undefined_name() + "' is undefined"));
          return At(e, InvalidArgument("'" + callee.TypeName() + "' object is not callable"));
        }
        CallArgs args;
        RIGLM_RETURN_IF_ERROR(EvalArguments(e, 1, &args));
        auto result = callee.AsFunction()(args);
        if (!result.ok()) return At(e, result.status());
        return result;
      }
      case Expr::Kind::kFilter: {
        RIGLM_ASSIGN_OR_RETURN(Value target, Eval(*e.items[0]));
        CallArgs args;
        RIGLM_RETURN_IF_ERROR(EvalArguments(e, 1, &args));
        auto result = ApplyFilter(e.name, target, args);
        if (!result.ok()) return At(e, result.status());
        return result;
      }
      case Expr::Kind::kTest: {
        RIGLM_ASSIGN_OR_RETURN(Value target, Eval(*e.items[0]));
        CallArgs args;
        RIGLM_RETURN_IF_ERROR(EvalArguments(e, 1, &args));
        auto result = ApplyTest(e.name, target, args);
        if (!result.ok()) return At(e, result.status());
        return Value(*result != e.negated);
      }
      case Expr::Kind::kNot: {
        RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*e.items[0]));
        return Value(!v.Truthy());
      }
      case Expr::Kind::kNegate: {
        RIGLM_ASSIGN_OR_RETURN(Value v, Eval(*e.items[0]));
        if (v.is_float()) return Value(-v.AsDouble());
        if (v.is_number()) {
          if (v.AsInt() == std::numeric_limits<int64_t>::min()) return At(e, InvalidArgument("integer overflow in unary -"));
          return Value(-v.AsInt());
        }
        return At(e, InvalidArgument("bad operand type for unary -: '" + v.TypeName() + "'"));
      }
      case Expr::Kind::kAnd: {
        RIGLM_ASSIGN_OR_RETURN(Value a, Eval(*e.items[0]));
        if (!a.Truthy()) return a;
        return Eval(*e.items[1]);
      }
      case Expr::Kind::kOr: {
        RIGLM_ASSIGN_OR_RETURN(Value a, Eval(*e.items[0]));
        if (a.Truthy()) return a;
        return Eval(*e.items[1]);
      }
      case Expr::Kind::kConditional: {
        RIGLM_ASSIGN_OR_RETURN(Value c, Eval(*e.items[1]));
        if (c.Truthy()) return Eval(*e.items[0]);
        if (e.items[2]) return Eval(*e.items[2]);
        return Value::MakeUndefined("conditional");
      }
      case Expr::Kind::kBinary: {
        RIGLM_ASSIGN_OR_RETURN(Value a, Eval(*e.items[0]));
        RIGLM_ASSIGN_OR_RETURN(Value b, Eval(*e.items[1]));
        return Binary(e, a, b);
      }
    }
    return Value();
  }

  RenderLimits limits_;
  std::time_t now_;
  std::vector<Frame> frames_;
  bool raised_ = false;
  std::vector<Value> assigned_namespaces_;
  int loop_depth_ = 0;
  int call_depth_ = 0;
  uint64_t iterations_ = 0;
};

}  // namespace

Result<Template> Template::Parse(std::string_view source) {
  RIGLM_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(source));
  RIGLM_ASSIGN_OR_RETURN(Body body, jinja::Parse(tokens));
  Template t;
  t.body_ = std::make_shared<const Body>(std::move(body));
  return t;
}

Result<std::string> Template::Render(const Value& context, std::time_t now, const RenderLimits& limits) const {
  Renderer renderer(limits, now);
  return renderer.Run(*body_, context);
}

}  // namespace riglm::jinja
