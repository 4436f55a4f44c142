// The CUDA decode step against the CPU forward pass: logits token by token, and greedy text on
// stories260K. Built with -DRIGLM_CUDA=ON; skips without a GPU unless RIGLM_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "backend/cuda/cuda_model.h"
#include "io/byte_source.h"
#include "model/forward.h"
#include "cuda/require_gpu.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace riglm {
namespace {

// Largest |gpu - cpu| over the logits, relative to the largest |cpu| logit.
void CompareLogits(const LlamaModel& model, const std::vector<int32_t>& tokens, double tolerance) {
  auto gpu = cuda::CudaModel::Create(model, 0, 64);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  ThreadPool pool(2);
  ForwardPass forward(model, pool);
  KvCache cache(model.config(), 64, 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    Batch batch;
    batch.Add(tokens[i], static_cast<int32_t>(i), 0, true);
    std::vector<float> want, got;
    ASSERT_TRUE(forward.Run(batch, cache, &want).ok());
    ASSERT_TRUE((*gpu)->Decode(tokens[i], static_cast<int64_t>(i), &got).ok());
    ASSERT_EQ(got.size(), want.size());
    double max_diff = 0.0, max_abs = 0.0;
    for (size_t j = 0; j < want.size(); ++j) {
      max_diff = std::max(max_diff, std::abs(static_cast<double>(got[j]) - want[j]));
      max_abs = std::max(max_abs, std::abs(static_cast<double>(want[j])));
    }
    EXPECT_LE(max_diff, tolerance * max_abs) << "token " << i;
  }
}

TEST(CudaModelTest, Stories260KLogitsMatchTheCpu) {
  REQUIRE_GPU();
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  CompareLogits(**model, {1, 403, 407, 261, 378, 30, 402, 13}, 1e-3);
}

TEST(CudaModelTest, QuantizedSyntheticLogitsMatchTheCpu) {
  REQUIRE_GPU();
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ3_K, DType::kQ2_K,
                     DType::kQ5_0, DType::kQ4_1, DType::kIQ4_NL}) {
    SCOPED_TRACE(DTypeName(type));
    testing::SyntheticModelSpec spec;
    spec.weight_type = type;
    const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
    auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    CompareLogits(**model, {1, 5, 17, 42, 9}, 1e-2);
  }
}

TEST(CudaModelTest, F16SyntheticLogitsMatchTheCpu) {
  REQUIRE_GPU();
  testing::SyntheticModelSpec spec;
  spec.weight_type = DType::kF16;
  const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
  auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  CompareLogits(**model, {1, 5, 17, 42, 9}, 1e-3);
}

// Logits of every position, from `decode`.
std::vector<std::vector<float>> DecodeAll(const std::function<Status(int32_t, int64_t, std::vector<float>*)>& decode,
                                          const std::vector<int32_t>& tokens) {
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::vector<float> logits;
    const Status s = decode(tokens[i], static_cast<int64_t>(i), &logits);
    EXPECT_TRUE(s.ok()) << s.ToString();
    out.push_back(std::move(logits));
  }
  return out;
}

testing::SyntheticModelSpec FiveLayerSpec(DType type, bool tied) {
  testing::SyntheticModelSpec spec;
  spec.layers = 5;
  spec.weight_type = type;
  spec.tied_output = tied;
  return spec;
}

// The same kernels in the same order: a pipeline over three logical devices of one GPU gives
// exactly the logits of one stage.
TEST(CudaModelTest, ThreeLogicalDevicesGiveTheLogitsOfOne) {
  REQUIRE_GPU();
  for (bool tied : {false, true}) {
    const std::vector<uint8_t> bytes = testing::SyntheticModel(FiveLayerSpec(DType::kQ4_K, tied)).ToBytes();
    auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    auto one = cuda::CudaModel::Create(**model, 0, 32);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    const std::vector<CudaStage> stages = {{"cuda:0", 0, 0, 2, 0}, {"cuda:0.1", 0, 2, 3, 0}, {"cuda:0.2", 0, 3, 5, 0}};
    auto three = cuda::CudaModel::Create(**model, stages, 32);
    ASSERT_TRUE(three.ok()) << three.status().ToString();
    const std::vector<int32_t> tokens = {1, 7, 33, 2, 90, 14};
    auto a = DecodeAll([&](int32_t t, int64_t p, std::vector<float>* l) { return (*one)->Decode(t, p, l); }, tokens);
    auto b = DecodeAll([&](int32_t t, int64_t p, std::vector<float>* l) { return (*three)->Decode(t, p, l); }, tokens);
    EXPECT_EQ(a, b) << "tied " << tied;
  }
}

