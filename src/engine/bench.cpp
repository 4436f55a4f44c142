#include "engine/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include "backend/cpu/bandwidth.h"

namespace riglm {
namespace {

void Summarize(BenchResult* r) {
  double sum = 0.0;
  for (double s : r->samples_ts) sum += s;
  r->avg_ts = sum / static_cast<double>(r->samples_ts.size());
  double sq = 0.0;
  for (double s : r->samples_ts) sq += (s - r->avg_ts) * (s - r->avg_ts);
  r->stddev_ts = r->samples_ts.size() > 1 ? std::sqrt(sq / static_cast<double>(r->samples_ts.size() - 1)) : 0.0;
}

int32_t TokenAt(int64_t i, int64_t vocab) { return static_cast<int32_t>((i * 7919 + 13) % vocab); }

// "pp512", or "tg128 @ d4096" as llama-bench names a test at a depth.
std::string TestName(const char* kind, int64_t n, int64_t depth) {
  return kind + std::to_string(n) + (depth > 0 ? " @ d" + std::to_string(depth) : "");
}

// Tokens [begin, end) through `runner` in batches of at most `batch_size` (`batch` and `logits`
// are the caller's, reused between timed runs).
Status FeedTokens(PipelineRunner& runner, const LlamaModel& model, int64_t begin, int64_t end, int64_t batch_size,
                  Batch& batch, std::vector<float>& logits) {
  for (int64_t first = begin; first < end; first += batch_size) {
    batch.Clear();
    const int64_t last = std::min(end, first + batch_size);
    for (int64_t i = first; i < last; ++i) {
      batch.Add(TokenAt(i, model.config().vocab_size), static_cast<int32_t>(i), 0, i == last - 1);
    }
    RIGLM_RETURN_IF_ERROR(runner.Run(batch, &logits));
  }
  return Status::Ok();
}

// The depth's tokens at positions 0.. on a decoder.
Status FillDepth(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_depth) {
  if (n_depth <= 0) return Status::Ok();
  std::vector<int32_t> tokens(n_depth);
  for (int64_t i = 0; i < n_depth; ++i) tokens[i] = TokenAt(i, model.config().vocab_size);
  std::vector<float> logits;
  return decoder.Prefill(tokens, 0, &logits);
}

// pp: one warm-up pass of `run_prompt`, then `repetitions` timed ones.
Result<BenchResult> TimePrompt(int64_t n_prompt, int repetitions, int64_t n_depth,
                               const std::function<Status()>& run_prompt) {
  BenchResult r;
  r.test = TestName("pp", n_prompt, n_depth);
  r.n_prompt = n_prompt;
  r.n_depth = n_depth;
  for (int rep = -1; rep < repetitions; ++rep) {  // rep -1 warms up
    const auto start = std::chrono::steady_clock::now();
    RIGLM_RETURN_IF_ERROR(run_prompt());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep >= 0) r.samples_ts.push_back(static_cast<double>(n_prompt) / seconds);
  }
  Summarize(&r);
  return r;
}

}  // namespace

Result<BenchResult> BenchPrompt(const LlamaModel& model, ThreadPool& pool, int64_t n_prompt, int repetitions,
                                KvCacheTypes kv_types, const std::vector<PipelineStage>& stages, int64_t batch_size,
                                BenchDepth depth) {
  const int64_t d = depth.n_depth;
  PipelineRunner runner(model, pool, d + n_prompt, 1, kv_types, stages);
  Batch batch;
  std::vector<float> logits;
  RIGLM_RETURN_IF_ERROR(FeedTokens(runner, model, 0, d, batch_size, batch, logits));
  return TimePrompt(n_prompt, repetitions, d,
                    [&] { return FeedTokens(runner, model, d, d + n_prompt, batch_size, batch, logits); });
}

Result<BenchResult> BenchPromptOn(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_prompt, int repetitions,
                                  BenchDepth depth) {
  const int64_t d = depth.n_depth;
  RIGLM_RETURN_IF_ERROR(FillDepth(decoder, model, d));
  std::vector<int32_t> tokens(n_prompt);
  for (int64_t i = 0; i < n_prompt; ++i) tokens[i] = TokenAt(d + i, model.config().vocab_size);
  std::vector<float> logits;
  return TimePrompt(n_prompt, repetitions, d, [&] { return decoder.Prefill(tokens, d, &logits); });
}

