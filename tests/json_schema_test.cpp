// Decoding constrained by a JSON schema: which schemas are taken or refused, documents the schema
// accepts pass character by character, ones it refuses fail, random values drawn from the schema
// all pass, and whatever random text is accepted as complete is valid JSON the schema accepts.
#include "server/json_schema.h"

#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "server/json_prefix.h"

namespace riglm {
namespace {

using json = nlohmann::json;

std::shared_ptr<const JsonSchema> Schema(const json& j) {
  auto s = JsonSchema::Parse(j);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : nullptr;
}

const json kPerson = json::parse(R"({
  "type": "object",
  "title": "a person",
  "properties": {
    "name": {"type": "string", "description": "any text"},
    "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "bb", "bc"]}, "minItems": 1, "maxItems": 2},
    "ok": {"type": "boolean"},
    "x": {"type": ["number", "null"]},
    "any": {}
  },
  "required": ["name", "age"],
  "additionalProperties": false
})");

// True when the whole of `text` is accepted and makes a complete value.
bool Complete(const std::shared_ptr<const JsonSchema>& schema, std::string_view text) {
  JsonPrefix p(schema);
  return p.Feed(text) && p.complete();
}

TEST(JsonSchemaTest, RefusesWhatItCannotEnforceAndNamesIt) {
  for (const auto& [schema, keyword] : std::vector<std::pair<std::string, std::string>>{
           {R"({"$ref": "#/defs/a"})", "$ref"},
           {R"({"anyOf": [{"type": "string"}]})", "anyOf"},
           {R"({"type": "string", "pattern": "^a"})", "pattern"},
           {R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})", "required"},
           {R"({"enum": [1, 2]})", "enum"},
           {R"({"type": "strng"})", "strng"},
           {R"({"type": "object", "additionalProperties": {"type": "string"}})", "additionalProperties"},
           {R"({"type": "array", "minItems": 3, "maxItems": 2})", "maxItems"},
           {R"({"properties": {"a\"b": {}}})", "escapes"},
           {R"([1])", "must be an object"}}) {
    auto parsed = JsonSchema::Parse(json::parse(schema));
    ASSERT_FALSE(parsed.ok()) << schema;
    EXPECT_NE(parsed.status().message().find(keyword), std::string::npos) << parsed.status().message();
  }
}

TEST(JsonSchemaTest, AcceptedDocumentsPassEveryPrefix) {
  const auto schema = Schema(kPerson);
  for (const std::string doc : {R"({"name": "Tom", "age": 7, "tags": ["a", "bb"]})",
                                R"({"age":-3,"name":"","ok":true,"x":null})",
                                R"({"name": "a\"b\u00e9", "age": 0, "x": 1.5e3, "any": {"deep": [1, "s"]}})",
                                " {\n\"tags\": [\"bc\"], \"name\": \"n\", \"age\": 12} "}) {
    JsonPrefix p(schema);
    for (size_t i = 0; i < doc.size(); ++i) ASSERT_TRUE(p.Feed(std::string_view(&doc[i], 1))) << doc << " at " << i;
    EXPECT_TRUE(p.complete()) << doc;
  }
}