// Streamed from the file straight into three logical devices, through the loader and the pinned
// staging buffers: the logits of the model copied from host memory.
TEST(CudaModelTest, StreamedIntoTheGpuDecodesAsTheCopiedModel) {
  REQUIRE_GPU();
  for (bool tied : {false, true}) {
    testing::TempDir dir;
    const std::string path = dir.File("model.gguf");
    ASSERT_TRUE(testing::SyntheticModel(FiveLayerSpec(DType::kQ8_0, tied)).WriteFile(path).ok());
    auto host = LlamaModel::Load(path);
    ASSERT_TRUE(host.ok()) << host.status().ToString();
    auto copied = cuda::CudaModel::Create(**host, 0, 32);
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
    auto source = OpenFileSource(path);
    ASSERT_TRUE(source.ok());
    const std::vector<CudaStage> stages = {{"cuda:0", 0, 0, 1, 0}, {"cuda:0.1", 0, 1, 4, 0}, {"cuda:0.2", 0, 4, 5, 0}};
    LoadOptions options;
    options.buffer_bytes = 64 << 10;  // many small chunks: pieces cross the staging buffers' edges
    auto load = LoadCudaModel(**source, stages, 32, options);
    ASSERT_TRUE(load.ok()) << load.status().ToString();
    EXPECT_TRUE(load->model->matrices_on_device());
    EXPECT_GT(load->device_bytes, 0u);
    const std::vector<int32_t> tokens = {1, 7, 33, 2, 90, 14};
    auto a = DecodeAll([&](int32_t t, int64_t p, std::vector<float>* l) { return (*copied)->Decode(t, p, l); }, tokens);
    auto b = DecodeAll([&](int32_t t, int64_t p, std::vector<float>* l) { return load->decoder->Decode(t, p, l); }, tokens);
    EXPECT_EQ(a, b) << "tied " << tied;
  }
}

// A prompt through Prefill (cuBLAS products, prompt attention; 600 tokens cross the 512-token
// chunks) leaves the model where token-by-token decoding does: close logits after it, and after
// the next token.
TEST(CudaModelTest, PrefillGivesTheLogitsOfTokenByTokenDecoding) {
  REQUIRE_GPU();
  for (DType type : {DType::kQ4_K, DType::kF16}) {
    testing::SyntheticModelSpec spec = FiveLayerSpec(type, false);
    spec.context = 1024;
    const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
    auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    for (int64_t length : {int64_t{2}, int64_t{19}, int64_t{600}}) {
      std::vector<int32_t> prompt(length);
      for (int64_t i = 0; i < length; ++i) prompt[i] = static_cast<int32_t>((i * 37 + 5) % spec.vocab);
      auto stepwise = cuda::CudaModel::Create(**model, 0, 640);
      auto prefilled = cuda::CudaModel::Create(**model, {{"cuda:0", 0, 0, 3, 0}, {"cuda:0.1", 0, 3, 5, 0}}, 640);
      ASSERT_TRUE(stepwise.ok() && prefilled.ok());
      std::vector<float> want, got, want_next, got_next;
      for (int64_t i = 0; i < length; ++i) ASSERT_TRUE((*stepwise)->Decode(prompt[i], i, &want).ok());
      ASSERT_TRUE((*prefilled)->Prefill(prompt, 0, &got).ok());
      ASSERT_TRUE((*stepwise)->Decode(3, length, &want_next).ok());
      ASSERT_TRUE((*prefilled)->Decode(3, length, &got_next).ok());
      double max_diff = 0.0, max_abs = 0.0, next_diff = 0.0;
      for (size_t j = 0; j < want.size(); ++j) {
        max_diff = std::max(max_diff, std::abs(static_cast<double>(got[j]) - want[j]));
        next_diff = std::max(next_diff, std::abs(static_cast<double>(got_next[j]) - want_next[j]));
        max_abs = std::max(max_abs, std::abs(static_cast<double>(want[j])));
      }
      EXPECT_LE(max_diff, 1e-2 * max_abs) << DTypeName(type) << ", " << length << " tokens";
      EXPECT_LE(next_diff, 1e-2 * max_abs) << DTypeName(type) << ", " << length << " tokens, next";
    }
  }
}

