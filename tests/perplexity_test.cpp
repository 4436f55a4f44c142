#include "engine/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_support.h"

namespace riglm {
namespace {

// The windowed estimate recomputed by hand from token-by-token logits.
TEST(PerplexityTest, MatchesHandComputedWindowedEstimate) {
  testing::SyntheticModelSpec spec;
  std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
  auto gguf = GgufFile::Parse(bytes, bytes.size(), "synthetic");
  ASSERT_TRUE(gguf.ok());
  auto model = LlamaModel::FromGguf(std::move(gguf).value(), bytes.data());
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 13 + 7) % 96);
  const int64_t ctx = 16;
  ThreadPool pool(2);
  auto estimate = ComputePerplexity(**model, pool, tokens, ctx, /*bos_id=*/1, -1, nullptr);
  ASSERT_TRUE(estimate.ok()) << estimate.status().ToString();
  EXPECT_EQ(estimate->chunks, 2);            // 40 tokens hold two whole chunks of 16
  EXPECT_EQ(estimate->scored_tokens, 2 * 7); // positions 8..14 of each chunk

  double nll = 0.0;
  int count = 0;
  for (int chunk = 0; chunk < 2; ++chunk) {
    ForwardPass forward(**model, pool);
    KvCache cache((*model)->config(), ctx, 1);  // F16, as ComputePerplexity uses
    std::vector<float> logits;
    for (int i = 0; i < ctx - 1; ++i) {
      Batch b;
      b.Add(i == 0 ? 1 : tokens[chunk * ctx + i], i, 0, true);
      ASSERT_TRUE(forward.Run(b, cache, &logits).ok());
      if (i < ctx / 2) continue;
      double sum = 0.0;
      for (float l : logits) sum += std::exp(static_cast<double>(l));
      nll += std::log(sum) - logits[tokens[chunk * ctx + i + 1]];
      ++count;
    }
  }
  EXPECT_NEAR(estimate->perplexity, std::exp(nll / count), 1e-4 * estimate->perplexity);
  EXPECT_GT(estimate->standard_error, 0.0);
}

}  // namespace
}  // namespace riglm
