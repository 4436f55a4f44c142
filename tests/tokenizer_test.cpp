// Tokenization against the published vectors of every family in ../shared/tokenizer-tests,
// and the round trips and special-token rules.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "test_support.h"

namespace riglm {
namespace {

struct LoadedTokenizer {
  MappedFile file;
  std::unique_ptr<Tokenizer> tokenizer;
};

LoadedTokenizer LoadTokenizer(const std::string& path) {
  LoadedTokenizer out;
  auto file = MappedFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  if (!file.ok()) return out;
  out.file = std::move(file).value();
  auto gguf = GgufFile::Parse(out.file.bytes(), out.file.size(), path);
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  if (!gguf.ok()) return out;
  auto tokenizer = Tokenizer::FromGguf(*gguf);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  if (tokenizer.ok()) out.tokenizer = std::move(tokenizer).value();
  return out;
}

TEST(TokenizerTest, Stories260KRoundTrips) {
  LoadedTokenizer t = LoadTokenizer(testing::Stories260KPath());
  ASSERT_NE(t.tokenizer, nullptr);
  const Vocab& v = t.tokenizer->vocab();
  EXPECT_EQ(v.size(), 512);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_TRUE(v.IsEndOfGeneration(2));
  for (const std::string text : {"Once upon a time, there was a little girl named Lily.", "Hello  world\n\tok", "ü ✓ 日本"}) {
    const std::vector<int32_t> ids = t.tokenizer->Encode(text, {});
    EXPECT_EQ(t.tokenizer->Decode(ids), " " + text);  // SentencePiece adds the leading space
  }
  // BOS on request only; special tokens only when asked to parse them.
  EXPECT_EQ(t.tokenizer->Encode("Hi", {.add_bos = true}).front(), 1);
  const std::vector<int32_t> plain = t.tokenizer->Encode("<s>", {});
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(t.tokenizer->Encode("<s>", {.parse_special = true}), std::vector<int32_t>{1});
}

// Found by the GGUF fuzzer: a space marker one or two bytes into a token or a text (no space
// prefix) must not underflow the look-behind.
TEST(TokenizerTest, SpaceMarkerNearTheStartIsHandled) {
  Vocab v;
  v.model = "llama";
  v.add_space_prefix = false;
  v.texts = {"<unk>", "a", "b", "\xe2\x96\x81", "a\xe2\x96\x81", "\xe2\x96\x81" "b"};
  v.scores = {0, -1, -2, -3, -4, -5};
  v.types = {TokenType::kUnknown, TokenType::kNormal, TokenType::kNormal, TokenType::kNormal, TokenType::kNormal,
             TokenType::kNormal};
  v.unk_id = 0;
  for (int32_t i = 0; i < v.size(); ++i) v.ids.emplace(v.texts[i], i);
  SpmTokenizer t(v);
  const std::vector<int32_t> ids = t.Encode("a b", {});
  EXPECT_EQ(t.Decode(ids), "a b");
  v.texts[4] = "ab";  // now no token has a marker after other text: words are merged one by one
  v.ids.clear();
  for (int32_t i = 0; i < v.size(); ++i) v.ids.emplace(v.texts[i], i);
  SpmTokenizer words(v);
  EXPECT_EQ(words.Decode(words.Encode("a b", {})), "a b");
}

// Runs one published vector set: NAME.gguf with NAME.gguf.inp / NAME.gguf.out.
void RunVectorSet(const std::string& name) {
  const std::string base = testing::SharedPath("tokenizer-tests/" + name);
  LoadedTokenizer t = LoadTokenizer(base);
  ASSERT_NE(t.tokenizer, nullptr);
  const std::string inputs = testing::ReadFileBytes(base + ".inp");
  const std::string outputs = testing::ReadFileBytes(base + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> tests;
  for (size_t pos = 0; pos < inputs.size();) {
    size_t end = inputs.find(separator, pos);
    if (end == std::string::npos) end = inputs.size();
    tests.push_back(inputs.substr(pos, end - pos));
    pos = end + separator.size();
  }
  std::istringstream lines(outputs);
  std::string line;
  size_t index = 0, round_trips = 0;
  while (std::getline(lines, line) && index < tests.size()) {
    std::vector<int32_t> expected;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) expected.push_back(id);
    const std::vector<int32_t> got = t.tokenizer->Encode(tests[index], {});
    EXPECT_EQ(got, expected) << name << " test #" << index << ": '" << tests[index] << "'";
    // Decoding is the exact inverse, except for what the vocabulary cannot represent (an
    // unknown token) and the space SentencePiece puts in front.
    const Vocab& v = t.tokenizer->vocab();
    if (std::find(got.begin(), got.end(), v.unk_id) == got.end() || v.unk_id < 0) {
      std::string decoded = t.tokenizer->Decode(got);
      if (v.add_space_prefix && !decoded.empty() && decoded[0] == ' ' && !tests[index].empty()) decoded.erase(0, 1);
      EXPECT_EQ(decoded, tests[index]) << name << " test #" << index;
      ++round_trips;
    }
    ++index;
  }
  EXPECT_EQ(index, tests.size());
  EXPECT_GT(round_trips, tests.size() / 2);
}

// Every vector set the folder holds: a new family is a new file there, not new code here.
TEST(TokenizerTest, EveryPublishedVectorSet) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(testing::SharedPath("tokenizer-tests"))) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 5 && name.substr(name.size() - 5) == ".gguf") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  ASSERT_GE(names.size(), 5u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    RunVectorSet(name);
  }
}

}  // namespace
}  // namespace riglm