namespace {

// tg: `repetitions` timed runs of n_gen single-token steps from position n_depth, after a short
// warm-up; `bandwidth` (bytes/s; may be null) is measured before the first run and after each,
// and the mean of the two around a run sets its ceiling: on a shared machine whose bandwidth
// swings from second to second, one measurement on one side of a run was measured to miss the
// run's conditions by up to 20%.
Result<BenchResult> TimeGeneration(const LlamaModel& model, int64_t n_gen, int repetitions, BenchDepth depth,
                                   const std::function<Status(int32_t token, int64_t position)>& step,
                                   const std::function<double()>& bandwidth) {
  BenchResult r;
  r.test = TestName("tg", n_gen, depth.n_depth);
  r.n_gen = n_gen;
  r.n_depth = depth.n_depth;
  // The weights, and the rows the depth left in the cache (each step reads them all; the few
  // rows the test itself adds are left out, so the ceiling errs high).
  r.bytes_per_token = WeightBytesPerToken(model) + depth.kv_bytes_per_position * static_cast<uint64_t>(depth.n_depth);
  double before = 0.0;
  for (int rep = -1; rep < repetitions; ++rep) {
    const int64_t steps = rep < 0 ? std::min<int64_t>(n_gen, 8) : n_gen;
    if (rep == 0 && bandwidth) before = bandwidth();
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = depth.n_depth; i < depth.n_depth + steps; ++i) {
      RIGLM_RETURN_IF_ERROR(step(TokenAt(i, model.config().vocab_size), i));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep < 0) continue;
    r.samples_ts.push_back(static_cast<double>(steps) / seconds);
    if (bandwidth) {
      const double after = bandwidth();
      r.bandwidth_samples.push_back((before + after) / 2.0);
      before = after;
    }
  }
  Summarize(&r);
  if (!r.bandwidth_samples.empty()) {
    const double bytes = static_cast<double>(r.bytes_per_token);
    double sum = 0.0;
    for (size_t i = 0; i < r.samples_ts.size(); ++i) sum += r.samples_ts[i] * bytes / r.bandwidth_samples[i];
    r.ceiling_fraction = sum / static_cast<double>(r.samples_ts.size());
  }
  return r;
}

}  // namespace

Result<BenchResult> BenchGeneration(const LlamaModel& model, ThreadPool& pool, int64_t n_gen, int repetitions,
                                    KvCacheTypes kv_types, const std::vector<PipelineStage>& stages,
                                    bool measure_bandwidth, BenchDepth depth) {
  PipelineRunner runner(model, pool, std::max<int64_t>(depth.n_depth + n_gen, 1), 1, kv_types, stages);
  std::vector<float> logits;
  Batch batch;
  RIGLM_RETURN_IF_ERROR(
      FeedTokens(runner, model, 0, depth.n_depth, CpuSequenceDecoder::kPrefillBatch, batch, logits));
  auto step = [&](int32_t token, int64_t position) {
    batch.Clear();
    batch.Add(token, static_cast<int32_t>(position), 0, true);
    return runner.Run(batch, &logits);
  };
  std::function<double()> bandwidth;
  if (measure_bandwidth) bandwidth = [&] { return cpu::MeasureReadBandwidth(pool, uint64_t{256} << 20, 3); };
  return TimeGeneration(model, n_gen, repetitions, depth, step, bandwidth);
}

Result<BenchResult> BenchGenerationOn(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_gen,
                                      int repetitions, double peak_bandwidth, BenchDepth depth) {
  RIGLM_RETURN_IF_ERROR(FillDepth(decoder, model, depth.n_depth));
  std::vector<float> logits;
  auto step = [&](int32_t token, int64_t position) { return decoder.Decode(token, position, &logits); };
  std::function<double()> bandwidth;
  if (peak_bandwidth > 0) bandwidth = [peak_bandwidth] { return peak_bandwidth; };
  return TimeGeneration(model, n_gen, repetitions, depth, step, bandwidth);
}

uint64_t WeightBytesPerToken(const LlamaModel& model) {
  auto bytes = [](const cpu::WeightMatrix& w) { return static_cast<uint64_t>(w.rows) * w.row_bytes; };
  uint64_t total = bytes(model.output()) + model.token_embedding().row_bytes;
  for (const LayerWeights& l : model.layers()) {
    total += bytes(l.attn_q) + bytes(l.attn_k) + bytes(l.attn_v) + bytes(l.attn_output) + bytes(l.ffn_gate) +
             bytes(l.ffn_up) + bytes(l.ffn_down);
  }
  return total;
}

}  // namespace riglm
