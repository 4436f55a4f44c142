#include "engine/perplexity.h"

#include <cmath>

namespace riglm {

Result<PerplexityEstimate> ComputePerplexity(const LlamaModel& model, ThreadPool& pool,
                                             const std::vector<int32_t>& tokens, int64_t context, int32_t bos_id,
                                             int64_t max_chunks,
                                             const std::function<void(const PerplexityEstimate&)>& on_chunk,
                                             KvCacheTypes kv_types) {
  if (context < 4) return InvalidArgument("perplexity needs a context of at least 4 tokens");
  const int64_t available = static_cast<int64_t>(tokens.size()) / context;
  if (available == 0) {
    return InvalidArgument("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                           std::to_string(context) + "; use a longer text or a smaller context (-c)");
  }
  const int64_t chunks = max_chunks > 0 ? std::min(max_chunks, available) : available;
  const int64_t vocab = model.config().vocab_size;
  const int64_t first_scored = context / 2;

  ForwardPass forward(model, pool);
  KvCache cache(model.config(), context, 1, 0, -1, kv_types);
  Batch batch;
  std::vector<float> logits;
  double nll_sum = 0.0, nll_sq_sum = 0.0;
  PerplexityEstimate estimate;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    batch.Clear();
    const int64_t start = chunk * context;
    for (int64_t i = 0; i < context; ++i) {
      int32_t token = tokens[start + i];
      if (i == 0 && bos_id >= 0) token = bos_id;
      // Logits at position i predict token i + 1; positions first_scored .. context - 2 count.
      batch.Add(token, static_cast<int32_t>(i), 0, i >= first_scored && i < context - 1);
    }
    RIGLM_RETURN_IF_ERROR(forward.Run(batch, cache, &logits));
    for (int64_t i = first_scored; i < context - 1; ++i) {
      const float* row = logits.data() + (i - first_scored) * vocab;
      float max = row[0];
      for (int64_t v = 1; v < vocab; ++v) max = std::max(max, row[v]);
      double sum = 0.0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
      const double nll = std::log(sum) + max - row[tokens[start + i + 1]];
      nll_sum += nll;
      nll_sq_sum += nll * nll;
      ++estimate.scored_tokens;
    }
    estimate.chunks = chunk + 1;
    const double n = static_cast<double>(estimate.scored_tokens);
    const double mean = nll_sum / n;
    estimate.perplexity = std::exp(mean);
    if (estimate.scored_tokens > 1) {
      const double variance = std::max(0.0, nll_sq_sum / n - mean * mean);
      estimate.standard_error = estimate.perplexity * std::sqrt(variance / (n - 1));
    }
    if (on_chunk) on_chunk(estimate);
  }
  return estimate;
}

}  // namespace riglm
