// Prompt-processing and generation speed, measured the way llama-bench measures them: pp runs
// a prompt of n tokens in batches, tg generates n tokens one at a time, from an empty context or
// (depth d) after d tokens already in the KV cache, which every step's attention then reads.
#pragma once

#include <string>
#include <vector>

#include "engine/decoder.h"
#include "engine/pipeline.h"

namespace riglm {

struct BenchResult {
  std::string test;  // "pp512", "tg128", "tg128 @ d4096"
  int64_t n_prompt = 0;
  int64_t n_gen = 0;
  int64_t n_depth = 0;
  std::vector<double> samples_ts;  // tokens per second of each repetition
  double avg_ts = 0.0;
  double stddev_ts = 0.0;
  // Generation only: memory read bandwidth around each repetition (bytes/s; the mean of the
  // measurements just before and just after it), and each repetition's speed as a fraction of
  // the ceiling that bandwidth sets. Measuring them together keeps the ratio meaningful on
  // machines whose bandwidth swings from minute to minute. The bytes a step reads: the weights,
  // and at a depth the cache rows the depth left, which every step's attention reads.
  std::vector<double> bandwidth_samples;
  double ceiling_fraction = 0.0;
  uint64_t bytes_per_token = 0;
};

// Where a test starts: `n_depth` tokens already in the cache (each taking `kv_bytes_per_position`
// over all layers, for the ceiling) before the timed tokens.
struct BenchDepth {
  int64_t n_depth = 0;
  uint64_t kv_bytes_per_position = 0;
};

// One warm-up pass, then `repetitions` timed ones; the depth's tokens are fed once, untimed.
Result<BenchResult> BenchPrompt(const LlamaModel& model, ThreadPool& pool, int64_t n_prompt, int repetitions,
                                KvCacheTypes kv_types = {}, const std::vector<PipelineStage>& stages = {},
                                int64_t batch_size = 512, BenchDepth depth = {});
Result<BenchResult> BenchGeneration(const LlamaModel& model, ThreadPool& pool, int64_t n_gen, int repetitions,
                                    KvCacheTypes kv_types = {}, const std::vector<PipelineStage>& stages = {},
                                    bool measure_bandwidth = true, BenchDepth depth = {});

// tg on a single-sequence decoder (a GPU); the ceiling comes from the device's peak memory
// bandwidth in bytes/s (0: unknown, no ceiling).
Result<BenchResult> BenchGenerationOn(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_gen,
                                      int repetitions, double peak_bandwidth, BenchDepth depth = {});

// pp on a single-sequence decoder (a GPU): the prompt through its Prefill.
Result<BenchResult> BenchPromptOn(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_prompt, int repetitions,
                                  BenchDepth depth = {});

// Bytes of weights one decoded token reads: every matrix once, plus one embedding row.
uint64_t WeightBytesPerToken(const LlamaModel& model);

}  // namespace riglm
