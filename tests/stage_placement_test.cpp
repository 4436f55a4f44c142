// Placement of a model's tensors on the stages of a layer-split pipeline, decided from the header.
#include <gtest/gtest.h>

#include <map>

#include "loader/stage_placement.h"
#include "test_support.h"

namespace riglm {
namespace {

GgufFile ParsedSynthetic(const std::vector<uint8_t>& bytes) {
  return GgufFile::Parse(bytes, bytes.size(), "synthetic").value();
}

TEST(StagePlacementTest, LayersGoToTheirStageEmbeddingFirstAndHeadLast) {
  testing::SyntheticModelSpec spec;
  spec.layers = 5;
  const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
  const GgufFile gguf = ParsedSynthetic(bytes);
  const std::vector<PipelineStage> stages = {{"cuda:0", 0, 2}, {"cuda:0.1", 2, 3}, {"cuda:0.2", 3, 5}};
  auto placed = PlaceTensorsByLayer(gguf, 5, stages);
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  ASSERT_EQ(placed->size(), gguf.tensors().size());
  std::map<std::string, int> stage_of;
  for (const StagedTensor& t : *placed) stage_of[t.tensor->name] = t.stage;
  EXPECT_EQ(stage_of.at("token_embd.weight"), 0);
  EXPECT_EQ(stage_of.at("blk.0.attn_q.weight"), 0);
  EXPECT_EQ(stage_of.at("blk.1.ffn_down.weight"), 0);
  EXPECT_EQ(stage_of.at("blk.2.attn_norm.weight"), 1);
  EXPECT_EQ(stage_of.at("blk.3.ffn_up.weight"), 2);
  EXPECT_EQ(stage_of.at("blk.4.ffn_gate.weight"), 2);
  EXPECT_EQ(stage_of.at("output_norm.weight"), 2);
  EXPECT_EQ(stage_of.at("output.weight"), 2);
}

TEST(StagePlacementTest, StagesThatMissLayersOrTensorsOutsideTheModelAreRefused) {
  testing::SyntheticModelSpec spec;
  spec.layers = 3;
  const std::vector<uint8_t> bytes = testing::SyntheticModel(spec).ToBytes();
  const GgufFile gguf = ParsedSynthetic(bytes);
  EXPECT_EQ(PlaceTensorsByLayer(gguf, 3, {{"a", 0, 2}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlaceTensorsByLayer(gguf, 3, {}).status().code(), StatusCode::kInvalidArgument);
  // The header claims fewer layers than the file has tensors for.
  auto short_model = PlaceTensorsByLayer(gguf, 2, {{"a", 0, 2}});
  EXPECT_EQ(short_model.status().code(), StatusCode::kCorruption);
  EXPECT_NE(short_model.status().message().find("blk.2."), std::string::npos) << short_model.status().ToString();
}

}  // namespace
}  // namespace riglm
