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

// pp: one warm-up pass of `run_prompt`, then `repetitions` timed ones.
Result<BenchResult> TimePrompt(int64_t n_prompt, int repetitions, const std::function<Status()>& run_prompt) {
  BenchResult r;
  r.test = "pp" + std::to_string(n_prompt);
  r.n_prompt = n_prompt;
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
                                KvCacheTypes kv_types, const std::vector<PipelineStage>& stages, int64_t batch_size) {
  PipelineRunner runner(model, pool, n_prompt, 1, kv_types, stages);
  std::vector<float> logits;
  Batch batch;
  return TimePrompt(n_prompt, repetitions, [&]() -> Status {
    for (int64_t begin = 0; begin < n_prompt; begin += batch_size) {
      batch.Clear();
      const int64_t end = std::min(n_prompt, begin + batch_size);
      for (int64_t i = begin; i < end; ++i) batch.Add(TokenAt(i, model.config().vocab_size), static_cast<int32_t>(i), 0, i == end - 1);
      RIGLM_RETURN_IF_ERROR(runner.Run(batch, &logits));
    }
    return Status::Ok();
  });
}

Result<BenchResult> BenchPromptOn(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_prompt, int repetitions) {
  std::vector<int32_t> tokens(n_prompt);
  for (int64_t i = 0; i < n_prompt; ++i) tokens[i] = TokenAt(i, model.config().vocab_size);
  std::vector<float> logits;
  return TimePrompt(n_prompt, repetitions, [&] { return decoder.Prefill(tokens, 0, &logits); });
}

namespace {

// tg: `repetitions` timed runs of n_gen single-token steps after a short warm-up; `bandwidth`
// (bytes/s; may be null) is measured before the first run and after each, and the mean of the
// two around a run sets its ceiling: on a shared machine whose bandwidth swings from second to
// second, one measurement on one side of a run was measured to miss the run's conditions by up
// to 20%.
Result<BenchResult> TimeGeneration(const LlamaModel& model, int64_t n_gen, int repetitions,
                                   const std::function<Status(int32_t token, int64_t position)>& step,
                                   const std::function<double()>& bandwidth) {
  BenchResult r;
  r.test = "tg" + std::to_string(n_gen);
  r.n_gen = n_gen;
  double before = 0.0;
  for (int rep = -1; rep < repetitions; ++rep) {
    const int64_t steps = rep < 0 ? std::min<int64_t>(n_gen, 8) : n_gen;
    if (rep == 0 && bandwidth) before = bandwidth();
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) RIGLM_RETURN_IF_ERROR(step(TokenAt(i, model.config().vocab_size), i));
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
    const double bytes = static_cast<double>(WeightBytesPerToken(model));
    double sum = 0.0;
    for (size_t i = 0; i < r.samples_ts.size(); ++i) sum += r.samples_ts[i] * bytes / r.bandwidth_samples[i];
    r.ceiling_fraction = sum / static_cast<double>(r.samples_ts.size());
  }
  return r;
}

}  // namespace

Result<BenchResult> BenchGeneration(const LlamaModel& model, ThreadPool& pool, int64_t n_gen, int repetitions,
                                    KvCacheTypes kv_types, const std::vector<PipelineStage>& stages,
                                    bool measure_bandwidth) {
  PipelineRunner runner(model, pool, std::max<int64_t>(n_gen, 1), 1, kv_types, stages);
  std::vector<float> logits;
  Batch batch;
  auto step = [&](int32_t token, int64_t position) {
    batch.Clear();
    batch.Add(token, static_cast<int32_t>(position), 0, true);
    return runner.Run(batch, &logits);
  };
  std::function<double()> bandwidth;
  if (measure_bandwidth) bandwidth = [&] { return cpu::MeasureReadBandwidth(pool, uint64_t{256} << 20, 3); };
  return TimeGeneration(model, n_gen, repetitions, step, bandwidth);
}

Result<BenchResult> BenchGenerationOn(SequenceDecoder& decoder, const LlamaModel& model, int64_t n_gen,
                                      int repetitions, double peak_bandwidth) {
  std::vector<float> logits;
  auto step = [&](int32_t token, int64_t position) { return decoder.Decode(token, position, &logits); };
  std::function<double()> bandwidth;
  if (peak_bandwidth > 0) bandwidth = [peak_bandwidth] { return peak_bandwidth; };
  return TimeGeneration(model, n_gen, repetitions, step, bandwidth);
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
