// The part of JSON Schema that constrained decoding enforces (Ollama's `format: {schema}`,
// OpenAI's `response_format: {"type": "json_schema"}`): types (one or a list), an object's
// properties (no others may appear) and required ones, an array's items and minItems/maxItems,
// string enums and const. Annotations (title, description, ...) are ignored; keywords that would
// change what is valid but are not enforced ($ref, anyOf, pattern, ...) are refused with their
// name, so a schema is never silently weakened.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "util/status.h"

namespace riglm {

class JsonSchema {
 public:
  enum Type : uint8_t {
    kObject = 1,
    kArray = 2,
    kString = 4,
    kNumber = 8,   // any number
    kInteger = 16, // a number without fraction or exponent
    kBoolean = 32,
    kNull = 64,
    kAny = 127,
  };

  // InvalidArgument names the offending keyword and where it is.
  static Result<std::shared_ptr<const JsonSchema>> Parse(const nlohmann::json& schema);

  uint8_t types = kAny;
  // Objects: when has_properties, only these keys may appear (each at most once).
  bool has_properties = false;
  std::vector<std::pair<std::string, std::shared_ptr<const JsonSchema>>> properties;
  std::vector<bool> required;  // per property
  // Arrays: every item's schema (null: any value) and the allowed count.
  std::shared_ptr<const JsonSchema> items;
  int64_t min_items = 0;
  int64_t max_items = -1;  // -1: no limit
  // Strings: when has_enum, the value must be one of these.
  bool has_enum = false;
  std::vector<std::string> string_enum;

  bool Allows(Type t) const { return (types & t) != 0; }
  // The property called `key`, or -1.
  int PropertyIndex(const std::string& key) const;

 private:
  static Status ParseInto(const nlohmann::json& schema, const std::string& at, JsonSchema* out);
};

}  // namespace riglm
