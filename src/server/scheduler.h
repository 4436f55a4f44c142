// Continuous batching: every step advances all active sequences together (one token each), long
// prompts are processed in chunks interleaved with that decoding, and new requests take a free
// sequence slot as soon as one exists, without waiting for others to finish. The KV cache is a
// pool of blocks shared by the slots: a request starts once a slot is free and the pool can hold
// its prompt plus max_tokens (at most its context) next to what running requests may still
// need; its blocks go back to the pool when it ends. A request that cannot start waits in a
// bounded queue, and a full queue is refused at once (the server answers 503).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/generator.h"
#include "engine/pipeline.h"
#include "sampler/sampler.h"
#include "tokenizer/tokenizer.h"

namespace riglm {

class JsonPrefix;
class JsonSchema;

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = -1;  // -1: until end of generation or the context is full
  std::vector<std::string> stop;
  int logprobs = -1;  // -1: none; else report each token's log-probability and this many alternatives
  bool json_only = false;  // only tokens that keep the output a JSON value; it ends with the value
  std::shared_ptr<const JsonSchema> json_schema;  // with json_only: a value this schema accepts
};

// A generated token's log-probability under the model (raw logits, temperature 1), with the
// most likely alternatives at that step.
struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};

struct GenerationEvent {
  std::string text;  // displayable text (may be empty on the final event)
  std::vector<TokenLogprob> logprobs;  // the tokens sampled since the previous event, when asked
  bool done = false;
  // Set on the final event:
  StopReason stop_reason = StopReason::kEndOfGeneration;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double queue_seconds = 0.0;
  double prompt_seconds = 0.0;
  double generate_seconds = 0.0;
  Status error;
};

// One request as both sides see it: the scheduler posts events, the HTTP thread reads them and
// may cancel (a client that went away).
class RequestHandle {
 public:
  // Waits up to `timeout` for the next event; false on timeout.
  bool Next(GenerationEvent* event, std::chrono::milliseconds timeout);
  void Cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class Scheduler;
  void Post(GenerationEvent event);
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<GenerationEvent> events_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int parallel = 4;              // sequence slots (--parallel)
  int64_t context = 4096;        // per sequence (--ctx)
  int64_t kv_positions = -1;     // KV cache positions shared by all slots (--kv-size); -1: parallel x context
  int max_queue = 64;            // requests waiting for a slot
  int64_t batch_tokens = 512;    // tokens per step, prompt chunks included
  int threads = 0;               // 0: one per physical core
  KvCacheTypes kv_types;
  std::vector<PipelineStage> stages;
};

struct SchedulerMetrics {
  uint64_t requests_total = 0;
  uint64_t requests_rejected = 0;
  uint64_t requests_cancelled = 0;  // the client went away (or the server stopped)
  uint64_t prompt_tokens_total = 0;
  uint64_t generated_tokens_total = 0;
  uint64_t steps_total = 0;
  double busy_seconds = 0.0;
  int active = 0;
  int queued = 0;
  int slots = 0;
  uint64_t kv_cells_used = 0;  // positions in blocks held by active sequences
  uint64_t kv_cells_total = 0;
  uint64_t kv_bytes_total = 0;
};

class Scheduler {
 public:
  Scheduler(const LlamaModel& model, const Tokenizer& tokenizer, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // InvalidArgument for an empty or too long prompt or bad sampling values; Unavailable when
  // the queue is full.
  Result<std::shared_ptr<RequestHandle>> Submit(GenerationRequest request);
  SchedulerMetrics Metrics() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Slot;
  struct Waiting {
    GenerationRequest request;
    std::shared_ptr<RequestHandle> handle;
    std::chrono::steady_clock::time_point arrived;
  };
  void Loop();
  void Admit();
  void Step();
  void Finish(Slot& slot, StopReason reason, Status error = Status::Ok());
  void UpdateCacheMetrics();
  // KV cache blocks a request may fill: its prompt plus max_tokens, at most the context.
  int64_t BlocksNeeded(const GenerationRequest& request) const;
  bool MaskForJson(const JsonPrefix& json, float* logits) const;  // from the scheduler thread, which alone touches the slots

  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  SchedulerOptions options_;
  ThreadPool pool_;
  PipelineRunner runner_;
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Waiting> queue_;
  SchedulerMetrics metrics_;
  bool stop_ = false;
  Batch batch_;
  std::vector<float> logits_;
  std::vector<Slot*> sampling_;
  std::vector<std::string> pieces_;  // every token's text, for the JSON constraint
  int64_t kv_blocks_promised_ = 0;   // blocks the active slots may still grow into, summed
  std::thread thread_;
};

}  // namespace riglm
