#include "template/builtins.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <utf8proc.h>

#include "text/unicode.h"

namespace riglm::jinja {
namespace {

using FilterFn = Result<Value> (*)(const Value&, CallArgs&);
using TestFn = Result<bool> (*)(const Value&, CallArgs&);

Status TypeError(const std::string& what) { return InvalidArgument(what); }

std::u32string Cps(const std::string& s) { return text::ToCodePoints(s); }

bool IsPySpace(char32_t cp) { return text::Is(cp, text::kWhitespace) || (cp >= 0x1c && cp <= 0x1f); }

std::string CaseMap(const std::string& s, bool upper) {
  std::string out;
  for (char32_t cp : Cps(s)) {
    const auto mapped = upper ? utf8proc_toupper(static_cast<utf8proc_int32_t>(cp))
                              : utf8proc_tolower(static_cast<utf8proc_int32_t>(cp));
    text::AppendUtf8(static_cast<char32_t>(mapped), &out);
  }
  return out;
}

std::string Title(const std::string& s) {
  std::string out;
  bool previous_cased = false;
  for (char32_t cp : Cps(s)) {
    const bool letter = text::Is(cp, text::kLetter);
    const auto mapped = !letter ? cp
                        : previous_cased ? static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)))
                                         : static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(cp)));
    text::AppendUtf8(mapped, &out);
    previous_cased = letter;
  }
  return out;
}

std::string Capitalize(const std::string& s) {
  const std::u32string cps = Cps(s);
  std::string out;
  for (size_t i = 0; i < cps.size(); ++i) {
    const auto cp = static_cast<utf8proc_int32_t>(cps[i]);
    text::AppendUtf8(static_cast<char32_t>(i == 0 ? utf8proc_toupper(cp) : utf8proc_tolower(cp)), &out);
  }
  return out;
}

// Python's str.strip family; `chars` undefined/None means whitespace.
std::string Strip(const std::string& s, const Value& chars, bool left, bool right) {
  const std::u32string cps = Cps(s);
  const std::u32string set = chars.is_string() ? Cps(chars.AsString()) : std::u32string();
  auto strip = [&](char32_t cp) { return chars.is_string() ? set.find(cp) != std::u32string::npos : IsPySpace(cp); };
  size_t begin = 0, end = cps.size();
  if (left) {
    while (begin < end && strip(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip(cps[end - 1])) --end;
  }
  return text::ToUtf8(std::u32string_view(cps).substr(begin, end - begin));
}

Value SplitString(const std::string& s, const Value& sep, int64_t max_split) {
  Array parts;
  if (!sep.is_string()) {
    const std::u32string cps = Cps(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && IsPySpace(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
        std::u32string rest = cps.substr(i);
        while (!rest.empty() && IsPySpace(rest.back())) rest.pop_back();
        parts.emplace_back(text::ToUtf8(rest));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !IsPySpace(cps[j])) ++j;
      parts.emplace_back(text::ToUtf8(std::u32string_view(cps).substr(i, j - i)));
      i = j;
    }
    return Value(std::move(parts));
  }
  const std::string& d = sep.AsString();
  size_t start = 0;
  while (true) {
    size_t at = d.empty() ? std::string::npos : s.find(d, start);
    if (at == std::string::npos || (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split)) {
      parts.emplace_back(s.substr(start));
      break;
    }
    parts.emplace_back(s.substr(start, at - start));
    start = at + d.size();
  }
  return Value(std::move(parts));
}

std::string Replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  size_t start = 0;
  int64_t done = 0;
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    const std::u32string cps = Cps(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      if (i < cps.size()) text::AppendUtf8(cps[i], &out);
    }
    return out;
  }
  while (count < 0 || done < count) {
    const size_t at = s.find(from, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += to;
    start = at + from.size();
    ++done;
  }
  out.append(s, start);
  return out;
}

// Items a filter iterates: list items, dict keys, string characters.
Result<Array> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return Array{};
    case Value::Kind::kArray: return v.AsArray();
    case Value::Kind::kObject: {
      Array keys;
      for (const auto& [k, _] : v.AsObject().items()) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      Array chars;
      for (char32_t cp : Cps(v.AsString())) chars.emplace_back(text::ToUtf8(std::u32string(1, cp)));
      return chars;
    }
    default: return TypeError("'" + v.TypeName() + "' object is not iterable");
  }
}

