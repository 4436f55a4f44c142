// Generation through the single-sequence decoder interface (how the CUDA backend generates): on
// the CPU decoder it gives the same greedy text as the batched pipeline, feeding positions in
// order, one token at a time.
#include "engine/decoder.h"

#include <gtest/gtest.h>

#include <cmath>

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
  Status Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) override {
    for (size_t i = 0; i < tokens.size(); ++i) positions->push_back(position + static_cast<int64_t>(i));
    ++prefills;
    return CpuSequenceDecoder::Prefill(tokens, position, logits);
  }
  std::vector<int64_t>* positions = nullptr;
  int prefills = 0;
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
  const RecordingCpuDecoder* recording = decoder.get();
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
  // The prompt in one prefill, then every generated token but the last is fed back.
  EXPECT_EQ(static_cast<int64_t>(positions.size()), stats->prompt_tokens + stats->generated_tokens - 1);
  EXPECT_EQ(recording->prefills, 1);
}

// A prompt through Prefill leaves the decoder where feeding it token by token does: the same
// logits after it, and the same next step. Both the CPU's batched prefill and the default (a
// loop of Decode, what a backend without a batched path gets) are checked.
class LoopingCpuDecoder : public SequenceDecoder {
 public:
  LoopingCpuDecoder(const LlamaModel& model, ThreadPool& pool, int64_t context) : inner_(model, pool, context) {}
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override {
    ++decodes;
    return inner_.Decode(token, position, logits);
  }
  std::string device_name() const override { return "cpu (one token at a time)"; }
  int decodes = 0;

 private:
  CpuSequenceDecoder inner_;
};

TEST(DecoderTest, PrefillGivesTheLogitsOfTokenByTokenDecoding) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  ThreadPool pool(2);
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 30, 402, 13, 291, 77, 5};
  CpuSequenceDecoder reference(**model, pool, 64);
  std::vector<float> want, want_next;
  for (size_t i = 0; i < prompt.size(); ++i) ASSERT_TRUE(reference.Decode(prompt[i], static_cast<int64_t>(i), &want).ok());
  ASSERT_TRUE(reference.Decode(42, static_cast<int64_t>(prompt.size()), &want_next).ok());

  CpuSequenceDecoder batched(**model, pool, 64);
  LoopingCpuDecoder looping(**model, pool, 64);
  for (SequenceDecoder* decoder : {static_cast<SequenceDecoder*>(&batched), static_cast<SequenceDecoder*>(&looping)}) {
    std::vector<float> got, got_next;
    ASSERT_TRUE(decoder->Prefill(prompt, 0, &got).ok()) << decoder->device_name();
    ASSERT_TRUE(decoder->Decode(42, static_cast<int64_t>(prompt.size()), &got_next).ok());
    ASSERT_EQ(got.size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) {
      ASSERT_NEAR(got[j], want[j], 1e-4 * (1.0 + std::abs(want[j]))) << decoder->device_name() << " logit " << j;
      ASSERT_NEAR(got_next[j], want_next[j], 1e-4 * (1.0 + std::abs(want_next[j]))) << decoder->device_name() << " next " << j;
    }
  }
  EXPECT_EQ(looping.decodes, static_cast<int>(prompt.size()) + 1);
  std::vector<float> unused;
  EXPECT_EQ(batched.Prefill({}, 0, &unused).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(looping.Prefill({}, 0, &unused).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace riglm
