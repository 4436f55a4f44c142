// The JSON-prefix check behind format "json": every prefix of a valid document passes, the
// document is complete exactly at its end, and random strings agree with nlohmann's parser.
#include "server/json_prefix.h"

#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

namespace riglm {
namespace {

bool Accepts(std::string_view text, bool* complete = nullptr) {
  JsonPrefix p;
  const bool ok = p.Feed(text);
  if (complete) *complete = ok && p.complete();
  return ok;
}

TEST(JsonPrefixTest, EveryPrefixOfAValidDocumentPasses) {
  for (const std::string doc : {R"({"a": 1, "b": [true, false, null], "c": {"d": "x\"y\\z\u00e9"}})", R"([1, -2.5e+3, 0, 0.25, "s"])",
                                R"(  {"nested": [[[]]], "e": {}}  )", "\"just a string\"", "true", "[]", R"({"k":-0.0E-1})"}) {
    JsonPrefix p;
    for (size_t i = 0; i < doc.size(); ++i) {
      ASSERT_TRUE(p.Feed(std::string_view(&doc[i], 1))) << doc << " at " << i;
      const bool last_significant = doc.find_first_not_of(' ', i + 1) == std::string::npos;
      if (!last_significant) {
        EXPECT_FALSE(p.complete()) << doc << " at " << i;
      }
    }
    EXPECT_TRUE(p.complete()) << doc;
  }
}

TEST(JsonPrefixTest, BrokenDocumentsFail) {
  for (const std::string bad : {"{a", "{\"a\" 1", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "tru e", "nul1", "{}}", "[}", "\"\\x\"",
                                "\"\\u12g4\"", "1 2", "{\"a\":1}x", "[-]", "[1e]", "\"a\nb\""}) {
    EXPECT_FALSE(Accepts(bad)) << bad;
  }
  EXPECT_FALSE(Accepts(std::string(40, ' ') + "{}"));  // endless padding is not allowed
  EXPECT_FALSE(Accepts(std::string(100, '[')));        // nor unbounded nesting
}

TEST(JsonPrefixTest, AgreesWithAFullParserOnRandomStrings) {
  const std::string alphabet = "{}[]\":,0123456789.-eEtrufalsn \\";
  std::mt19937 rng(7);
  int complete_count = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    std::string s;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    bool complete = false;
    const bool prefix = Accepts(s, &complete);
    const bool valid = nlohmann::json::accept(s);
    // Bare top-level numbers are left out: they need a terminator here, and nlohmann refuses
    // ones that overflow a double (6e825) although the grammar allows them.
    const size_t first = s.find_first_not_of(' ');
    const bool bare_number = first != std::string::npos && (s[first] == '-' || (s[first] >= '0' && s[first] <= '9'));
    // A complete value must be valid JSON.
    if (complete && !bare_number) {
      EXPECT_TRUE(valid) << s;
      ++complete_count;
    }
    // A valid document is a complete prefix.
    if (valid && !bare_number) {
      EXPECT_TRUE(prefix && complete) << s;
    }
  }
  EXPECT_GT(complete_count, 100);
}

}  // namespace
}  // namespace riglm