// Jinja's attribute lookup for filters: dotted paths and integer indices.
Value GetAttributePath(const Value& v, const std::string& path) {
  Value current = v;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    const std::string part = path.substr(start, dot - start);
    if (current.is_object()) {
      const Value* found = current.AsObject().Find(part);
      current = found ? *found : Value::MakeUndefined(part);
    } else if (current.is_array() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t index = std::stoul(part);
      current = index < current.AsArray().size() ? current.AsArray()[index] : Value::MakeUndefined(part);
    } else {
      return Value::MakeUndefined(part);
    }
    start = dot + 1;
  }
  return current;
}

Result<Value> Length(const Value& v, CallArgs&) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return Value(0);
    case Value::Kind::kString: return Value(static_cast<int64_t>(Cps(v.AsString()).size()));
    case Value::Kind::kArray:
      if (v.is_generator()) return TypeError("object of type 'generator' has no len()");
      return Value(static_cast<int64_t>(v.AsArray().size()));
    case Value::Kind::kObject: return Value(static_cast<int64_t>(v.AsObject().size()));
    default: return TypeError("object of type '" + v.TypeName() + "' has no len()");
  }
}

Result<Value> Trim(const Value& v, CallArgs& a) { return Value(Strip(v.Str(), a.Get(0, "chars"), true, true)); }
Result<Value> Lower(const Value& v, CallArgs&) { return Value(CaseMap(v.Str(), false)); }
Result<Value> Upper(const Value& v, CallArgs&) { return Value(CaseMap(v.Str(), true)); }
Result<Value> TitleFilter(const Value& v, CallArgs&) { return Value(Title(v.Str())); }
Result<Value> CapitalizeFilter(const Value& v, CallArgs&) { return Value(Capitalize(v.Str())); }
Result<Value> StringFilter(const Value& v, CallArgs&) { return Value(v.Str()); }

Result<Value> ToJson(const Value& v, CallArgs& a) {
  const Value indent = a.Get(0, "indent");
  const Value separators = a.Get(99, "separators");
  const bool sort_keys = a.Get(99, "sort_keys").Truthy();
  const int width = indent.is_int() ? static_cast<int>(indent.AsInt()) : -1;
  std::string item_sep = width >= 0 ? "," : ", ", key_sep = ": ";
  if (separators.is_array() && separators.AsArray().size() == 2) {
    item_sep = separators.AsArray()[0].Str();
    key_sep = separators.AsArray()[1].Str();
  }
  if (v.is_undefined()) return TypeError("tojson: Object of type Undefined is not JSON serializable");
  RIGLM_ASSIGN_OR_RETURN(std::string json, v.ToJson(width, item_sep, key_sep, sort_keys));
  return Value(std::move(json));
}

Result<Value> Items(const Value& v, CallArgs&) {
  Array out;
  if (v.is_undefined()) return Value(std::move(out));
  if (!v.is_object()) return TypeError("items: expected a mapping, got " + v.TypeName());
  for (const auto& [k, val] : v.AsObject().items()) out.emplace_back(Array{Value(k), val}, true);
  return Value::MakeGenerator(std::move(out));
}

Result<Value> Join(const Value& v, CallArgs& a) {
  const std::string sep = a.Get(0, "d", Value("")).Str();
  const Value attribute = a.Get(1, "attribute");
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += attribute.is_undefined() ? items[i].Str() : GetAttributePath(items[i], attribute.Str()).Str();
  }
  return Value(std::move(out));
}

Result<Value> Indent(const Value& v, CallArgs& a) {
  const Value width = a.Get(0, "width", Value(4));
  const bool first = a.Get(1, "first").Truthy();
  const bool blank = a.Get(2, "blank").Truthy();
  const std::string indention = width.is_string() ? width.AsString() : std::string(static_cast<size_t>(std::max<int64_t>(0, width.AsInt())), ' ');
  std::vector<std::string> lines = SplitLines(v.Str() + "\n");
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + indention : "") + lines[i];
  } else {
    out = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) out += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
  }
  if (first) out = indention + out;
  return Value(std::move(out));
}