namespace riglm {
namespace {

// Writes a Hugging Face tokenizer.json for a byte-level BPE vocabulary held in a GGUF file, with
// the given pre_tokenizer section, as the Hub's files spell them.
std::string HfTokenizerJson(const std::string& gguf_name, const nlohmann::json& pre_tokenizer) {
  auto file = MappedFile::Open(testing::SharedPath("tokenizer-tests/" + gguf_name));
  auto gguf = GgufFile::Parse(file->bytes(), file->size(), gguf_name);
  const GgufArray* tokens = *gguf->GetArray("tokenizer.ggml.tokens");
  const GgufArray* types = *gguf->GetArray("tokenizer.ggml.token_type");
  const GgufArray* merges = *gguf->GetArray("tokenizer.ggml.merges");
  nlohmann::json doc;
  doc["model"] = {{"type", "BPE"}, {"vocab", nlohmann::json::object()}, {"merges", nlohmann::json::array()}};
  doc["added_tokens"] = nlohmann::json::array();
  for (size_t id = 0; id < tokens->items.size(); ++id) {
    const std::string& text = std::get<std::string>(tokens->items[id].data);
    const int64_t type = std::get<int64_t>(types->items[id].data);
    if (type == 3 || type == 4) {
      doc["added_tokens"].push_back({{"id", id}, {"content", text}, {"special", type == 3}});
    } else {
      doc["model"]["vocab"][text] = id;
    }
  }
  for (const GgufValue& m : merges->items) doc["model"]["merges"].push_back(std::get<std::string>(m.data));
  doc["pre_tokenizer"] = pre_tokenizer;
  return doc.dump();
}

nlohmann::json Split(const std::string& regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
nlohmann::json ByteLevel(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

// The GGUF vectors again, through tokenizers loaded from tokenizer.json instead of GGUF.
TEST(HfTokenizerTest, ByteLevelBpeFromTokenizerJsonMatchesVectors) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"ggml-vocab-gpt-2.gguf", ByteLevel(true)},
      {"ggml-vocab-starcoder.gguf",
       {{"type", "Sequence"},
        {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, ByteLevel(true)}}}},
      {"ggml-vocab-deepseek-coder.gguf",
       {{"type", "Sequence"},
        {"pretokenizers",
         {Split("[\r\n]"), Split("\\s?\\p{L}+"), Split("\\s?\\p{P}+"),
          Split("[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"), Split("\\p{N}"),
          ByteLevel(false)}}}},
  };
  for (const auto& [name, pre] : cases) {
    SCOPED_TRACE(name);
    auto tokenizer = LoadHuggingFaceTokenizer(HfTokenizerJson(name, pre), "", name);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
    const std::string base = testing::SharedPath("tokenizer-tests/" + name);
    const std::string inputs = testing::ReadFileBytes(base + ".inp");
    std::istringstream lines(testing::ReadFileBytes(base + ".out"));
    const std::string separator = "\n__ggml_vocab_test__\n";
    size_t pos = 0, index = 0;
    std::string line;
    while (pos < inputs.size() && std::getline(lines, line)) {
      size_t end = inputs.find(separator, pos);
      if (end == std::string::npos) end = inputs.size();
      const std::string text = inputs.substr(pos, end - pos);
      pos = end + separator.size();
      std::vector<int32_t> expected;
      std::istringstream ids(line);
      for (int32_t id; ids >> id;) expected.push_back(id);
      EXPECT_EQ((*tokenizer)->Encode(text, {}), expected) << "test #" << index;
      ++index;
    }
    EXPECT_GT(index, 10u);
  }
}

