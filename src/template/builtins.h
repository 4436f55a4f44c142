// Jinja's filters, tests, value methods and global functions, with Python's semantics.
#pragma once

#include <ctime>
#include <string>

#include "template/value.h"

namespace riglm::jinja {

// Applies filter `name`; NotFound when there is no such filter.
Result<Value> ApplyFilter(const std::string& name, const Value& target, CallArgs& args);
// Applies test `name`; NotFound when there is no such test.
Result<bool> ApplyTest(const std::string& name, const Value& target, CallArgs& args);
// `target.name` for strings, dicts and lists: a bound method, or nullopt-like undefined.
Value GetMethod(const Value& target, const std::string& name);

// Globals every render sees: range, namespace, dict. raise_exception and strftime_now need the
// renderer and are added there.
Object BuiltinGlobals();

// Python's str.splitlines().
std::vector<std::string> SplitLines(const std::string& s);

}  // namespace riglm::jinja
