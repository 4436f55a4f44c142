// The generation benchmark on a single-sequence decoder (how GPUs are measured): positions run
// in order from 0 (or the depth) in every repetition, and the ceiling comes from the given peak
// bandwidth.
#include "engine/bench.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace riglm {
namespace {

class RecordingDecoder : public SequenceDecoder {
 public:
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override {
    positions.push_back(position);
    tokens.push_back(token);
    logits->assign(4, 0.0f);
    return Status::Ok();
  }
  std::string device_name() const override { return "recording"; }
  std::vector<int64_t> positions;
  std::vector<int32_t> tokens;
};

class FailingDecoder : public RecordingDecoder {
 public:
  Status Decode(int32_t, int64_t position, std::vector<float>*) override {
    return position == 2 ? Internal("device lost") : Status::Ok();
  }
};

TEST(BenchTest, GenerationOnADecoderRunsPositionsInOrder) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  RecordingDecoder decoder;
  auto r = BenchGenerationOn(decoder, **model, 5, 2, 1e9);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->test, "tg5");
  ASSERT_EQ(r->samples_ts.size(), 2u);
  // A warm-up of min(5, 8) steps, then two runs of 5.
  const std::vector<int64_t> want = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
  EXPECT_EQ(decoder.positions, want);
  for (int32_t t : decoder.tokens) EXPECT_TRUE(t >= 0 && t < (*model)->config().vocab_size);
  const double bytes = static_cast<double>(WeightBytesPerToken(**model));
  EXPECT_NEAR(r->ceiling_fraction, (r->samples_ts[0] + r->samples_ts[1]) / 2 * bytes / 1e9, 1e-9 * r->ceiling_fraction);

  auto unknown = BenchGenerationOn(decoder, **model, 3, 1, 0.0);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->ceiling_fraction, 0.0);  // no bandwidth, no ceiling

  FailingDecoder failing;
  auto failed = BenchGenerationOn(failing, **model, 5, 1, 1e9);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("device lost"), std::string::npos);
}

// At a depth, the depth's tokens go in once, then every run starts after them; the ceiling
// counts the cached rows each step reads.
TEST(BenchTest, DepthFillsTheCacheOnceThenRunsAfterIt) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  RecordingDecoder generation;
  auto r = BenchGenerationOn(generation, **model, 3, 2, 1e9, BenchDepth{4, 1000});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->test, "tg3 @ d4");
  EXPECT_EQ(r->n_depth, 4);
  const std::vector<int64_t> want = {0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5, 6};
  EXPECT_EQ(generation.positions, want);
  EXPECT_EQ(r->bytes_per_token, WeightBytesPerToken(**model) + 4 * 1000);
  EXPECT_NEAR(r->ceiling_fraction, (r->samples_ts[0] + r->samples_ts[1]) / 2 * r->bytes_per_token / 1e9,
              1e-9 * r->ceiling_fraction);

  RecordingDecoder prompt;
  auto p = BenchPromptOn(prompt, **model, 2, 1, BenchDepth{3, 1000});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->test, "pp2 @ d3");
  const std::vector<int64_t> prompt_want = {0, 1, 2, 3, 4, 3, 4};  // the depth, a warm-up, one run
  EXPECT_EQ(prompt.positions, prompt_want);
}

// The CPU engine at a depth: its context holds the depth and the test (a position past it is
// an error), and the prompt's depth goes in batches of any size.
TEST(BenchTest, CpuBenchAtADepthRuns) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  ThreadPool pool(2);
  auto g = BenchGeneration(**model, pool, 4, 1, {}, {}, /*measure_bandwidth=*/false, BenchDepth{40, 100});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->test, "tg4 @ d40");
  EXPECT_GT(g->avg_ts, 0.0);
  auto p = BenchPrompt(**model, pool, 8, 1, {}, {}, 3, BenchDepth{10, 100});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->test, "pp8 @ d10");
}

}  // namespace
}  // namespace riglm
