// Safetensors models: the format reader, and a Hugging Face folder written from stories260K
// running exactly like the GGUF it came from.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/perplexity.h"
#include "format/safetensors.h"
#include "hf_repo_writer.h"
#include "loader/model_loader.h"
#include "model/hf_model_source.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"
#include "util/files.h"

namespace riglm {
namespace {

std::vector<uint8_t> Floats(std::initializer_list<float> values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

TEST(SafetensorsTest, RoundTripsTensorsAndMetadata) {
  SafetensorsWriter w;
  w.Add("a", DType::kF32, {2, 2}, Floats({1, 2, 3, 4}));
  w.Add("b", DType::kBF16, {3}, std::vector<uint8_t>(6, 0));
  w.SetMetadata("format", "pt");
  const std::vector<uint8_t> bytes = w.ToBytes();
  auto header = ParseSafetensorsHeader(bytes, bytes.size(), "t.safetensors");
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  ASSERT_EQ(header->tensors.size(), 2u);
  const SafetensorsTensor* a = header->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(a->size_bytes, 16u);
  float third;
  std::memcpy(&third, bytes.data() + a->offset + 8, 4);
  EXPECT_EQ(third, 3.0f);
  EXPECT_EQ(header->Find("b")->type, DType::kBF16);
  EXPECT_EQ(header->metadata.at("format"), "pt");
  EXPECT_EQ(header->data_offset % 8, 0u);
}

// Each malformed header gives its own message naming what is wrong.
TEST(SafetensorsTest, MalformedHeadersAreRejectedWithTheReason) {
  auto with_header = [](const std::string& json, size_t data_bytes) {
    const uint64_t n = json.size();
    std::vector<uint8_t> bytes(8 + n + data_bytes);
    std::memcpy(bytes.data(), &n, 8);
    std::memcpy(bytes.data() + 8, json.data(), n);
    return bytes;
  };
  struct Case {
    std::vector<uint8_t> bytes;
    StatusCode code;
    std::string message;
  };
  std::vector<uint8_t> huge(16, 0);
  huge[6] = 1;  // a header length of 2^48
  const std::vector<Case> cases = {
      {{1, 2, 3}, StatusCode::kCorruption, "too short"},
      {huge, StatusCode::kCorruption, "100 MiB"},
      {with_header("{\"a\": 1", 0), StatusCode::kCorruption, "not a JSON object"},
      {with_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4), StatusCode::kCorruption, "outside"},
      {with_header(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8), StatusCode::kCorruption, "take 12"},
      {with_header(R"({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", 2), StatusCode::kUnsupported, "F8_E4M3"},
      {with_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12), StatusCode::kCorruption, "overlap"},
      {with_header(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8), StatusCode::kCorruption, "not a size"},
      {with_header(R"({"a": {"dtype": "F32", "shape": [2]}})", 8), StatusCode::kCorruption, "lacks"},
  };
  for (const Case& c : cases) {
    auto header = ParseSafetensorsHeader(c.bytes, c.bytes.size(), "bad.safetensors");
    ASSERT_FALSE(header.ok()) << c.message;
    EXPECT_EQ(header.status().code(), c.code) << header.status().ToString();
    EXPECT_NE(header.status().message().find(c.message), std::string::npos) << header.status().ToString();
  }
}

class HfModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gguf_model_ = std::move(LlamaModel::Load(testing::Stories260KPath()).value());
    file_ = testing::ReadFileBytes(testing::Stories260KPath());
  }
  std::string WriteRepo(const testing::HfRepoOptions& options) {
    auto written = testing::WriteHfRepoFromGguf(gguf_model_->gguf(), reinterpret_cast<const uint8_t*>(file_.data()),
                                                dir_.path(), options);
    EXPECT_TRUE(written.ok()) << written.status().ToString();
    return dir_.path();
  }

  std::unique_ptr<LlamaModel> gguf_model_;
  std::string file_;
  testing::TempDir dir_;
};

// The acceptance check: the same model as GGUF and as a sharded safetensors folder gives the
// same greedy text, through the tokenizer built from tokenizer.json.
TEST_F(HfModelTest, SafetensorsFolderGivesTheSameGreedyOutputAsTheGguf) {
  const std::string dir = WriteRepo({.dtype = DType::kF32, .shards = 2});
  ASSERT_TRUE(IsHfModelDir(dir));
  auto model = LoadModelFrom(dir);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->config().rope_style, cpu::RopeStyle::kNeox);
  EXPECT_EQ((*model)->config().vocab_size, gguf_model_->config().vocab_size);

  auto gguf_tokenizer = Tokenizer::FromGguf(gguf_model_->gguf());
  auto hf_tokenizer = Tokenizer::FromGguf((*model)->gguf());
  ASSERT_TRUE(hf_tokenizer.ok()) << hf_tokenizer.status().ToString();
  const Vocab& vocab = (*hf_tokenizer)->vocab();
  EXPECT_TRUE(vocab.IsEndOfGeneration(vocab.eos_id));
  EXPECT_TRUE(vocab.IsEndOfGeneration(vocab.size() - 1));  // from generation_config.json
  EXPECT_FALSE((*gguf_tokenizer)->vocab().IsEndOfGeneration(vocab.size() - 1));
  for (const char* text : {"Once upon a time, there was a little girl named Lily.", "  two  spaces\nand lines",
                           "unusual wordz: xyzzy qqq \xc3\xa9t\xc3\xa9"}) {
    EXPECT_EQ((*hf_tokenizer)->Encode(text, {.add_bos = true}), (*gguf_tokenizer)->Encode(text, {.add_bos = true})) << text;
  }
  const std::string expected = testing::GreedyText(*gguf_model_, "Once upon a time", 64);
  EXPECT_EQ(testing::GreedyText(**model, "Once upon a time", 64), expected);
}

