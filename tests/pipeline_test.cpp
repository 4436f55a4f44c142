// A model run as a pipeline of CPU devices gives byte-identical greedy output to one device.
#include <gtest/gtest.h>

#include "device/device.h"
#include "engine/pipeline.h"
#include "planner/planner.h"
#include "test_support.h"

namespace riglm {
namespace {

std::vector<PipelineStage> PlannedStages(const LlamaModel& model, const std::string& devices,
                                         std::vector<double> split = {}) {
  auto list = ParseDeviceList(devices);
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  PlanOptions options;
  options.context = 256;
  options.tensor_split = std::move(split);
  const Plan plan = MakePlan(ModelCostFromGguf(model.gguf(), model.config(), {}), *list, options);
  EXPECT_TRUE(plan.fits) << plan.message;
  std::vector<PipelineStage> stages;
  for (const DevicePlan& p : plan.devices) {
    if (p.num_layers() > 0) stages.push_back({p.device.name, p.first_layer, p.end_layer});
  }
  EXPECT_TRUE(CheckStages(stages, model.config().block_count).ok());
  return stages;
}

TEST(PipelineTest, ThreeCpuDevicesMatchOneOnStories260K) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  const std::vector<PipelineStage> stages = PlannedStages(**model, "cpu,cpu,cpu");
  ASSERT_EQ(stages.size(), 3u);
  const std::string one = testing::GreedyText(**model, "Once upon a time", 120);
  EXPECT_GT(one.size(), 200u);
  EXPECT_EQ(testing::GreedyText(**model, "Once upon a time", 120, stages), one);
  // A lopsided manual split too.
  const std::vector<PipelineStage> manual = PlannedStages(**model, "3xcpu", {1, 3, 1});
  ASSERT_EQ(manual.size(), 3u);
  EXPECT_EQ(manual[1].end_layer - manual[1].first_layer, 3);
  EXPECT_EQ(testing::GreedyText(**model, "Once upon a time", 120, manual), one);
}

TEST(PipelineTest, ThreeCpuDevicesMatchOneOnASyntheticModel) {
  testing::SyntheticModelSpec spec;
  spec.layers = 7;
  spec.weight_type = DType::kQ8_0;
  spec.embedding = 128;
  const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
  auto gguf = GgufFile::Parse(bytes, bytes.size(), "synthetic.gguf");
  ASSERT_TRUE(gguf.ok());
  auto model = LlamaModel::FromGguf(std::move(*gguf), bytes.data());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<PipelineStage> stages = PlannedStages(**model, "cpu,cpu,cpu");
  ASSERT_EQ(stages.size(), 3u);
  const std::string one = testing::GreedyText(**model, "a b c", 80);
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(testing::GreedyText(**model, "a b c", 80, stages), one);
}

TEST(PipelineTest, BadStageLayoutsAreRefused) {
  EXPECT_FALSE(CheckStages({{"cpu", 0, 2}, {"cpu1", 3, 5}}, 5).ok());  // gap
  EXPECT_FALSE(CheckStages({{"cpu", 0, 2}, {"cpu1", 2, 4}}, 5).ok());  // short
  EXPECT_FALSE(CheckStages({{"cpu", 0, 0}, {"cpu1", 0, 5}}, 5).ok());  // empty stage
  EXPECT_TRUE(CheckStages({{"cpu", 0, 2}, {"cpu1", 2, 5}}, 5).ok());
}

}  // namespace
}  // namespace riglm
