// The forward pass against the float64 reference, batch against token-by-token, several
// sequences against one, and the errors a bad model file gives.
#include "model/forward.h"

#include <gtest/gtest.h>

#include <cmath>

#include "reference_model.h"
#include "test_support.h"

namespace riglm {
namespace {

using testing::SyntheticModel;
using testing::SyntheticModelSpec;

struct LoadedSynthetic {
  std::vector<uint8_t> bytes;
  std::unique_ptr<LlamaModel> model;
};

LoadedSynthetic Load(const SyntheticModelSpec& spec) {
  LoadedSynthetic out;
  out.bytes = SyntheticModel(spec).ToBytes();
  auto gguf = GgufFile::Parse(out.bytes, out.bytes.size(), "synthetic.gguf");
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  auto model = LlamaModel::FromGguf(std::move(gguf).value(), out.bytes.data());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (model.ok()) out.model = std::move(model).value();
  return out;
}

std::vector<int32_t> SomeTokens(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % vocab);
  return t;
}

std::vector<float> PromptLogits(const LlamaModel& model, const std::vector<int32_t>& tokens, int threads = 2,
                                KvCacheTypes kv_types = {DType::kF32, DType::kF32}) {
  ThreadPool pool(threads);
  ForwardPass forward(model, pool);
  KvCache cache(model.config(), 64, 1, 0, -1, kv_types);
  Batch batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.Add(tokens[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits;
  EXPECT_TRUE(forward.Run(batch, cache, &logits).ok());
  return logits;
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceTest, F32LogitsMatchFloat64Reference) {
  SyntheticModelSpec spec;
  spec.architecture = GetParam();
  spec.layers = 3;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<int32_t> tokens = SomeTokens(12, static_cast<int>(spec.vocab));
  const std::vector<float> got = PromptLogits(*s.model, tokens);
  const std::vector<double> want = testing::ReferenceLogits(s.model->gguf(), s.bytes.data(), tokens);
  ASSERT_EQ(got.size(), want.size());
  double max_abs = 0.0, max_err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(want[i]));
    max_err = std::max(max_err, std::fabs(got[i] - want[i]));
  }
  // float32 arithmetic through 3 layers: relative error well under 1e-4 of the logit scale.
  EXPECT_LT(max_err / max_abs, 1e-4) << "max error " << max_err << " of " << max_abs;
}

TEST_P(ReferenceTest, F16KvCacheStaysCloseToReference) {
  SyntheticModelSpec spec;
  spec.architecture = GetParam();
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<int32_t> tokens = SomeTokens(12, static_cast<int>(spec.vocab));
  const std::vector<float> got = PromptLogits(*s.model, tokens, 2, {DType::kF16, DType::kF16});
  const std::vector<double> want = testing::ReferenceLogits(s.model->gguf(), s.bytes.data(), tokens);
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  // Keys and values rounded to 11 significant bits: well under a percent at the logits.
  EXPECT_LT(std::sqrt(num / den), 2e-3);
}

// Q8_0 keys and values (heads of 32): 8-bit rounding, still within a percent at the logits; and
// heads that are not whole blocks are refused with the reason.
TEST_P(ReferenceTest, Q8_0KvCacheStaysCloseToReference) {
  SyntheticModelSpec spec;
  spec.architecture = GetParam();
  spec.embedding = 128;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  ASSERT_EQ(s.model->config().head_dim, 32);
  const KvCacheTypes q8 = {DType::kQ8_0, DType::kQ8_0};
  ASSERT_TRUE(CheckKvCacheTypes(s.model->config(), q8).ok());
  const std::vector<int32_t> tokens = SomeTokens(12, static_cast<int>(spec.vocab));
  const std::vector<double> want = testing::ReferenceLogits(s.model->gguf(), s.bytes.data(), tokens);
  for (KvCacheTypes types : {q8, KvCacheTypes{DType::kQ8_0, DType::kF16}, KvCacheTypes{DType::kF32, DType::kQ8_0}}) {
    const std::vector<float> got = PromptLogits(*s.model, tokens, 2, types);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      num += (got[i] - want[i]) * (got[i] - want[i]);
      den += want[i] * want[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-2) << DTypeName(types.keys) << "/" << DTypeName(types.values);
    EXPECT_GT(std::sqrt(num / den), 0.0);
  }

  spec.embedding = 64;  // heads of 16
  LoadedSynthetic narrow = Load(spec);
  const Status refused = CheckKvCacheTypes(narrow.model->config(), q8);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("multiple of 32"), std::string::npos) << refused.message();
}

