#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "engine/text_stream.h"

namespace riglm {

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kEndOfGeneration:
    case StopReason::kStopString: return "stop";
    case StopReason::kMaxTokens:
    case StopReason::kContextFull: return "length";
    case StopReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

Generator::Generator(const LlamaModel& model, const Tokenizer& tokenizer, ThreadPool& pool, int64_t context_length,
                     KvCacheTypes kv_types, std::vector<PipelineStage> stages)
    : model_(model),
      tokenizer_(tokenizer),
      context_length_(context_length),
      runner_(std::make_unique<PipelineRunner>(model, pool, context_length, 1, kv_types, std::move(stages))) {}

Generator::Generator(const LlamaModel& model, const Tokenizer& tokenizer, std::unique_ptr<SequenceDecoder> decoder,
                     int64_t context_length)
    : model_(model), tokenizer_(tokenizer), context_length_(context_length), decoder_(std::move(decoder)) {}

Status Generator::Evaluate(std::span<const int32_t> tokens, int64_t first_position, int64_t batch_size,
                           std::vector<float>* logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (decoder_) return n == 1 ? decoder_->Decode(tokens[0], first_position, logits) : decoder_->Prefill(tokens, first_position, logits);
  const int64_t step = std::max<int64_t>(1, batch_size);
  for (int64_t begin = 0; begin < n; begin += step) {
    batch_.Clear();
    const int64_t end = std::min(n, begin + step);
    for (int64_t i = begin; i < end; ++i) {
      batch_.Add(tokens[i], static_cast<int32_t>(first_position + i), 0, i == n - 1);
    }
    RIGLM_RETURN_IF_ERROR(runner_->Run(batch_, logits));
  }
  return Status::Ok();
}

Result<GenerateStats> Generator::Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                          const std::function<bool(std::string_view)>& on_text) {
  using Clock = std::chrono::steady_clock;
  RIGLM_RETURN_IF_ERROR(options.sampling.Validate());
  const int64_t ctx = context_length_;
  if (prompt.empty()) return InvalidArgument("the prompt has no tokens");
  if (static_cast<int64_t>(prompt.size()) >= ctx) {
    return InvalidArgument("the prompt has " + std::to_string(prompt.size()) + " tokens, but the context holds " +
                           std::to_string(ctx) + "; use a larger context (-c) or a shorter prompt");
  }
  GenerateStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  Sampler sampler(options.sampling, static_cast<int32_t>(model_.config().vocab_size));
  for (int32_t t : prompt) sampler.Accept(t);

  const auto prompt_start = Clock::now();
  std::vector<float> logits;
  RIGLM_RETURN_IF_ERROR(Evaluate(prompt, 0, options.batch_size, &logits));
  const auto generate_start = Clock::now();
  stats.prompt_seconds = std::chrono::duration<double>(generate_start - prompt_start).count();

  TextStream text(options.stop);
  int64_t position = stats.prompt_tokens;
  stats.stop_reason = StopReason::kMaxTokens;
  while (true) {
    if (options.max_tokens >= 0 && stats.generated_tokens >= options.max_tokens) {
      stats.stop_reason = StopReason::kMaxTokens;
      break;
    }
    const int32_t token = sampler.Sample(logits.data());
    sampler.Accept(token);
    ++stats.generated_tokens;
    if (tokenizer_.vocab().IsEndOfGeneration(token)) {
      stats.stop_reason = StopReason::kEndOfGeneration;
      break;
    }
    const std::string shown = text.Push(tokenizer_.TokenToPiece(token));
    if (!shown.empty() && !on_text(shown)) {
      stats.stop_reason = StopReason::kCancelled;
      break;
    }
    if (text.stopped()) {
      stats.stop_reason = StopReason::kStopString;
      break;
    }
    if (position >= ctx) {
      stats.stop_reason = StopReason::kContextFull;
      break;
    }
    // The last sampled token is only evaluated when another one will be sampled after it.
    if (options.max_tokens >= 0 && stats.generated_tokens >= options.max_tokens) continue;
    RIGLM_RETURN_IF_ERROR(Evaluate(std::span(&token, 1), position++, 1, &logits));
  }
  const std::string rest = text.Flush();
  if (!rest.empty()) on_text(rest);
  stats.generate_seconds = std::chrono::duration<double>(Clock::now() - generate_start).count();
  return stats;
}

}  // namespace riglm