TEST(JsonSchemaTest, RefusedDocumentsFail) {
  const auto schema = Schema(kPerson);
  for (const std::string bad : {
           R"({"name": "Tom"})",                             // age is required
           R"({"name": 1, "age": 2})",                       // name is a string
           R"({"name": "a", "age": 1.5})",                   // age is an integer
           R"({"name": "a", "age": 1e3})",
           R"({"nme": "a", "age": 1})",                      // unknown property
           R"({"name": "a", "name": "b", "age": 1})",        // twice
           R"({"name": "a", "age": 1, "tags": []})",         // minItems
           R"({"name": "a", "age": 1, "tags": ["a", "a", "a"]})",  // maxItems
           R"({"name": "a", "age": 1, "tags": ["b"]})",      // not in the enum
           R"({"name": "a", "age": 1, "tags": ["a\u0062"]})",  // enum values are written plainly
           R"({"name": "a", "age": 1, "x": "1"})",
           R"({"name": "a", "age": 1, "ok": null})",
           R"(["name"])",                                    // not an object
           R"({"name": "a", "age": 1, "ok": true, "x": 1, "tags": ["a"], "any": 0, )",  // nothing can follow the comma
       }) {
    EXPECT_FALSE(Complete(schema, bad)) << bad;
  }
  // Under a schema one whitespace character separates tokens at most.
  EXPECT_FALSE(Complete(schema, R"({"name":  "a", "age": 1})"));
  EXPECT_FALSE(Complete(schema, "{\"name\": \"a\",\n \"age\": 1}"));
  // A prefix that can still become valid is accepted, and is not complete.
  JsonPrefix p(schema);
  EXPECT_TRUE(p.Feed(R"({"tags": ["b)"));
  EXPECT_FALSE(p.complete());
}

// A random value the schema accepts.
json Draw(const JsonSchema* s, std::mt19937& rng, int depth = 0) {
  if (s == nullptr || s->types == JsonSchema::kAny) {
    const int pick = static_cast<int>(rng() % (depth < 2 ? 5 : 3));
    if (pick == 0) return static_cast<int>(rng() % 100) - 50;
    if (pick == 1) return "t" + std::to_string(rng() % 10);
    if (pick == 2) return nullptr;
    if (pick == 3) return json::array({Draw(nullptr, rng, depth + 1)});
    return json{{"k", Draw(nullptr, rng, depth + 1)}};
  }
  std::vector<JsonSchema::Type> types;
  for (JsonSchema::Type t : {JsonSchema::kObject, JsonSchema::kArray, JsonSchema::kString, JsonSchema::kNumber,
                             JsonSchema::kInteger, JsonSchema::kBoolean, JsonSchema::kNull}) {
    if (s->Allows(t)) types.push_back(t);
  }
  switch (types[rng() % types.size()]) {
    case JsonSchema::kObject: {
      json o = json::object();
      for (size_t i = 0; i < s->properties.size(); ++i) {
        if (s->required[i] || rng() % 2) o[s->properties[i].first] = Draw(s->properties[i].second.get(), rng, depth + 1);
      }
      return o;
    }
    case JsonSchema::kArray: {
      json a = json::array();
      const int64_t most = s->max_items >= 0 ? s->max_items : s->min_items + 3;
      const int64_t n = s->min_items + static_cast<int64_t>(rng() % (most - s->min_items + 1));
      for (int64_t i = 0; i < n; ++i) a.push_back(Draw(s->items.get(), rng, depth + 1));
      return a;
    }
    case JsonSchema::kString:
      if (s->has_enum) return s->string_enum[rng() % s->string_enum.size()];
      return std::string(rng() % 4, 'q') + "\"\n";
    case JsonSchema::kNumber: return (static_cast<double>(rng() % 2000) - 1000.0) / 8.0;
    case JsonSchema::kInteger: return static_cast<int>(rng() % 2000) - 1000;
    case JsonSchema::kBoolean: return rng() % 2 == 0;
    default: return nullptr;
  }
}

// Whether `v` is a value the schema accepts, by the rules JsonSchema enforces.
bool Valid(const JsonSchema* s, const json& v) {
  if (s == nullptr) return true;
  auto allows = [&](uint8_t t) { return (s->types & t) != 0; };
  if (v.is_object()) {
    if (!allows(JsonSchema::kObject)) return false;
    if (!s->has_properties) return true;
    std::vector<bool> seen(s->properties.size());
    for (const auto& [key, value] : v.items()) {
      const int i = s->PropertyIndex(key);
      if (i < 0 || !Valid(s->properties[i].second.get(), value)) return false;
      seen[i] = true;
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (s->required[i] && !seen[i]) return false;
    }
    return true;
  }
  if (v.is_array()) {
    if (!allows(JsonSchema::kArray)) return false;
    const int64_t n = static_cast<int64_t>(v.size());
    if (n < s->min_items || (s->max_items >= 0 && n > s->max_items)) return false;
    for (const json& item : v) {
      if (!Valid(s->items.get(), item)) return false;
    }
    return true;
  }
  if (v.is_string()) {
    if (!allows(JsonSchema::kString)) return false;
    return !s->has_enum || std::find(s->string_enum.begin(), s->string_enum.end(), v.get<std::string>()) != s->string_enum.end();
  }
  if (v.is_number_float()) return allows(JsonSchema::kNumber);
  if (v.is_number()) return allows(JsonSchema::kInteger);
  if (v.is_boolean()) return allows(JsonSchema::kBoolean);
  return allows(JsonSchema::kNull);
}

TEST(JsonSchemaTest, ValuesDrawnFromTheSchemaPassAndRandomTextAcceptedIsValid) {
  const auto schema = Schema(kPerson);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const json value = Draw(schema.get(), rng);
    ASSERT_TRUE(Valid(schema.get(), value)) << value.dump();
    const std::string text = value.dump();
    ASSERT_TRUE(Complete(schema, text)) << text;
    // One character changed: whatever the prefix check still calls complete must be valid.
    std::string mutated = text;
    mutated[rng() % mutated.size()] = "{}[]\",:0.5e-tfnabq \\"[rng() % 21];
    if (Complete(schema, mutated)) {
      const json parsed = json::parse(mutated, nullptr, false);
      ASSERT_FALSE(parsed.is_discarded()) << mutated;
      EXPECT_TRUE(Valid(schema.get(), parsed)) << mutated;
    }
  }
}

}  // namespace
}  // namespace riglm