// Qwen2: biases on q, k and v, and no q/k permutation in either format.
TEST(HfModelQwen2Test, Qwen2FolderMatchesItsGguf) {
  testing::SyntheticModelSpec spec;
  spec.architecture = "qwen2";
  spec.tied_output = true;
  const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
  auto gguf_model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "qwen2.gguf").value()), bytes.data());
  ASSERT_TRUE(gguf_model.ok()) << gguf_model.status().ToString();
  testing::TempDir dir;
  auto written = testing::WriteHfRepoFromGguf((*gguf_model)->gguf(), bytes.data(), dir.path());
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  auto model = LoadModelFrom(dir.path());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->config().architecture, Architecture::kQwen2);
  EXPECT_EQ((*model)->layers()[0].bias_k.size(), (*gguf_model)->layers()[0].bias_k.size());
  EXPECT_EQ((*model)->output().data, (*model)->token_embedding().data);  // tied
  EXPECT_EQ(testing::GreedyText(**model, "hello", 24), testing::GreedyText(**gguf_model, "hello", 24));
}

TEST_F(HfModelTest, HalfPrecisionFoldersLoadAndTrackTheGguf) {
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    const std::string dir = WriteRepo({.dtype = dtype, .shards = 1});
    auto model = LoadModelFrom(dir);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    EXPECT_EQ((*model)->layers()[0].attn_q.type, dtype);
    EXPECT_FALSE(testing::GreedyText(**model, "Once upon a time", 16).empty());
  }
}

double Perplexity(const LlamaModel& model) {
  auto tokenizer = Tokenizer::FromGguf(model.gguf());
  const std::string text =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
      "big red ball. She wanted to play with it, but it was too high. Lily asked her mom for help. Her mom said, "
      "\"Let's get a ladder.\" They got the ladder and Lily climbed up. She got the ball and was very happy. She "
      "played with the ball all day. The end. Once upon a time, there was a boy named Tim. Tim had a dog.";
  std::vector<int32_t> tokens = (*tokenizer)->Encode(text, {.add_bos = true});
  ThreadPool pool(2);
  auto estimate = ComputePerplexity(model, pool, tokens, 64, (*tokenizer)->vocab().bos_id, -1, nullptr);
  EXPECT_TRUE(estimate.ok()) << estimate.status().ToString();
  return estimate.ok() ? estimate->perplexity : 0.0;
}

// --quant quantizes while streaming: the matrices arrive as Q8_0 (or the fallback where rows
// are not whole blocks) and the perplexity stays within 1% of the unquantized model.
TEST_F(HfModelTest, QuantizingWhileStreamingKeepsPerplexityWithinOnePercent) {
  const std::string dir = WriteRepo({.dtype = DType::kF32, .shards = 2});
  auto plain = LoadModelFrom(dir);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  ModelLoadOptions q8;
  q8.quant = "q8_0";
  auto quantized = LoadModelFrom(dir, q8);
  ASSERT_TRUE(quantized.ok()) << quantized.status().ToString();
  EXPECT_EQ((*quantized)->layers()[0].attn_q.type, DType::kQ8_0);
  EXPECT_EQ((*quantized)->token_embedding().type, DType::kQ8_0);
  EXPECT_LT((*quantized)->weight_bytes(), (*plain)->weight_bytes() / 2);
  const double base = Perplexity(**plain), q8_ppl = Perplexity(**quantized);
  EXPECT_GT(base, 1.0);
  EXPECT_NEAR(q8_ppl, base, 0.01 * base) << "unquantized " << base << ", q8_0 " << q8_ppl;
}

TEST_F(HfModelTest, BrokenFoldersGiveClearErrors) {
  const std::string dir = WriteRepo({.dtype = DType::kF32, .shards = 2});
  auto expect_error = [&](StatusCode code, const std::string& needle) {
    auto model = LoadModelFrom(dir);
    ASSERT_FALSE(model.ok()) << needle;
    EXPECT_EQ(model.status().code(), code) << model.status().ToString();
    EXPECT_NE(model.status().message().find(needle), std::string::npos) << model.status().ToString();
  };
  const std::string config = *ReadTextFile(dir + "/config.json");
  auto config_with = [&](const std::string& key, nlohmann::json value) {
    nlohmann::json doc = nlohmann::json::parse(config);
    doc[key] = value;
    ASSERT_TRUE(WriteFileAtomically(dir + "/config.json", doc.dump()).ok());
  };
  config_with("architectures", {"GPT2LMHeadModel"});
  expect_error(StatusCode::kUnsupported, "GPT2LMHeadModel");
  config_with("hidden_size", 96);
  expect_error(StatusCode::kCorruption, "token_embd.weight");
  config_with("num_hidden_layers", "five");
  expect_error(StatusCode::kCorruption, "num_hidden_layers");
  ASSERT_TRUE(WriteFileAtomically(dir + "/config.json", config).ok());
  ASSERT_TRUE(LoadModelFrom(dir).ok());

  std::filesystem::remove(dir + "/model-00002-of-00002.safetensors");
  expect_error(StatusCode::kNotFound, "model-00002-of-00002.safetensors is missing");
  ModelLoadOptions q8;
  q8.quant = "q8_0";
  EXPECT_EQ(LoadModelFrom(testing::Stories260KPath(), q8).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace riglm
