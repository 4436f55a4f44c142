// Generation through the single-sequence decoder interface (how the CUDA backend generates): on
// the CPU decoder it gives the same greedy text as the batched pipeline, feeding positions in
// order, one token at a time.
#include "engine/decoder.h"

#include <gtest/gtest.h>

#include "engine/generator.h"
#include "test_support.h"

namespace riglm {
namespace {

// The CPU decoder, recording the positions it is given.
class RecordingCpuDecoder : public CpuSequenceDecoder {
 public:
  using CpuSequenceDecoder::CpuSequenceDecoder;
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override {
    positions->push_back(position);
    return CpuSequenceDecoder::Decode(token, position, logits);
  }
  std::vector<int64_t>* positions = nullptr;
};

TEST(DecoderTest, GeneratorOnADecoderMatchesThePipeline) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  auto tokenizer = Tokenizer::FromGguf((*model)->gguf());
  ASSERT_TRUE(tokenizer.ok());
  const std::string prompt = "Once upon a time";
  const std::string want = testing::GreedyText(**model, prompt, 80);

  ThreadPool pool(2);
  std::vector<int64_t> positions;
  auto decoder = std::make_unique<RecordingCpuDecoder>(**model, pool, 256);
  decoder->positions = &positions;
  Generator generator(**model, **tokenizer, std::move(decoder), 256);
  EncodeOptions encode;
  encode.add_bos = (*tokenizer)->vocab().add_bos;
  const std::vector<int32_t> tokens = (*tokenizer)->Encode(prompt, encode);
  GenerateOptions options;
  options.max_tokens = 80;
  options.sampling.temperature = 0.0f;
  std::string text;
  auto stats = generator.Generate(tokens, options, [&](std::string_view piece) {
    text += piece;
    return true;
  });
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(text, want);
  ASSERT_FALSE(positions.empty());
  for (size_t i = 0; i < positions.size(); ++i) ASSERT_EQ(positions[i], static_cast<int64_t>(i));
  // The prompt, then every generated token but the last is fed back.
  EXPECT_EQ(static_cast<int64_t>(positions.size()), stats->prompt_tokens + stats->generated_tokens - 1);
}

}  // namespace
}  // namespace riglm