Result<Value> ReplaceFilter(const Value& v, CallArgs& a) {
  const Value count = a.Get(2, "count");
  return Value(Replace(v.Str(), a.Get(0, "old").Str(), a.Get(1, "new").Str(), count.is_int() ? count.AsInt() : -1));
}

Result<Value> List(const Value& v, CallArgs&) {
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  return Value(std::move(items));
}

Result<Value> First(const Value& v, CallArgs&) {
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  return items.empty() ? Value::MakeUndefined("first") : items.front();
}

Result<Value> Last(const Value& v, CallArgs&) {
  if (v.is_generator()) return TypeError("'generator' object is not reversible");
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  return items.empty() ? Value::MakeUndefined("last") : items.back();
}

Result<Value> Default(const Value& v, CallArgs& a) {
  const bool boolean = a.Get(1, "boolean").Truthy();
  if (v.is_undefined() || (boolean && !v.Truthy())) return a.Get(0, "default_value", Value(""));
  return v;
}

// select/reject/selectattr/rejectattr share this: keep items whose test result equals `keep`.
Result<Value> SelectImpl(const Value& v, CallArgs& a, bool by_attribute, bool keep) {
  if (!v.Truthy()) return Value::MakeGenerator({});  // Jinja guards with `if value:`
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (a.positional.empty()) return TypeError("selectattr: missing attribute name");
    attribute = a.positional[next++].Str();
  }
  std::string test;
  if (next < a.positional.size()) test = a.positional[next++].Str();
  CallArgs test_args;
  test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(next), a.positional.end());
  Array out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? GetAttributePath(item, attribute) : item;
    bool result = subject.Truthy();
    if (!test.empty()) {
      RIGLM_ASSIGN_OR_RETURN(result, ApplyTest(test, subject, test_args));
    }
    if (result == keep) out.push_back(item);
  }
  return Value::MakeGenerator(std::move(out));
}
Result<Value> Select(const Value& v, CallArgs& a) { return SelectImpl(v, a, false, true); }
Result<Value> Reject(const Value& v, CallArgs& a) { return SelectImpl(v, a, false, false); }
Result<Value> SelectAttr(const Value& v, CallArgs& a) { return SelectImpl(v, a, true, true); }
Result<Value> RejectAttr(const Value& v, CallArgs& a) { return SelectImpl(v, a, true, false); }

Result<Value> Map(const Value& v, CallArgs& a) {
  if (!v.Truthy()) return Value::MakeGenerator({});  // Jinja guards with `if value:`
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  Array out;
  const Value attribute = a.Get(99, "attribute");
  if (!attribute.is_undefined()) {
    const Value fallback = a.Get(99, "default");
    for (const Value& item : items) {
      Value got = GetAttributePath(item, attribute.Str());
      out.push_back(got.is_undefined() && !fallback.is_undefined() ? fallback : got);
    }
    return Value::MakeGenerator(std::move(out));
  }
  if (a.positional.empty()) return TypeError("map: expected a filter name or attribute=");
  const std::string filter = a.positional[0].Str();
  CallArgs filter_args;
  filter_args.positional.assign(a.positional.begin() + 1, a.positional.end());
  filter_args.keyword = a.keyword;
  for (const Value& item : items) {
    RIGLM_ASSIGN_OR_RETURN(Value mapped, ApplyFilter(filter, item, filter_args));
    out.push_back(std::move(mapped));
  }
  return Value::MakeGenerator(std::move(out));
}

Value CaseKey(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value(CaseMap(v.AsString(), false)) : v;
}