INSTANTIATE_TEST_SUITE_P(Architectures, ReferenceTest, ::testing::Values("llama", "qwen2"));

class WeightTypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(WeightTypeTest, BatchedPromptEqualsTokenByToken) {
  SyntheticModelSpec spec;
  spec.weight_type = GetParam();
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<int32_t> tokens = SomeTokens(10, static_cast<int>(spec.vocab));
  const std::vector<float> batched = PromptLogits(*s.model, tokens);

  ThreadPool pool(2);
  ForwardPass forward(*s.model, pool);
  KvCache cache(s.model->config(), 64, 1, 0, -1, {DType::kF32, DType::kF32});
  std::vector<float> logits;
  for (size_t i = 0; i < tokens.size(); ++i) {
    Batch one;
    one.Add(tokens[i], static_cast<int32_t>(i), 0, true);
    ASSERT_TRUE(forward.Run(one, cache, &logits).ok());
    for (int64_t v = 0; v < spec.vocab; ++v) {
      ASSERT_NEAR(logits[v], batched[i * spec.vocab + v], 1e-5) << "token " << i;
    }
  }
}

TEST_P(WeightTypeTest, LogitsMatchFloat64ReferenceOfTheDequantizedWeights) {
  SyntheticModelSpec spec;
  spec.weight_type = GetParam();
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<int32_t> tokens = SomeTokens(6, static_cast<int>(spec.vocab));
  const std::vector<float> got = PromptLogits(*s.model, tokens);
  const std::vector<double> want = testing::ReferenceLogits(s.model->gguf(), s.bytes.data(), tokens);
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  // Float weights only round in float32. Quantized weights also see their activations rounded
  // to 8 bits (Q8_0) before each product: about 0.3% per product, a few percent end to end.
  const bool q8_activations = GetParam() == DType::kQ8_0 || GetParam() == DType::kQ4_0;
  EXPECT_LT(std::sqrt(num / den), q8_activations ? 0.03 : 1e-4);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, WeightTypeTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

TEST(ModelTest, SequencesInOneBatchMatchSequencesAlone) {
  SyntheticModelSpec spec;
  spec.weight_type = DType::kQ8_0;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<int32_t> a = SomeTokens(7, 96), b = {5, 9, 3};
  const std::vector<float> alone_a = PromptLogits(*s.model, a), alone_b = PromptLogits(*s.model, b);

  ThreadPool pool(2);
  ForwardPass forward(*s.model, pool);
  KvCache cache(s.model->config(), 64, 2, 0, -1, {DType::kF32, DType::kF32});
  Batch batch;
  // Interleave the two prompts in one batch; logits come back in batch order.
  for (size_t i = 0; i < 7; ++i) {
    batch.Add(a[i], static_cast<int32_t>(i), 0, true);
    if (i < 3) batch.Add(b[i], static_cast<int32_t>(i), 1, true);
  }
  std::vector<float> logits;
  ASSERT_TRUE(forward.Run(batch, cache, &logits).ok());
  size_t row = 0;
  for (size_t i = 0; i < 7; ++i) {
    for (int v = 0; v < 96; ++v) ASSERT_NEAR(logits[row * 96 + v], alone_a[i * 96 + v], 1e-5);
    ++row;
    if (i < 3) {
      for (int v = 0; v < 96; ++v) ASSERT_NEAR(logits[row * 96 + v], alone_b[i * 96 + v], 1e-5);
      ++row;
    }
  }
}

// Two prompts fed 8 tokens at a time, in turn, in a pool that a third sequence fragments, so that
// one sequence's blocks are out of order and apart: each sequence's logits equal those of the
// same prompt alone.
TEST(ModelTest, SequencesWithInterleavedCacheBlocksMatchSequencesAlone) {
  SyntheticModelSpec spec;
  spec.weight_type = DType::kQ8_0;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<std::vector<int32_t>> prompts = {SomeTokens(60, 96), SomeTokens(45, 90)};
  ThreadPool pool(2);
  ForwardPass forward(*s.model, pool);
  // 5 blocks of 32: the third sequence takes block 0, so the first two start in blocks 3 and 2;
  // once it is released, the second grows into block 0.
  KvCache cache(s.model->config(), 128, 3, 0, -1, {DType::kF32, DType::kF32}, 5 * KvCache::kBlockPositions);
  ASSERT_TRUE(cache.Reserve(2, 1));
  std::vector<std::vector<float>> logits(2);
  for (size_t start = 0; start < 60; start += 8) {
    if (start == KvCache::kBlockPositions) cache.Release(2);
    for (int seq = 0; seq < 2; ++seq) {
      Batch batch;
      for (size_t i = start; i < std::min(start + 8, prompts[seq].size()); ++i) {
        batch.Add(prompts[seq][i], static_cast<int32_t>(i), seq, true);
      }
      if (batch.size() == 0) continue;
      std::vector<float> chunk;
      ASSERT_TRUE(forward.Run(batch, cache, &chunk).ok());
      logits[seq].insert(logits[seq].end(), chunk.begin(), chunk.end());
    }
  }
  EXPECT_EQ(cache.blocks_total() - cache.blocks_free(), 2 + 2);  // 60 and 45 positions: two blocks each
  const int32_t* second = cache.keys(1, 0, 0).blocks;
  EXPECT_NE(second[1], second[0] + 1) << "blocks " << second[0] << ", " << second[1];
  for (int seq = 0; seq < 2; ++seq) {
    const std::vector<float> alone = PromptLogits(*s.model, prompts[seq]);
    ASSERT_EQ(logits[seq].size(), alone.size());
    for (size_t i = 0; i < alone.size(); ++i) ASSERT_NEAR(logits[seq][i], alone[i], 1e-5) << "sequence " << seq;
  }
}

// A sequence that grows alone holds consecutive blocks, and then each head's rows are one
// contiguous run across block boundaries (what lets attention stream them from memory); so do
// two sequences growing side by side, a block at a time in turn.
TEST(ModelTest, KvCacheRowsOfConsecutiveBlocksAreContiguous) {
  SyntheticModelSpec spec;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const int64_t n = 3 * KvCache::kBlockPositions + 5;
  KvCache cache(s.model->config(), n, 2);
  auto expect_contiguous = [&](int seq) {
    for (int64_t layer = 0; layer < s.model->config().block_count; ++layer) {
      for (int64_t head = 0; head < s.model->config().head_count_kv; ++head) {
        for (const cpu::KvView& view : {cache.keys(seq, layer, head), cache.values(seq, layer, head)}) {
          for (int64_t j = 0; j + 1 < n; ++j) {
            ASSERT_EQ(view.row(j + 1), view.row(j) + view.row_bytes) << "sequence " << seq << " row " << j;
          }
        }
      }
    }
  };
  for (int64_t end = 1; end <= n; ++end) ASSERT_TRUE(cache.Reserve(0, end));
  expect_contiguous(0);
  cache.Release(0);
  for (int64_t end = 1; end <= n; end += KvCache::kBlockPositions) {
    ASSERT_TRUE(cache.Reserve(0, end));
    ASSERT_TRUE(cache.Reserve(1, end));
  }
  ASSERT_TRUE(cache.Reserve(0, n));
  ASSERT_TRUE(cache.Reserve(1, n));
  expect_contiguous(0);
  expect_contiguous(1);
}

// Blocks are handed out as sequences grow, refused whole when the pool is short, and returned.
TEST(ModelTest, KvCacheHandsOutBlocks) {
  SyntheticModelSpec spec;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  KvCache cache(s.model->config(), 256, 4, 0, -1, {}, 100);  // 100 positions: 4 blocks of 32
  EXPECT_EQ(cache.blocks_total(), 4);
  EXPECT_TRUE(cache.Reserve(0, 1));
  EXPECT_EQ(cache.blocks_free(), 3);
  EXPECT_TRUE(cache.Reserve(0, 32));  // still the first block
  EXPECT_EQ(cache.blocks_free(), 3);
  EXPECT_TRUE(cache.Reserve(1, 64));
  EXPECT_EQ(cache.blocks_free(), 1);
  EXPECT_FALSE(cache.Reserve(2, 65));  // needs 3, 1 is free: nothing taken
  EXPECT_EQ(cache.blocks_free(), 1);
  cache.Release(1);
  EXPECT_EQ(cache.blocks_free(), 3);
  EXPECT_TRUE(cache.Reserve(2, 65));
  EXPECT_EQ(cache.blocks_free(), 0);
  cache.Release(0);
  cache.Release(2);
  EXPECT_EQ(cache.blocks_free(), 4);
  // A full pool makes the forward pass fail with a message, not write out of bounds.
  ASSERT_TRUE(cache.Reserve(3, 128));
  ThreadPool pool(1);
  ForwardPass forward(*s.model, pool);
  Batch batch;
  batch.Add(1, 0, 0, true);
  std::vector<float> logits;
  const Status full = forward.Run(batch, cache, &logits);
  EXPECT_FALSE(full.ok());
  EXPECT_NE(full.message().find("KV cache is full"), std::string::npos) << full.ToString();
}

TEST(ModelTest, ThreadCountDoesNotChangeResults) {
  SyntheticModelSpec spec;
  spec.weight_type = DType::kQ4_0;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  const std::vector<int32_t> tokens = SomeTokens(5, 96);
  EXPECT_EQ(PromptLogits(*s.model, tokens, 1), PromptLogits(*s.model, tokens, 2));
}

TEST(ModelTest, TiedOutputUsesTheEmbedding) {
  SyntheticModelSpec spec;
  spec.tied_output = true;
  LoadedSynthetic s = Load(spec);
  ASSERT_NE(s.model, nullptr);
  EXPECT_EQ(s.model->output().data, s.model->token_embedding().data);
}

TEST(ModelTest, RejectsBadBatches) {
  SyntheticModelSpec spec;
  LoadedSynthetic s = Load(spec);
  ThreadPool pool(1);
  ForwardPass forward(*s.model, pool);
  KvCache cache(s.model->config(), 8, 1);
  std::vector<float> logits;
  Batch bad_token;
  bad_token.Add(96, 0, 0, true);
  EXPECT_EQ(forward.Run(bad_token, cache, &logits).code(), StatusCode::kInvalidArgument);
  Batch bad_position;
  bad_position.Add(1, 8, 0, true);
  EXPECT_NE(forward.Run(bad_position, cache, &logits).message().find("outside the context"), std::string::npos);
  EXPECT_EQ(forward.Run(Batch{}, cache, &logits).code(), StatusCode::kInvalidArgument);
}

Status LoadError(GgufWriter writer) {
  std::vector<uint8_t> bytes = writer.ToBytes();
  auto gguf = GgufFile::Parse(bytes, bytes.size(), "m.gguf");
  if (!gguf.ok()) return gguf.status();
  auto model = LlamaModel::FromGguf(std::move(gguf).value(), bytes.data());
  return model.ok() ? Status::Ok() : model.status();
}

TEST(ModelTest, UnsupportedArchitectureListsTheSupportedOnes) {
  GgufWriter w = SyntheticModel({});
  w.SetString("general.architecture", "mamba");
  Status s = LoadError(w);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("architecture 'mamba' is not supported (supported: llama, qwen2)"), std::string::npos)
      << s.message();
}

