// Single-sequence text generation: prompt in batches, then sample token by token, streaming
// text out through a callback. The building block of `riglm run`.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

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

  // Runs the prompt and generates. `on_text` receives displayable text; returning false cancels.
  Result<GenerateStats> Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                 const std::function<bool(std::string_view)>& on_text);

 private:
  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  PipelineRunner runner_;
};

}  // namespace riglm