Result<Value> Unique(const Value& v, CallArgs& a) {
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  const bool case_sensitive = a.Get(0, "case_sensitive").Truthy();
  const Value attribute = a.Get(1, "attribute");
  Array out, seen;
  for (const Value& item : items) {
    const Value key = CaseKey(attribute.is_undefined() ? item : GetAttributePath(item, attribute.Str()), case_sensitive);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return Equal(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::MakeGenerator(std::move(out));
}

Result<Value> Sort(const Value& v, CallArgs& a) {
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  const bool reverse = a.Get(0, "reverse").Truthy();
  const bool case_sensitive = a.Get(1, "case_sensitive").Truthy();
  const Value attribute = a.Get(2, "attribute");
  Status error;
  auto key = [&](const Value& item) {
    return CaseKey(attribute.is_undefined() ? item : GetAttributePath(item, attribute.Str()), case_sensitive);
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    auto less = reverse ? Less(key(y), key(x)) : Less(key(x), key(y));
    if (!less.ok()) {
      if (error.ok()) error = less.status();
      return false;
    }
    return *less;
  });
  RIGLM_RETURN_IF_ERROR(error);
  return Value(std::move(items));
}

Result<Value> Reverse(const Value& v, CallArgs&) {
  if (v.is_string()) {
    std::u32string cps = Cps(v.AsString());
    std::reverse(cps.begin(), cps.end());
    return Value(text::ToUtf8(cps));
  }
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  std::reverse(items.begin(), items.end());
  return Value(std::move(items));
}

Result<Value> Int(const Value& v, CallArgs& a) {
  if (v.is_number()) return Value(v.is_float() ? static_cast<int64_t>(v.AsDouble()) : v.AsInt());
  if (v.is_string()) {
    try {
      size_t used = 0;
      const std::string s = Strip(v.AsString(), Value(), true, true);
      const int64_t i = std::stoll(s, &used, 10);
      if (used == s.size()) return Value(i);
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value(static_cast<int64_t>(d));
    } catch (...) {
    }
  }
  return a.Get(0, "default", Value(0));
}

Result<Value> Float(const Value& v, CallArgs& a) {
  if (v.is_number()) return Value(v.AsDouble());
  if (v.is_string()) {
    try {
      size_t used = 0;
      const std::string s = Strip(v.AsString(), Value(), true, true);
      const double d = std::stod(s, &used);
      if (used == s.size()) return Value(d);
    } catch (...) {
    }
  }
  return a.Get(0, "default", Value(0.0));
}

Result<Value> Abs(const Value& v, CallArgs&) {
  if (v.is_float()) return Value(std::fabs(v.AsDouble()));
  if (v.is_number()) {
    if (v.AsInt() == std::numeric_limits<int64_t>::min()) return InvalidArgument("abs: integer overflow");
    return Value(v.AsInt() < 0 ? -v.AsInt() : v.AsInt());
  }
  return TypeError("bad operand type for abs(): '" + v.TypeName() + "'");
}

Result<Value> Round(const Value& v, CallArgs& a) {
  if (!v.is_number()) return TypeError("round: expected a number");
  const int64_t precision = a.Get(0, "precision", Value(0)).AsInt();
  const std::string method = a.Get(1, "method", Value("common")).Str();
  const double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.AsDouble() * scale;
  x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
  return Value(x / scale);
}

Result<Value> DictSort(const Value& v, CallArgs& a) {
  if (!v.is_object()) return TypeError("dictsort: expected a mapping");
  const bool case_sensitive = a.Get(0, "case_sensitive").Truthy();
  const bool by_value = a.Get(1, "by", Value("key")).Str() == "value";
  const bool reverse = a.Get(2, "reverse").Truthy();
  Array items;
  for (const auto& [k, val] : v.AsObject().items()) items.emplace_back(Array{Value(k), val}, true);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value& kx = x.AsArray()[by_value ? 1 : 0];
    const Value& ky = y.AsArray()[by_value ? 1 : 0];
    auto less = reverse ? Less(CaseKey(ky, case_sensitive), CaseKey(kx, case_sensitive))
                        : Less(CaseKey(kx, case_sensitive), CaseKey(ky, case_sensitive));
    return less.ok() && *less;
  });
  return Value(std::move(items));
}

Result<Value> Escape(const Value& v, CallArgs&) {
  if (v.is_safe()) return v;
  return Value::MakeSafe(HtmlEscape(v.Str()));
}