TEST(ModelTest, ShapeMismatchNamesTheTensor) {
  GgufWriter w = SyntheticModel({});
  w.SetUint32("llama.feed_forward_length", 256);
  Status s = LoadError(w);
  EXPECT_NE(s.message().find("tensor 'blk.0.ffn_gate.weight' has shape [64, 128], the model's metadata implies [64, 256]"),
            std::string::npos)
      << s.message();
}

TEST(ModelTest, MissingTensorAndBadHyperparameters) {
  GgufWriter w = SyntheticModel({});
  w.SetUint32("llama.block_count", 3);
  EXPECT_NE(LoadError(w).message().find("tensor 'blk.2.attn_norm.weight' is missing"), std::string::npos);
  GgufWriter heads = SyntheticModel({});
  heads.SetUint32("llama.attention.head_count_kv", 3);
  EXPECT_NE(LoadError(heads).message().find("not a multiple of head_count_kv"), std::string::npos);
  GgufWriter no_key = SyntheticModel({});
  no_key.SetString("llama.embedding_length", "wide");
  EXPECT_NE(LoadError(no_key).message().find("'llama.embedding_length' is string"), std::string::npos);
}

TEST(ModelTest, Llama3RopeScalingSlowsOnlyLongWavelengths) {
  ModelConfig c;
  c.head_dim = c.rope_dims = 128;
  c.rope_freq_base = 500000.0;
  const std::vector<float> plain = c.RopeInverseFrequencies({});
  c.rope_scaling = RopeScaling::kLlama3;
  c.rope_scaling_factor = 8.0;
  c.rope_original_context = 8192;
  const std::vector<float> scaled = c.RopeInverseFrequencies({});
  EXPECT_EQ(scaled[0], plain[0]);                        // short wavelength: unchanged
  EXPECT_FLOAT_EQ(scaled[63], plain[63] / 8.0f);          // long wavelength: divided by the factor
  // A rope_freqs tensor, when present, is used as given.
  const std::vector<float> from_tensor = c.RopeInverseFrequencies(std::vector<float>(64, 2.0f));
  EXPECT_FLOAT_EQ(from_tensor[10], plain[10] / 2.0f);
}

}  // namespace
}  // namespace riglm
