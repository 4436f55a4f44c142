// SentencePiece tokenization: the stories260K vocabulary, and the published llama-spm and
// phi-3 vectors (the complete multi-family runner belongs to the tokenizer work).
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

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
  size_t index = 0;
  while (std::getline(lines, line) && index < tests.size()) {
    std::vector<int32_t> expected;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) expected.push_back(id);
    const std::vector<int32_t> got = t.tokenizer->Encode(tests[index], {});
    EXPECT_EQ(got, expected) << name << " test #" << index << ": '" << tests[index] << "'";
    ++index;
  }
  EXPECT_EQ(index, tests.size());
}

TEST(TokenizerTest, LlamaSpmVectors) { RunVectorSet("ggml-vocab-llama-spm.gguf"); }
TEST(TokenizerTest, Phi3Vectors) { RunVectorSet("ggml-vocab-phi-3.gguf"); }

}  // namespace
}  // namespace riglm