Result<Value> Safe(const Value& v, CallArgs&) { return v.is_safe() ? v : Value::MakeSafe(v.Str()); }

Result<Value> Attr(const Value& v, CallArgs& a) { return GetAttributePath(v, a.Get(0, "name").Str()); }

Result<Value> MinMax(const Value& v, bool want_max) {
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  if (items.empty()) return Value::MakeUndefined("min/max of an empty sequence");
  Value best = items[0];
  for (size_t i = 1; i < items.size(); ++i) {
    RIGLM_ASSIGN_OR_RETURN(bool less, want_max ? Less(best, items[i]) : Less(items[i], best));
    if (less) best = items[i];
  }
  return best;
}
Result<Value> Min(const Value& v, CallArgs&) { return MinMax(v, false); }
Result<Value> Max(const Value& v, CallArgs&) { return MinMax(v, true); }

Result<Value> Sum(const Value& v, CallArgs& a) {
  RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(v));
  Value total = a.Get(1, "start", Value(0));
  for (const Value& item : items) {
    if (!item.is_number() || !total.is_number()) return TypeError("sum: expected numbers");
    if (item.is_float() || total.is_float()) {
      total = Value(total.AsDouble() + item.AsDouble());
      continue;
    }
    int64_t sum = 0;
    if (__builtin_add_overflow(total.AsInt(), item.AsInt(), &sum)) return InvalidArgument("sum: integer overflow");
    total = Value(sum);
  }
  return total;
}

Result<Value> WordCount(const Value& v, CallArgs&) {
  return Value(static_cast<int64_t>(SplitString(v.Str(), Value(), -1).AsArray().size()));
}

const std::map<std::string, FilterFn>& Filters() {
  static const std::map<std::string, FilterFn> filters = {
      {"abs", Abs},         {"attr", Attr},           {"capitalize", CapitalizeFilter},
      {"count", Length},    {"d", Default},           {"default", Default},
      {"dictsort", DictSort}, {"e", Escape},          {"escape", Escape},
      {"first", First},     {"float", Float},         {"forceescape", Escape},
      {"indent", Indent},   {"int", Int},             {"items", Items},
      {"join", Join},       {"last", Last},           {"length", Length},
      {"list", List},       {"lower", Lower},         {"map", Map},
      {"max", Max},         {"min", Min},             {"reject", Reject},
      {"rejectattr", RejectAttr}, {"replace", ReplaceFilter}, {"reverse", Reverse},
      {"round", Round},     {"safe", Safe},       {"select", Select},
      {"selectattr", SelectAttr}, {"sort", Sort},     {"string", StringFilter},
      {"sum", Sum},         {"title", TitleFilter},   {"tojson", ToJson},
      {"trim", Trim},       {"unique", Unique},       {"upper", Upper},
      {"wordcount", WordCount},
  };
  return filters;
}

Value Arg(const CallArgs& a) { return a.positional.empty() ? Value() : a.positional[0]; }

