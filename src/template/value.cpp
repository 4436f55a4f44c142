#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "text/unicode.h"

namespace riglm::jinja {

const Value* Object::Find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Object::Find(std::string_view key) {
  for (auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Object::Set(const std::string& key, Value value) {
  if (Value* existing = Find(key)) {
    *existing = std::move(value);
  } else {
    items_.emplace_back(key, std::move(value));
  }
}

Value CallArgs::Get(size_t index, std::string_view name, Value fallback) const {
  for (const auto& [k, v] : keyword) {
    if (k == name) return v;
  }
  if (index < positional.size()) return positional[index];
  return fallback;
}

Value Value::FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return MakeNone();
    case nlohmann::ordered_json::value_t::boolean: return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(static_cast<int64_t>(json.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array a;
      a.reserve(json.size());
      for (const auto& item : json) a.push_back(FromJson(item));
      return Value(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (const auto& [k, v] : json.items()) o.Set(k, FromJson(v));
      return Value(std::move(o));
    }
    default: return MakeNone();
  }
}

nlohmann::ordered_json Value::ToJsonValue() const {
  switch (kind()) {
    case Kind::kBool: return AsBool();
    case Kind::kInt: return AsInt();
    case Kind::kFloat: return AsDouble();
    case Kind::kString: return AsString();
    case Kind::kArray: {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const Value& v : AsArray()) a.push_back(v.ToJsonValue());
      return a;
    }
    case Kind::kObject: {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      for (const auto& [k, v] : AsObject().items()) o[k] = v.ToJsonValue();
      return o;
    }
    default: return nullptr;
  }
}

bool Value::Truthy() const {
  switch (kind()) {
    case Kind::kUndefined: case Kind::kNone: return false;
    case Kind::kBool: return AsBool();
    case Kind::kInt: return AsInt() != 0;
    case Kind::kFloat: return AsDouble() != 0.0;
    case Kind::kString: return !AsString().empty();
    case Kind::kArray: return is_generator() || !AsArray().empty();
    case Kind::kObject: return AsObject().size() > 0 || is_namespace();
    case Kind::kFunction: return true;
  }
  return false;
}

std::string Value::TypeName() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kArray: return is_generator() ? "generator" : is_tuple() ? "tuple" : "list";
    case Kind::kObject: return is_namespace() ? "Namespace" : "dict";
    case Kind::kFunction: return "function";
  }
  return "object";
}

std::string FormatPythonFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest digits that round-trip, then Python's layout: scientific when the exponent is
  // below -4 or at least 16.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, end);  // like "1.2345e+02"
  const size_t e_pos = sci.find('e');
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string mantissa = sci.substr(0, e_pos);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out;
  if (exponent < -4 || exponent >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_buf;
  } else if (exponent < 0) {
    out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else {
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      out = digits + std::string(int_digits - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_digits) + "." + digits.substr(int_digits);
    }
  }
  return negative ? "-" + out : out;
}

namespace {

std::string ReprString(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const char32_t cp = text::DecodeUtf8(s, &pos);
    char buf[16];
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if (cp >= 0x80 && cp < 0xa0) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(s, start, pos - start);
    }
  }
  out += quote;
  return out;
}

void JsonString(const std::string& s, std::string* out) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

