// Single-sequence text generation: prompt in batches, then sample token by token, streaming
// text out through a callback. The building block of `riglm run`.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/decoder.h"
#include "engine/pipeline.h"
#include "sampler/sampler.h"
#include "tokenizer/tokenizer.h"

namespace riglm {

struct GenerateOptions {
  int64_t max_tokens = -1;  // -1: until end of generation or the context is full
  std::vector<std::string> stop;
  SamplingParams sampling;
  int64_t batch_size = 512;  // prompt tokens evaluated per forward pass
};

enum class StopReason { kEndOfGeneration, kStopString, kMaxTokens, kContextFull, kCancelled };
std::string_view StopReasonName(StopReason reason);  // "stop", "length", ... as APIs say

struct GenerateStats {
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0.0;
  int64_t generated_tokens = 0;
  double generate_seconds = 0.0;  // from the first sampled token to the last
  StopReason stop_reason = StopReason::kEndOfGeneration;
};

class Generator {
 public:
  // `stages` splits the layers into a pipeline (empty: one stage).
  Generator(const LlamaModel& model, const Tokenizer& tokenizer, ThreadPool& pool, int64_t context_length,
            KvCacheTypes kv_types = {}, std::vector<PipelineStage> stages = {});
  // On a single-sequence decoder (a GPU): the prompt goes through it one token at a time.
  Generator(const LlamaModel& model, const Tokenizer& tokenizer, std::unique_ptr<SequenceDecoder> decoder,
            int64_t context_length);

  // Runs the prompt and generates. `on_text` receives displayable text; returning false cancels.
  Result<GenerateStats> Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                 const std::function<bool(std::string_view)>& on_text);

 private:
  // Runs `tokens` at positions from `first_position` (in batches of `batch_size` on the CPU),
  // leaving the last one's logits in `logits`.
  Status Evaluate(std::span<const int32_t> tokens, int64_t first_position, int64_t batch_size,
                  std::vector<float>* logits);

  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  int64_t context_length_;
  std::unique_ptr<PipelineRunner> runner_;     // the CPU pipeline, or
  std::unique_ptr<SequenceDecoder> decoder_;  // a single-sequence decoder
  Batch batch_;
};

}  // namespace riglm