// Llama 2 / Mistral files: BPE over U+2581-marked text with <0xNN> byte fallback.
TEST(HfTokenizerTest, SentencePieceStyleBpeWithByteFallback) {
  nlohmann::json doc;
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const std::vector<std::string> pieces = {"\xe2\x96\x81", "h", "e", "l", "o", "\xe2\x96\x81h", "ll",
                                           "\xe2\x96\x81he", "llo", "\xe2\x96\x81hello"};
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = 259 + static_cast<int>(i);
  doc["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"byte_fallback", true}, {"unk_token", "<unk>"},
                  {"merges", {"\xe2\x96\x81 h", "l l", "\xe2\x96\x81h e", "ll o", "\xe2\x96\x81he llo"}}};
  doc["added_tokens"] = {{{"id", 1}, {"content", "<s>"}, {"special", true}}, {{"id", 2}, {"content", "</s>"}, {"special", true}}};
  doc["normalizer"] = {{"type", "Sequence"},
                       {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}},
                                        {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}}}}};
  const std::string config = R"({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true,
                                 "chat_template": "{{ messages[0]['content'] }}"})";
  auto tokenizer = LoadHuggingFaceTokenizer(doc.dump(), config, "tiny");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const Tokenizer& t = **tokenizer;
  EXPECT_EQ(t.Encode("hello", {}), (std::vector<int32_t>{268}));
  // "ö" is not in the vocabulary: its two UTF-8 bytes fall back to byte tokens.
  EXPECT_EQ(t.Encode("hello \xc3\xb6", {.add_bos = true}), (std::vector<int32_t>{1, 268, 259, 3 + 0xc3, 3 + 0xb6}));
  EXPECT_EQ(t.Decode(t.Encode("hello \xc3\xb6", {})), " hello \xc3\xb6");
  EXPECT_TRUE(t.vocab().add_bos);
  EXPECT_TRUE(t.vocab().IsEndOfGeneration(2));
  EXPECT_EQ(*HuggingFaceChatTemplate(config, "tiny"), "{{ messages[0]['content'] }}");
}

TEST(HfTokenizerTest, BadFilesGiveClearErrors) {
  EXPECT_EQ(LoadHuggingFaceTokenizer("{not json", "", "repo").status().code(), StatusCode::kCorruption);
  auto unigram = LoadHuggingFaceTokenizer(R"({"model": {"type": "Unigram", "vocab": []}})", "", "repo");
  EXPECT_NE(unigram.status().message().find("model type 'Unigram' is not supported"), std::string::npos);
  auto structure = LoadHuggingFaceTokenizer(R"({"model": {"type": "BPE"}})", "", "repo");
  EXPECT_EQ(structure.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(HuggingFaceChatTemplate("{}", "repo").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace riglm
