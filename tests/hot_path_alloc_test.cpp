// Generating allocates nothing once warm: every buffer a step needs (activations, KV block tables,
// the sampler's candidates) is sized on the first steps or up front and reused after. Counted
// through the global allocation functions, which this test binary replaces.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#include "engine/decoder.h"
#include "engine/pipeline.h"
#include "sampler/sampler.h"
#include "test_support.h"

namespace {
std::atomic<int64_t> g_allocations{0};

void* Allocate(std::size_t n, std::size_t align = alignof(std::max_align_t)) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(n ? n : 1);
  } else {
    p = std::aligned_alloc(align, (std::max<std::size_t>(n, 1) + align - 1) / align * align);
  }
  return p;
}
}  // namespace

// GCC sees, once inlined, `new` paired with free(): these replacements pair malloc with free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  if (void* p = Allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = Allocate(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace riglm {
namespace {

int64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }

int32_t Greedy(const float* logits, int64_t vocab) { return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits); }

// One sequence, one token a step, across several KV cache blocks (the table grows every 32
// positions) up to the context's end.
TEST(HotPathAllocTest, DecodingOneSequenceAllocatesNothingOnceWarm) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  ThreadPool pool(2);
  const int64_t context = 256;
  CpuSequenceDecoder decoder(**model, pool, context);
  const int64_t vocab = (*model)->config().vocab_size;
  std::vector<float> logits;
  int32_t token = 1;
  ASSERT_TRUE(decoder.Decode(token, 0, &logits).ok());  // sizes the activations
  token = Greedy(logits.data(), vocab);
  const int64_t before = Allocations();
  for (int64_t position = 1; position < context; ++position) {
    ASSERT_TRUE(decoder.Decode(token, position, &logits).ok());
    token = Greedy(logits.data(), vocab);
  }
  EXPECT_EQ(Allocations() - before, 0);
}

// Prompts in batches: once the first has sized the batch buffers, later ones of no more tokens
// allocate nothing either (a conversation's next turn).
TEST(HotPathAllocTest, PrefillingAllocatesNothingOnceWarm) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  ThreadPool pool(2);
  CpuSequenceDecoder decoder(**model, pool, 256);
  std::vector<float> logits;
  const std::vector<int32_t> prompt(64, 5);
  ASSERT_TRUE(decoder.Prefill(prompt, 0, &logits).ok());
  const int64_t before = Allocations();
  ASSERT_TRUE(decoder.Prefill(prompt, 64, &logits).ok());
  ASSERT_TRUE(decoder.Prefill(std::span(prompt).first(10), 128, &logits).ok());
  EXPECT_EQ(Allocations() - before, 0);
}

// The server's case: a batch of sequences a step, through a pipeline of two stages.
TEST(HotPathAllocTest, DecodingABatchThroughAPipelineAllocatesNothingOnceWarm) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  const int64_t layers = (*model)->config().block_count;
  const int64_t vocab = (*model)->config().vocab_size;
  ASSERT_GE(layers, 2);
  ThreadPool pool(2);
  const int kSequences = 4;
  const int64_t context = 128;
  PipelineRunner runner(**model, pool, context, kSequences, {},
                        {{"first", 0, layers / 2}, {"second", layers / 2, layers}});
  Batch batch;
  std::vector<float> logits;
  int32_t tokens[kSequences] = {1, 2, 3, 4};
  auto step = [&](int64_t position) {
    batch.Clear();
    for (int s = 0; s < kSequences; ++s) batch.Add(tokens[s], static_cast<int32_t>(position), s, true);
    const Status status = runner.Run(batch, &logits);
    for (int s = 0; s < kSequences; ++s) tokens[s] = Greedy(logits.data() + s * vocab, vocab);
    return status;
  };
  ASSERT_TRUE(step(0).ok());
  const int64_t before = Allocations();
  for (int64_t position = 1; position < context; ++position) ASSERT_TRUE(step(position).ok());
  EXPECT_EQ(Allocations() - before, 0);
}

// Every path through the sampler: penalties over a full window, each cut-off, and none.
TEST(HotPathAllocTest, SamplingAllocatesNothingOnceWarm) {
  const int32_t vocab = 32000;
  const std::vector<float> logits = testing::RandomFloats(vocab, 7, 4.0f);
  SamplingParams with_cutoffs;
  with_cutoffs.repeat_penalty = 1.1f;
  with_cutoffs.frequency_penalty = 0.2f;
  with_cutoffs.presence_penalty = 0.1f;
  SamplingParams top_p_only = with_cutoffs;
  top_p_only.top_k = 0;
  top_p_only.min_p = 0.0f;
  SamplingParams none = top_p_only;
  none.top_p = 1.0f;
  for (const SamplingParams& params : {with_cutoffs, top_p_only, none}) {
    Sampler sampler(params, vocab);
    for (int i = 0; i < 3; ++i) sampler.Accept(sampler.Sample(logits.data()));
    const int64_t before = Allocations();
    for (int i = 0; i < 100; ++i) sampler.Accept(sampler.Sample(logits.data()));
    EXPECT_EQ(Allocations() - before, 0) << "top_k " << params.top_k << ", top_p " << params.top_p;
  }
}

}  // namespace
}  // namespace riglm
