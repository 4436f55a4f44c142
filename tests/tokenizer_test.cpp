// Tokenization against the published vectors of every family in ../shared/tokenizer-tests,
// and the round trips and special-token rules.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/mapped_file.h"
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

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
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

// Runs one published vector set: NAME.gguf with NAME.gguf.inp / NAME.gguf.out.
void RunVectorSet(const std::string& name) {
  const std::string base = testing::SharedPath("tokenizer-tests/" + name);
  LoadedTokenizer t = LoadTokenizer(base);
  ASSERT_NE(t.tokenizer, nullptr);
  const std::string inputs = ReadFile(base + ".inp");
  const std::string outputs = ReadFile(base + ".out");
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