Status JsonDump(const Value& v, int indent, int depth, const std::string& item_sep, const std::string& key_sep,
                bool sort_keys, std::string* out) {
  if (depth > 100) return InvalidArgument("tojson: value nested too deeply");
  auto newline = [&](int level) {
    if (indent < 0) return;
    *out += '\n';
    out->append(static_cast<size_t>(indent * level), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::kNone: *out += "null"; return Status::Ok();
    case Value::Kind::kBool: *out += v.AsBool() ? "true" : "false"; return Status::Ok();
    case Value::Kind::kInt: *out += std::to_string(v.AsInt()); return Status::Ok();
    case Value::Kind::kFloat: {
      const double d = v.AsDouble();
      *out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatPythonFloat(d);
      return Status::Ok();
    }
    case Value::Kind::kString: JsonString(v.AsString(), out); return Status::Ok();
    case Value::Kind::kArray: {
      if (v.is_generator()) return InvalidArgument("Object of type generator is not JSON serializable");
      const Array& a = v.AsArray();
      if (a.empty()) {
        *out += "[]";
        return Status::Ok();
      }
      *out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) *out += item_sep;
        newline(depth + 1);
        RIGLM_RETURN_IF_ERROR(JsonDump(a[i], indent, depth + 1, item_sep, key_sep, sort_keys, out));
      }
      newline(depth);
      *out += ']';
      return Status::Ok();
    }
    case Value::Kind::kObject: {
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& item : v.AsObject().items()) items.push_back(&item);
      if (items.empty()) {
        *out += "{}";
        return Status::Ok();
      }
      if (sort_keys) std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      *out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) *out += item_sep;
        newline(depth + 1);
        JsonString(items[i]->first, out);
        *out += key_sep;
        RIGLM_RETURN_IF_ERROR(JsonDump(items[i]->second, indent, depth + 1, item_sep, key_sep, sort_keys, out));
      }
      newline(depth);
      *out += '}';
      return Status::Ok();
    }
    default:
      return InvalidArgument("tojson: Object of type " + v.TypeName() + " is not JSON serializable");
  }
}

}  // namespace

Result<std::string> Value::ToJson(int indent, const std::string& item_separator, const std::string& key_separator,
                                  bool sort_keys) const {
  std::string out;
  RIGLM_RETURN_IF_ERROR(JsonDump(*this, indent, 0, item_separator, key_separator, sort_keys, &out));
  return out;
}

std::string Value::Str() const {
  switch (kind()) {
    case Kind::kUndefined: return "";
    case Kind::kString: return AsString();
    default: return Repr();
  }
}

std::string Value::Repr() const {
  switch (kind()) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return AsBool() ? "True" : "False";
    case Kind::kInt: return std::to_string(AsInt());
    case Kind::kFloat: return FormatPythonFloat(AsDouble());
    case Kind::kString: return ReprString(AsString());
    case Kind::kArray: {
      if (is_generator()) return "<generator object>";
      const Array& a = AsArray();
      std::string out = is_tuple() ? "(" : "[";
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out += ", ";
        out += a[i].Repr();
      }
      if (is_tuple() && a.size() == 1) out += ",";
      return out + (is_tuple() ? ")" : "]");
    }
    case Kind::kObject: {
      if (is_namespace()) return "<Namespace>";
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : AsObject().items()) {
        if (!first) out += ", ";
        first = false;
        out += ReprString(k) + ": " + v.Repr();
      }
      return out + "}";
    }
    case Kind::kFunction: return "<function>";
  }
  return "";
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bool Equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() == b.AsDouble();
    return a.AsInt() == b.AsInt();
  }
  if (a.kind() != b.kind() || a.is_generator() || b.is_generator()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined: case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.AsString() == b.AsString();
    case Value::Kind::kArray: {
      const Array &x = a.AsArray(), &y = b.AsArray();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equal(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kObject: {
      const Object &x = a.AsObject(), &y = b.AsObject();
      if (&x == &y) return true;
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items()) {
        const Value* other = y.Find(k);
        if (other == nullptr || !Equal(v, *other)) return false;
      }
      return true;
    }
    default: return false;
  }
}

Result<bool> Less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() < b.AsDouble();
    return a.AsInt() < b.AsInt();
  }
  if (a.is_string() && b.is_string()) return a.AsString() < b.AsString();
  if (a.is_array() && b.is_array()) {
    const Array &x = a.AsArray(), &y = b.AsArray();
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      if (!Equal(x[i], y[i])) return Less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return InvalidArgument("'<' not supported between instances of '" + a.TypeName() + "' and '" + b.TypeName() + "'");
}

}  // namespace riglm::jinja
