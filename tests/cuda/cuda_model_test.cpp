// The CUDA decode step against the CPU forward pass: logits token by token, and greedy text on
// stories260K. Built with -DRIGLM_CUDA=ON; skips without a GPU unless RIGLM_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "backend/cuda/cuda_model.h"
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
  for (DType type : {DType::kQ8_0, DType::kQ4_0}) {
    testing::SyntheticModelSpec spec;
    spec.weight_type = type;
    const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
    auto model = LlamaModel::FromGguf(std::move(GgufFile::Parse(bytes, bytes.size(), "synthetic").value()), bytes.data());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    CompareLogits(**model, {1, 5, 17, 42, 9}, 1e-2);
  }
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