const std::map<std::string, TestFn>& Tests() {
  static const std::map<std::string, TestFn> tests = {
      {"defined", [](const Value& v, CallArgs&) -> Result<bool> { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_undefined(); }},
      {"none", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_none(); }},
      {"boolean", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_bool(); }},
      {"true", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_bool() && v.AsBool(); }},
      {"false", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_bool() && !v.AsBool(); }},
      {"integer", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_int(); }},
      {"float", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_float(); }},
      {"number", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_number(); }},
      {"string", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_string(); }},
      {"mapping", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_object() && !v.is_namespace(); }},
      {"iterable", [](const Value& v, CallArgs&) -> Result<bool> {
         return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
       }},
      {"sequence", [](const Value& v, CallArgs&) -> Result<bool> {
         return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
       }},
      {"callable", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_function(); }},
      {"sameas", [](const Value& v, CallArgs& a) -> Result<bool> {
         const Value o = Arg(a);
         return v.kind() == o.kind() && (v.is_none() || v.is_undefined() || Equal(v, o));
       }},
      {"eq", [](const Value& v, CallArgs& a) -> Result<bool> { return Equal(v, Arg(a)); }},
      {"equalto", [](const Value& v, CallArgs& a) -> Result<bool> { return Equal(v, Arg(a)); }},
      {"==", [](const Value& v, CallArgs& a) -> Result<bool> { return Equal(v, Arg(a)); }},
      {"ne", [](const Value& v, CallArgs& a) -> Result<bool> { return !Equal(v, Arg(a)); }},
      {"!=", [](const Value& v, CallArgs& a) -> Result<bool> { return !Equal(v, Arg(a)); }},
      {"lt", [](const Value& v, CallArgs& a) -> Result<bool> { return Less(v, Arg(a)); }},
      {"gt", [](const Value& v, CallArgs& a) -> Result<bool> { return Less(Arg(a), v); }},
      {"le", [](const Value& v, CallArgs& a) -> Result<bool> {
         RIGLM_ASSIGN_OR_RETURN(bool gt, Less(Arg(a), v));
         return !gt;
       }},
      {"ge", [](const Value& v, CallArgs& a) -> Result<bool> {
         RIGLM_ASSIGN_OR_RETURN(bool lt, Less(v, Arg(a)));
         return !lt;
       }},
      {"in", [](const Value& v, CallArgs& a) -> Result<bool> {
         const Value container = Arg(a);
         if (container.is_string()) return v.is_string() && container.AsString().find(v.AsString()) != std::string::npos;
         if (container.is_object()) return v.is_string() && container.AsObject().Find(v.AsString()) != nullptr;
         if (container.is_array()) {
           for (const Value& item : container.AsArray()) {
             if (Equal(item, v)) return true;
           }
         }
         return false;
       }},
      {"divisibleby", [](const Value& v, CallArgs& a) -> Result<bool> {
         const Value d = Arg(a);
         if (!v.is_number() || !d.is_number() || d.AsInt() == 0) return TypeError("divisibleby: expected numbers");
         return v.AsInt() % d.AsInt() == 0;
       }},
      {"even", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_number() && v.AsInt() % 2 == 0; }},
      {"odd", [](const Value& v, CallArgs&) -> Result<bool> { return v.is_number() && v.AsInt() % 2 != 0; }},
      {"lower", [](const Value& v, CallArgs&) -> Result<bool> {
         return v.is_string() && CaseMap(v.AsString(), false) == v.AsString();
       }},
      {"upper", [](const Value& v, CallArgs&) -> Result<bool> {
         return v.is_string() && CaseMap(v.AsString(), true) == v.AsString();
       }},
      {"escaped", [](const Value&, CallArgs&) -> Result<bool> { return false; }},
  };
  return tests;
}

// Python's str.format with {} / {0} / {name} fields and {{ }} escapes (no format specs).
Result<Value> Format(const std::string& fmt, CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      const size_t close = fmt.find('}', i);
      if (close == std::string::npos) return TypeError("format: single '{' encountered");
      std::string field = fmt.substr(i + 1, close - i - 1);
      if (field.find(':') != std::string::npos || field.find('!') != std::string::npos) {
        return TypeError("format: format specifications are not supported");
      }
      Value v;
      if (field.empty()) {
        v = a.Get(auto_index++, "\x01");
      } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
        v = a.Get(std::stoul(field), "\x01");
      } else {
        v = a.Get(SIZE_MAX, field);
      }
      out += v.Str();
      i = close;
    } else {
      out += c;
    }
  }
  return Value(std::move(out));
}

Function Bind(Value target, Result<Value> (*fn)(const Value&, CallArgs&)) {
  return [target, fn](CallArgs& a) { return fn(target, a); };
}

}  // namespace

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> lines;
  const std::u32string cps = text::ToCodePoints(s);
  std::u32string line;
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t cp = cps[i];
    const bool is_break = cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0x1c || cp == 0x1d ||
                          cp == 0x1e || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!is_break) {
      line += cp;
      continue;
    }
    if (cp == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
    lines.push_back(text::ToUtf8(line));
    line.clear();
  }
  if (!line.empty()) lines.push_back(text::ToUtf8(line));
  return lines;
}

Result<Value> ApplyFilter(const std::string& name, const Value& target, CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) return NotFound("no filter named '" + name + "'");
  return it->second(target, args);
}

