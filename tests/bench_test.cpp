// The generation benchmark on a single-sequence decoder (how GPUs are measured): positions run
// in order from 0 in every repetition, and the ceiling comes from the given peak bandwidth.
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

}  // namespace
}  // namespace riglm