// The decode step captured as a CUDA graph and replayed at each position gives exactly the
// logits of launching its kernels one by one (RIGLM_CUDA_GRAPH=0), on one stage and on three.
TEST(CudaModelTest, GraphReplayGivesTheLogitsOfDirectLaunches) {
  REQUIRE_GPU();
  const std::vector<uint8_t> bytes = testing::SyntheticModel(FiveLayerSpec(DType::kQ4_K, false)).ToBytes();
  auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
  ASSERT_TRUE(model.ok());
  const std::vector<CudaStage> three = {{"cuda:0", 0, 0, 2, 0}, {"cuda:0.1", 0, 2, 3, 0}, {"cuda:0.2", 0, 3, 5, 0}};
  const std::vector<CudaStage> one = {{"cuda:0", 0, 0, 5, 0}};
  const std::vector<int32_t> tokens = {1, 7, 33, 2, 90, 14, 14, 3};
  for (const std::vector<CudaStage>* stages : {&one, &three}) {
    setenv("RIGLM_CUDA_GRAPH", "0", 1);
    auto direct = cuda::CudaModel::Create(**model, *stages, 32);
    unsetenv("RIGLM_CUDA_GRAPH");
    auto graphed = cuda::CudaModel::Create(**model, *stages, 32);
    ASSERT_TRUE(direct.ok() && graphed.ok());
    auto a = DecodeAll([&](int32_t t, int64_t p, std::vector<float>* l) { return (*direct)->Decode(t, p, l); }, tokens);
    auto b = DecodeAll([&](int32_t t, int64_t p, std::vector<float>* l) { return (*graphed)->Decode(t, p, l); }, tokens);
    EXPECT_EQ(a, b) << stages->size() << " stage(s)";
  }
}

TEST(CudaModelTest, AStagePastItsMemoryCapIsRefused) {
  REQUIRE_GPU();
  const std::vector<uint8_t> bytes = testing::SyntheticModel(FiveLayerSpec(DType::kQ8_0, false)).ToBytes();
  auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
  ASSERT_TRUE(model.ok());
  const std::vector<CudaStage> stages = {{"cuda:0", 0, 0, 4, 0}, {"cuda:0.1", 0, 4, 5, 4096}};
  auto capped = cuda::CudaModel::Create(**model, stages, 32);
  EXPECT_EQ(capped.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(capped.status().message().find("cuda:0.1"), std::string::npos) << capped.status().ToString();
}

TEST(CudaModelTest, Stories260KGreedyTextMatchesTheCpu) {
  REQUIRE_GPU();
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  auto tokenizer = Tokenizer::FromGguf((*model)->gguf());
  ASSERT_TRUE(tokenizer.ok());
  auto gpu = cuda::CudaModel::Create(**model, 0, 256);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  std::vector<int32_t> tokens = (*tokenizer)->Encode("Once upon a time", {.add_bos = true});
  std::vector<float> logits;
  std::vector<int32_t> generated;
  int64_t position = 0;
  for (int32_t t : tokens) ASSERT_TRUE((*gpu)->Decode(t, position++, &logits).ok());
  for (int i = 0; i < 48; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if ((*tokenizer)->vocab().IsEndOfGeneration(next)) break;
    generated.push_back(next);
    ASSERT_TRUE((*gpu)->Decode(next, position++, &logits).ok());
  }
  EXPECT_EQ((*tokenizer)->Decode(generated), testing::GreedyText(**model, "Once upon a time", 48));
}

}  // namespace
}  // namespace riglm