Result<bool> ApplyTest(const std::string& name, const Value& target, CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) return NotFound("no test named '" + name + "'");
  return it->second(target, args);
}

Value GetMethod(const Value& target, const std::string& name) {
  if (target.is_string()) {
    static const std::map<std::string, Result<Value> (*)(const Value&, CallArgs&)> methods = {
        {"strip", [](const Value& s, CallArgs& a) -> Result<Value> { return Value(Strip(s.AsString(), a.Get(0, "chars"), true, true)); }},
        {"lstrip", [](const Value& s, CallArgs& a) -> Result<Value> { return Value(Strip(s.AsString(), a.Get(0, "chars"), true, false)); }},
        {"rstrip", [](const Value& s, CallArgs& a) -> Result<Value> { return Value(Strip(s.AsString(), a.Get(0, "chars"), false, true)); }},
        {"upper", [](const Value& s, CallArgs&) -> Result<Value> { return Value(CaseMap(s.AsString(), true)); }},
        {"lower", [](const Value& s, CallArgs&) -> Result<Value> { return Value(CaseMap(s.AsString(), false)); }},
        {"title", [](const Value& s, CallArgs&) -> Result<Value> { return Value(Title(s.AsString())); }},
        {"capitalize", [](const Value& s, CallArgs&) -> Result<Value> { return Value(Capitalize(s.AsString())); }},
        {"split", [](const Value& s, CallArgs& a) -> Result<Value> {
           const Value max = a.Get(1, "maxsplit");
           return SplitString(s.AsString(), a.Get(0, "sep"), max.is_int() ? max.AsInt() : -1);
         }},
        {"splitlines", [](const Value& s, CallArgs&) -> Result<Value> {
           Array out;
           for (auto& line : SplitLines(s.AsString())) out.emplace_back(std::move(line));
           return Value(std::move(out));
         }},
        {"replace", [](const Value& s, CallArgs& a) -> Result<Value> {
           const Value count = a.Get(2, "count");
           return Value(Replace(s.AsString(), a.Get(0, "old").Str(), a.Get(1, "new").Str(), count.is_int() ? count.AsInt() : -1));
         }},
        {"startswith", [](const Value& s, CallArgs& a) -> Result<Value> {
           const Value p = a.Get(0, "prefix");
           if (p.is_array()) {
             for (const Value& x : p.AsArray()) {
               if (s.AsString().rfind(x.Str(), 0) == 0) return Value(true);
             }
             return Value(false);
           }
           return Value(s.AsString().rfind(p.Str(), 0) == 0);
         }},
        {"endswith", [](const Value& s, CallArgs& a) -> Result<Value> {
           auto ends = [&](const std::string& suffix) {
             return s.AsString().size() >= suffix.size() &&
                    s.AsString().compare(s.AsString().size() - suffix.size(), suffix.size(), suffix) == 0;
           };
           const Value p = a.Get(0, "suffix");
           if (p.is_array()) {
             for (const Value& x : p.AsArray()) {
               if (ends(x.Str())) return Value(true);
             }
             return Value(false);
           }
           return Value(ends(p.Str()));
         }},
        {"find", [](const Value& s, CallArgs& a) -> Result<Value> {
           const size_t at = s.AsString().find(a.Get(0, "sub").Str());
           if (at == std::string::npos) return Value(-1);
           return Value(static_cast<int64_t>(text::ToCodePoints(s.AsString().substr(0, at)).size()));
         }},
        {"count", [](const Value& s, CallArgs& a) -> Result<Value> {
           const std::string sub = a.Get(0, "sub").Str();
           if (sub.empty()) return Value(static_cast<int64_t>(text::ToCodePoints(s.AsString()).size() + 1));
           int64_t n = 0;
           for (size_t at = s.AsString().find(sub); at != std::string::npos; at = s.AsString().find(sub, at + sub.size())) ++n;
           return Value(n);
         }},
        {"format", [](const Value& s, CallArgs& a) -> Result<Value> { return Format(s.AsString(), a); }},
        {"join", [](const Value& s, CallArgs& a) -> Result<Value> {
           RIGLM_ASSIGN_OR_RETURN(Array items, Iterate(a.Get(0, "iterable")));
           std::string out;
           for (size_t i = 0; i < items.size(); ++i) out += (i ? s.AsString() : "") + items[i].Str();
           return Value(std::move(out));
         }},
        {"isdigit", [](const Value& s, CallArgs&) -> Result<Value> {
           const std::u32string c = text::ToCodePoints(s.AsString());
           return Value(!c.empty() && std::all_of(c.begin(), c.end(), [](char32_t cp) { return text::Is(cp, text::kDecimalDigit); }));
         }},
        {"isalpha", [](const Value& s, CallArgs&) -> Result<Value> {
           const std::u32string c = text::ToCodePoints(s.AsString());
           return Value(!c.empty() && std::all_of(c.begin(), c.end(), [](char32_t cp) { return text::Is(cp, text::kLetter); }));
         }},
        {"isspace", [](const Value& s, CallArgs&) -> Result<Value> {
           const std::u32string c = text::ToCodePoints(s.AsString());
           return Value(!c.empty() && std::all_of(c.begin(), c.end(), IsPySpace));
         }},
    };
    auto it = methods.find(name);
    if (it != methods.end()) return Value(Bind(target, it->second));
  } else if (target.is_object() && !target.is_namespace()) {
    if (name == "get") {
      return Value(Function([target](CallArgs& a) -> Result<Value> {
        const Value key = a.Get(0, "key");
        const Value* found = key.is_string() ? target.AsObject().Find(key.AsString()) : nullptr;
        return found ? *found : a.Get(1, "default", Value::MakeNone());
      }));
    }
    if (name == "items") return Value(Bind(target, Items));
    if (name == "keys") return Value(Bind(target, List));
    if (name == "values") {
      return Value(Function([target](CallArgs&) -> Result<Value> {
        Array out;
        for (const auto& [k, v] : target.AsObject().items()) out.push_back(v);
        return Value(std::move(out));
      }));
    }
  } else if (target.is_array()) {
    if (name == "index" || name == "count") {
      const bool index = name == "index";
      return Value(Function([target, index](CallArgs& a) -> Result<Value> {
        const Value needle = a.Get(0, "value");
        int64_t count = 0;
        const Array& items = target.AsArray();
        for (size_t i = 0; i < items.size(); ++i) {
          if (!Equal(items[i], needle)) continue;
          if (index) return Value(static_cast<int64_t>(i));
          ++count;
        }
        if (index) return InvalidArgument(needle.Repr() + " is not in list");
        return Value(count);
      }));
    }
  }
  return Value::MakeUndefined(name);
}

