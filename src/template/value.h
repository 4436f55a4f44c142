// Values of the Jinja template language, with Python's semantics for the operations that chat
// templates use: truthiness, equality, ordering, str() and repr(), and JSON output as Python's
// json.dumps writes it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "util/status.h"

namespace riglm::jinja {

class Value;
using Array = std::vector<Value>;

class Object;

struct CallArgs;
// A callable value: macros, bound methods, globals such as range() and namespace().
using Function = std::function<Result<Value>(CallArgs&)>;

struct Undefined {
  std::string name;  // what was looked up, for error messages
};
struct None {};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kFunction };

  Value() : data_(Undefined{}) {}
  static Value MakeUndefined(std::string name) { return Value(Undefined{std::move(name)}); }
  static Value MakeNone() { return Value(None{}); }
  Value(bool b) : data_(b) {}                          // NOLINT
  Value(int64_t i) : data_(i) {}                       // NOLINT
  Value(int i) : data_(static_cast<int64_t>(i)) {}     // NOLINT
  Value(double d) : data_(d) {}                        // NOLINT
  Value(std::string s) : data_(std::move(s)) {}        // NOLINT
  Value(const char* s) : data_(std::string(s)) {}      // NOLINT
  Value(Array a, bool tuple = false) : data_(std::make_shared<Array>(std::move(a))), tuple_(tuple) {}  // NOLINT
  // What Python's generators are to Jinja: iterable once, always true, without len() or JSON.
  // Jinja's Markup (from |safe or |escape): adding a plain string to it HTML-escapes that string.
  static Value MakeSafe(std::string s) {
    Value v(std::move(s));
    v.safe_ = true;
    return v;
  }
  static Value MakeGenerator(Array a) {
    Value v(std::move(a));
    v.generator_ = true;
    return v;
  }
  Value(Object o, bool is_namespace = false);  // NOLINT
  Value(Function f) : data_(std::make_shared<Function>(std::move(f))) {}  // NOLINT

  static Value FromJson(const nlohmann::ordered_json& json);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_function() const { return kind() == Kind::kFunction; }
  bool is_tuple() const { return tuple_; }
  bool is_generator() const { return generator_; }
  bool is_safe() const { return safe_; }
  bool is_namespace() const { return namespace_; }

  bool AsBool() const { return std::get<bool>(data_); }
  int64_t AsInt() const { return is_bool() ? (AsBool() ? 1 : 0) : std::get<int64_t>(data_); }
  double AsDouble() const { return is_float() ? std::get<double>(data_) : static_cast<double>(AsInt()); }
  const std::string& AsString() const { return std::get<std::string>(data_); }
  const Array& AsArray() const { return *std::get<std::shared_ptr<Array>>(data_); }
  const Object& AsObject() const { return *std::get<std::shared_ptr<Object>>(data_); }
  Object& MutableObject() { return *std::get<std::shared_ptr<Object>>(data_); }  // namespaces only
  const Function& AsFunction() const { return *std::get<std::shared_ptr<Function>>(data_); }
  const std::string& undefined_name() const { return std::get<Undefined>(data_).name; }

  bool Truthy() const;
  std::string TypeName() const;  // Python's: "str", "int", "dict", ...
  // Python's str(): what {{ value }} prints (undefined prints nothing).
  std::string Str() const;
  // Python's repr().
  std::string Repr() const;
  // json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...).
  // indent < 0 means none.
  Result<std::string> ToJson(int indent, const std::string& item_separator, const std::string& key_separator,
                             bool sort_keys) const;
  nlohmann::ordered_json ToJsonValue() const;

 private:
  explicit Value(Undefined u) : data_(std::move(u)) {}
  explicit Value(None n) : data_(n) {}
  std::variant<Undefined, None, bool, int64_t, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>,
               std::shared_ptr<Function>>
      data_;
  bool tuple_ = false;
  bool generator_ = false;
  bool safe_ = false;
  bool namespace_ = false;
};

// Python ==, with 1 == 1.0 == True.
bool Equal(const Value& a, const Value& b);
// Python <: numbers with numbers, strings with strings, sequences element-wise; else an error.
Result<bool> Less(const Value& a, const Value& b);
// A dict that keeps insertion order, as Python's does.
class Object {
 public:
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  void Set(const std::string& key, Value value);
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  void Clear() { items_.clear(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

inline Value::Value(Object o, bool is_namespace)
    : data_(std::make_shared<Object>(std::move(o))), namespace_(is_namespace) {}

// markupsafe.escape: & < > " ' as HTML entities.
std::string HtmlEscape(const std::string& s);
// Python's float repr: shortest round-trip digits, "1.0", "1e-05", "inf".
std::string FormatPythonFloat(double d);

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // The keyword `name`, or positional[index], or `fallback`; marks the keyword used.
  Value Get(size_t index, std::string_view name, Value fallback = Value()) const;
};

}  // namespace riglm::jinja
