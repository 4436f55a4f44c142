#include "server/json_schema.h"

#include <nlohmann/json.hpp>

namespace riglm {
namespace {

using json = nlohmann::json;

// Keywords that only describe: ignoring them changes nothing that is valid.
bool IsAnnotation(const std::string& key) {
  static const char* const kAnnotations[] = {"title", "description", "default", "examples", "$schema", "$id",
                                             "$comment", "deprecated", "readOnly", "writeOnly", "strict", "name",
                                             "format"};
  for (const char* a : kAnnotations) {
    if (key == a) return true;
  }
  return false;
}

Result<uint8_t> ParseType(const json& t, const std::string& at) {
  auto one = [&](const json& name) -> Result<uint8_t> {
    if (!name.is_string()) return InvalidArgument(at + ".type must be a string or a list of strings");
    const std::string n = name.get<std::string>();
    if (n == "object") return JsonSchema::kObject;
    if (n == "array") return JsonSchema::kArray;
    if (n == "string") return JsonSchema::kString;
    if (n == "number") return JsonSchema::kNumber | JsonSchema::kInteger;
    if (n == "integer") return JsonSchema::kInteger;
    if (n == "boolean") return JsonSchema::kBoolean;
    if (n == "null") return JsonSchema::kNull;
    return InvalidArgument(at + ".type '" + n + "' is not a JSON Schema type");
  };
  if (!t.is_array()) return one(t);
  uint8_t types = 0;
  for (const json& name : t) {
    RIGLM_ASSIGN_OR_RETURN(uint8_t bit, one(name));
    types |= bit;
  }
  if (types == 0) return InvalidArgument(at + ".type must name at least one type");
  return types;
}

// Strings the decoder matches must be writable without escapes.
bool IsPlain(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

int JsonSchema::PropertyIndex(const std::string& key) const {
  for (size_t i = 0; i < properties.size(); ++i) {
    if (properties[i].first == key) return static_cast<int>(i);
  }
  return -1;
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::Parse(const json& schema) {
  auto out = std::make_shared<JsonSchema>();
  RIGLM_RETURN_IF_ERROR(ParseInto(schema, "schema", out.get()));
  return std::shared_ptr<const JsonSchema>(std::move(out));
}

Status JsonSchema::ParseInto(const json& schema, const std::string& at, JsonSchema* out) {
  if (schema.is_boolean() && schema.get<bool>()) return Status::Ok();  // `true`: anything
  if (!schema.is_object()) return InvalidArgument(at + " must be an object");
  const json* required = nullptr;
  for (const auto& [key, value] : schema.items()) {
    if (key == "type") {
      RIGLM_ASSIGN_OR_RETURN(out->types, ParseType(value, at));
    } else if (key == "properties") {
      if (!value.is_object()) return InvalidArgument(at + ".properties must be an object");
      out->has_properties = true;
      for (const auto& [name, sub] : value.items()) {
        if (!IsPlain(name)) return InvalidArgument(at + ".properties: the name '" + name + "' needs escapes");
        auto node = std::make_shared<JsonSchema>();
        RIGLM_RETURN_IF_ERROR(ParseInto(sub, at + ".properties." + name, node.get()));
        out->properties.emplace_back(name, std::move(node));
      }
    } else if (key == "required") {
      if (!value.is_array()) return InvalidArgument(at + ".required must be a list of names");
      required = &value;
    } else if (key == "additionalProperties") {
      // Without properties there is nothing to add to; with them, none may be added.
      if (!(value.is_boolean() && !value.get<bool>())) {
        return InvalidArgument(at + ".additionalProperties: only false is supported");
      }
    } else if (key == "items") {
      auto node = std::make_shared<JsonSchema>();
      RIGLM_RETURN_IF_ERROR(ParseInto(value, at + ".items", node.get()));
      out->items = std::move(node);
    } else if (key == "minItems" || key == "maxItems") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        return InvalidArgument(at + "." + key + " must be a non-negative integer");
      }
      (key == "minItems" ? out->min_items : out->max_items) = value.get<int64_t>();
    } else if (key == "enum" || key == "const") {
      const json values = key == "const" ? json::array({value}) : value;
      if (!values.is_array() || values.empty()) return InvalidArgument(at + ".enum must be a non-empty list");
      for (const json& v : values) {
        if (!v.is_string()) return InvalidArgument(at + "." + key + ": only string values are supported");
        if (!IsPlain(v.get<std::string>())) return InvalidArgument(at + "." + key + ": '" + v.get<std::string>() + "' needs escapes");
        out->string_enum.push_back(v.get<std::string>());
      }
      out->has_enum = true;
    } else if (!IsAnnotation(key)) {
      return InvalidArgument(at + ": the keyword '" + key + "' is not supported (supported: type, properties, required, "
                             "additionalProperties: false, items, minItems, maxItems, enum and const of strings)");
    }
  }
  if (out->has_enum) out->types &= kString;
  if (out->types == 0) return InvalidArgument(at + ": enum and const hold strings, but the type allows none");
  out->required.assign(out->properties.size(), false);
  if (required != nullptr) {
    for (const json& name : *required) {
      const int index = name.is_string() ? out->PropertyIndex(name.get<std::string>()) : -1;
      if (index < 0) return InvalidArgument(at + ".required names '" + name.dump() + "', which is not in properties");
      out->required[index] = true;
    }
  }
  if (out->max_items >= 0 && out->max_items < out->min_items) return InvalidArgument(at + ": maxItems is below minItems");
  return Status::Ok();
}

}  // namespace riglm