Object BuiltinGlobals() {
  Object g;
  g.Set("range", Value(Function([](CallArgs& a) -> Result<Value> {
    int64_t start = 0, stop = 0, step = 1;
    for (const Value& v : a.positional) {
      if (!v.is_number()) return InvalidArgument("range: expected integers");
    }
    if (a.positional.size() == 1) {
      stop = a.positional[0].AsInt();
    } else if (a.positional.size() >= 2) {
      start = a.positional[0].AsInt();
      stop = a.positional[1].AsInt();
      if (a.positional.size() >= 3) step = a.positional[2].AsInt();
    }
    if (step == 0) return InvalidArgument("range() arg 3 must not be zero");
    Array out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 100000) return InvalidArgument("range: too many items");
      out.emplace_back(i);
    }
    return Value(std::move(out));
  })));
  auto make_object = [](bool is_namespace) {
    return Value(Function([is_namespace](CallArgs& a) -> Result<Value> {
      Object o;
      for (const Value& p : a.positional) {
        if (!p.is_object()) return InvalidArgument("namespace/dict: positional arguments must be mappings");
        for (const auto& [k, v] : p.AsObject().items()) o.Set(k, v);
      }
      for (const auto& [k, v] : a.keyword) o.Set(k, v);
      return Value(std::move(o), is_namespace);
    }));
  };
  g.Set("namespace", make_object(true));
  g.Set("dict", make_object(false));
  return g;
}

}  // namespace riglm::jinja
