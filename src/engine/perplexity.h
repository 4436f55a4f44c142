// Windowed perplexity as llama.cpp's perplexity tool computes it: the text is cut into chunks of
// `context` tokens, each chunk starts afresh (its first token replaced by BOS when the model
// adds one), and only the second half of each chunk is scored, so every scored token has at
// least context/2 tokens of history.
#pragma once

#include <functional>
#include <vector>

#include "model/forward.h"

namespace riglm {

struct PerplexityEstimate {
  int64_t chunks = 0;
  int64_t scored_tokens = 0;
  double perplexity = 0.0;
  double standard_error = 0.0;  // of the perplexity, from the spread of per-token losses
};

// `tokens` is the whole text, already tokenized (with BOS if the model uses one).
// `on_chunk` sees the running estimate after each chunk.
Result<PerplexityEstimate> ComputePerplexity(const LlamaModel& model, ThreadPool& pool,
                                             const std::vector<int32_t>& tokens, int64_t context, int32_t bos_id,
                                             int64_t max_chunks,
                                             const std::function<void(const PerplexityEstimate&)>& on_chunk,
                                             KvCacheTypes kv_types = {});

}  // namespace riglm
