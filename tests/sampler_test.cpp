#include "sampler/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace riglm {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 0.5f, 2.9f, -1.0f}; }

TEST(SamplerTest, GreedyPicksTheLargestLogit) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s(p, 6);
  EXPECT_EQ(s.Sample(Logits().data()), 1);
}

TEST(SamplerTest, TopKOfOneIsGreedyAtAnyTemperature) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler s(p, 6);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(Logits().data()), 1);
}

TEST(SamplerTest, SameSeedSameTokens) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  Sampler a(p, 6), b(p, 6);
  std::vector<int32_t> seq_a, seq_b;
  for (int i = 0; i < 100; ++i) {
    seq_a.push_back(a.Sample(Logits().data()));
    seq_b.push_back(b.Sample(Logits().data()));
  }
  EXPECT_EQ(seq_a, seq_b);
  p.seed = 43;
  Sampler c(p, 6);
  std::vector<int32_t> seq_c;
  for (int i = 0; i < 100; ++i) seq_c.push_back(c.Sample(Logits().data()));
  EXPECT_NE(seq_a, seq_c);
}

TEST(SamplerTest, FrequenciesFollowTheSoftmax) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 7;
  Sampler s(p, 6);
  const std::vector<float> logits = Logits();
  std::map<int32_t, int> counts;
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) ++counts[s.Sample(logits.data())];
  double sum = 0.0;
  for (float l : logits) sum += std::exp(l);
  for (int id = 0; id < 6; ++id) {
    const double expected = std::exp(logits[id]) / sum;
    const double sd = std::sqrt(expected * (1 - expected) / draws);
    EXPECT_NEAR(static_cast<double>(counts[id]) / draws, expected, 5 * sd + 1e-4) << id;
  }
}

TEST(SamplerTest, TopPAndMinPCutTheTail) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.min_p = 0.0f;
  p.top_p = 0.5f;  // ids 1 (0.37) and 4 (0.33) reach 0.5
  p.seed = 1;
  Sampler top_p(p, 6);
  for (int i = 0; i < 500; ++i) {
    const int32_t t = top_p.Sample(Logits().data());
    EXPECT_TRUE(t == 1 || t == 4) << t;
  }
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // keeps ids whose probability is at least half the best: 1, 4, 2
  Sampler min_p(p, 6);
  for (int i = 0; i < 500; ++i) {
    const int32_t t = min_p.Sample(Logits().data());
    EXPECT_TRUE(t == 1 || t == 4 || t == 2) << t;
  }
}

TEST(SamplerTest, PenaltiesDiscourageRecentTokens) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 1.5f;  // 3.0 / 1.5 = 2.0 < 2.9
  Sampler repeat(p, 6);
  repeat.Accept(1);
  EXPECT_EQ(repeat.Sample(Logits().data()), 4);

  p.repeat_penalty = 1.0f;
  p.frequency_penalty = 0.1f;  // 3.0 - 2 * 0.1 = 2.8 < 2.9
  Sampler frequency(p, 6);
  frequency.Accept(1);
  EXPECT_EQ(frequency.Sample(Logits().data()), 1);
  frequency.Accept(1);
  EXPECT_EQ(frequency.Sample(Logits().data()), 4);

  p.frequency_penalty = 0.0f;
  p.presence_penalty = 0.2f;
  p.repeat_last_n = 1;  // only the most recent token counts
  Sampler presence(p, 6);
  presence.Accept(1);
  presence.Accept(3);
  EXPECT_EQ(presence.Sample(Logits().data()), 1);
}

// The window holds exactly the last repeat_last_n tokens: each one past it drops the oldest.
TEST(SamplerTest, PenaltiesCountOnlyTheLastNTokens) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = 0.06f;  // token 1 (3.0) falls below token 4 (2.9) when seen twice or more
  p.repeat_last_n = 3;
  Sampler sampler(p, 6);
  for (int i = 0; i < 3; ++i) sampler.Accept(1);
  EXPECT_EQ(sampler.Sample(Logits().data()), 4);  // 1 x3: 2.82
  sampler.Accept(2);
  EXPECT_EQ(sampler.Sample(Logits().data()), 4);  // 1 x2: 2.88
  sampler.Accept(5);
  EXPECT_EQ(sampler.Sample(Logits().data()), 1);  // 1 x1: 2.94
  sampler.Accept(1);
  sampler.Accept(1);
  EXPECT_EQ(sampler.Sample(Logits().data()), 4);  // 5, 1, 1
  sampler.Reset();
  EXPECT_EQ(sampler.Sample(Logits().data()), 1);  // nothing recent

  p.repeat_last_n = -1;  // every token since the start
  Sampler all(p, 6);
  all.Accept(1);
  for (int i = 0; i < 100; ++i) all.Accept(2);
  EXPECT_EQ(all.Sample(Logits().data()), 1);
  all.Accept(1);
  EXPECT_EQ(all.Sample(Logits().data()), 4);

  p.repeat_last_n = 0;  // penalties off
  Sampler none(p, 6);
  for (int i = 0; i < 5; ++i) none.Accept(1);
  EXPECT_EQ(none.Sample(Logits().data()), 1);
}

TEST(SamplerTest, InvalidParametersAreNamed) {
  SamplingParams p;
  p.temperature = -1.0f;
  EXPECT_NE(p.Validate().message().find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0.0f;
  EXPECT_NE(p.Validate().message().find("top_p"), std::string::npos);
  p = {};
  p.min_p = NAN;
  EXPECT_NE(p.Validate().message().find("min_p"), std::string::npos);
  p = {};
  p.presence_penalty = 3.0f;
  EXPECT_FALSE(p.Validate().ok());
  EXPECT_TRUE(SamplingParams{}.Validate().ok());
}

}  // namespace
}  // namespace riglm
