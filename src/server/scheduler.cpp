#include "server/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/text_stream.h"
#include "server/json_prefix.h"

namespace riglm {
namespace {

// `ids`: scratch kept by the caller, so that a step with logprobs allocates no vocabulary-sized index.
TokenLogprob LogprobOf(const float* logits, int64_t vocab, int32_t token, int top, std::vector<int32_t>& ids) {
  float max = logits[0];
  for (int64_t i = 1; i < vocab; ++i) max = std::max(max, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  const float log_total = max + static_cast<float>(std::log(sum));
  TokenLogprob out;
  out.token = token;
  out.logprob = logits[token] - log_total;
  if (top > 0) {
    ids.resize(vocab);
    for (int64_t i = 0; i < vocab; ++i) ids[i] = static_cast<int32_t>(i);
    const int64_t n = std::min<int64_t>(top, vocab);
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int64_t i = 0; i < n; ++i) out.top.push_back({ids[i], logits[ids[i]] - log_total});
  }
  return out;
}

}  // namespace

bool RequestHandle::Next(GenerationEvent* event, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

void RequestHandle::Post(GenerationEvent event) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(std::move(event));
  ready_.notify_all();
}

struct Scheduler::Slot {
  int seq = 0;
  bool active = false;
  GenerationRequest request;
  std::shared_ptr<RequestHandle> handle;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<TextStream> text;
  int64_t prompt_done = 0;   // prompt tokens already in the cache
  int64_t position = 0;      // next position to fill
  int32_t last_token = -1;   // sampled, not yet in the cache
  int64_t generated = 0;
  int64_t kv_blocks = 0;     // promised to this request at admission
  int64_t logits_row = -1;   // this step's row, or -1
  int32_t sampled = -1;      // this step's token
  TokenLogprob sampled_logprob;
  std::unique_ptr<JsonPrefix> json;  // the output so far, when only JSON may come out
  std::vector<float> masked;         // this step's logits with the tokens JSON forbids removed
  std::vector<int32_t> ranked;       // LogprobOf's scratch
  std::chrono::steady_clock::time_point arrived, started, first_token;
};

Scheduler::Scheduler(const LlamaModel& model, const Tokenizer& tokenizer, SchedulerOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      pool_(options_.threads > 0 ? options_.threads : ThreadPool::DefaultThreadCount()),
      runner_(model, pool_, options_.context, options_.parallel, options_.kv_types, options_.stages,
              options_.kv_positions) {
  for (int i = 0; i < options_.parallel; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->seq = i;
  }
  metrics_.slots = options_.parallel;
  metrics_.kv_cells_total = static_cast<uint64_t>(runner_.kv_blocks_total() * KvCache::kBlockPositions);
  metrics_.kv_bytes_total = KvCache::BytesPerPosition(model.config(), options_.kv_types) * model.config().block_count *
                            metrics_.kv_cells_total;
  pieces_.resize(model.config().vocab_size);
  for (int32_t id = 0; id < model.config().vocab_size; ++id) pieces_[id] = tokenizer.TokenToPiece(id);
  thread_ = std::thread([this] { Loop(); });
}

// -inf for every token whose text would leave `json` no longer the start of a JSON value (and
// for end-of-generation until the value is complete). False when nothing is left.
bool Scheduler::MaskForJson(const JsonPrefix& json, float* logits) const {
  bool any = false;
  for (size_t id = 0; id < pieces_.size(); ++id) {
    bool allowed;
    if (tokenizer_.vocab().IsEndOfGeneration(static_cast<int32_t>(id))) {
      allowed = json.complete();
    } else if (pieces_[id].empty()) {
      allowed = false;
    } else {
      JsonPrefix next = json;
      allowed = next.Feed(pieces_[id]);
    }
    if (!allowed) logits[id] = -std::numeric_limits<float>::infinity();
    any = any || allowed;
  }
  return any;
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Result<std::shared_ptr<RequestHandle>> Scheduler::Submit(GenerationRequest request) {
  RIGLM_RETURN_IF_ERROR(request.sampling.Validate());
  if (request.prompt.empty()) return InvalidArgument("the prompt is empty");
  if (static_cast<int64_t>(request.prompt.size()) >= options_.context) {
    return InvalidArgument("the prompt has " + std::to_string(request.prompt.size()) + " tokens, but the context holds " +
                           std::to_string(options_.context) + " per sequence");
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= model_.config().vocab_size) return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary");
  }
  const int64_t pool = runner_.kv_blocks_total() * KvCache::kBlockPositions;
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  if (std::min(options_.context, prompt + std::max<int64_t>(request.max_tokens, 1)) > pool) {
    return InvalidArgument("the prompt (" + std::to_string(prompt) + " tokens) and max_tokens need more than the " +
                           std::to_string(pool) + " positions the KV cache holds in all; lower max_tokens or raise --kv-size");
  }
  auto handle = std::make_shared<RequestHandle>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int>(queue_.size()) >= options_.max_queue) {
      ++metrics_.requests_rejected;
      return Unavailable("the server is busy: " + std::to_string(queue_.size()) + " requests are waiting");
    }
    queue_.push_back({std::move(request), handle, std::chrono::steady_clock::now()});
    ++metrics_.requests_total;
    metrics_.queued = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
  return handle;
}

SchedulerMetrics Scheduler::Metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_;
}

void Scheduler::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        if (stop_ || !queue_.empty()) return true;
        return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->active; });
      });
      if (stop_) break;
    }
    Admit();
    Step();
  }
  for (auto& slot : slots_) {
    if (slot->active) Finish(*slot, StopReason::kCancelled, Unavailable("the server is shutting down"));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (Waiting& w : queue_) {
    GenerationEvent e;
    e.done = true;
    e.error = Unavailable("the server is shutting down");
    w.handle->Post(std::move(e));
  }
}

int64_t Scheduler::BlocksNeeded(const GenerationRequest& request) const {
  // Without max_tokens a request may run to its context, or to the whole pool when that is smaller.
  const int64_t limit = std::min(options_.context, runner_.kv_blocks_total() * KvCache::kBlockPositions);
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  const int64_t generate = request.max_tokens < 0 ? limit : std::min(request.max_tokens, limit);
  return KvCache::BlocksFor(std::min(limit, prompt + generate));
}

void Scheduler::Admit() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& slot : slots_) {
    if (slot->active || queue_.empty()) continue;
    // First come, first served: the head of the queue waits until the cache can take it.
    const int64_t blocks = BlocksNeeded(queue_.front().request);
    if (kv_blocks_promised_ + blocks > runner_.kv_blocks_total()) break;
    kv_blocks_promised_ += blocks;
    slot->kv_blocks = blocks;
    Waiting w = std::move(queue_.front());
    queue_.pop_front();
    Slot& s = *slot;
    s.active = true;
    s.request = std::move(w.request);
    s.handle = std::move(w.handle);
    s.sampler = std::make_unique<Sampler>(s.request.sampling, static_cast<int32_t>(model_.config().vocab_size));
    for (int32_t t : s.request.prompt) s.sampler->Accept(t);
    s.text = std::make_unique<TextStream>(s.request.stop);
    s.json = s.request.json_only ? std::make_unique<JsonPrefix>(s.request.json_schema) : nullptr;
    s.prompt_done = 0;
    s.position = 0;
    s.last_token = -1;
    s.generated = 0;
    s.arrived = w.arrived;
    s.started = std::chrono::steady_clock::now();
    ++metrics_.active;
  }
  metrics_.queued = static_cast<int>(queue_.size());
}

void Scheduler::Finish(Slot& s, StopReason reason, Status error) {
  GenerationEvent e;
  e.text = error.ok() ? s.text->Flush() : "";
  e.done = true;
  e.stop_reason = reason;
  e.prompt_tokens = static_cast<int64_t>(s.request.prompt.size());
  e.completion_tokens = s.generated;
  const auto now = std::chrono::steady_clock::now();
  e.queue_seconds = std::chrono::duration<double>(s.started - s.arrived).count();
  const auto first = s.generated > 0 ? s.first_token : now;
  e.prompt_seconds = std::chrono::duration<double>(first - s.started).count();
  e.generate_seconds = std::chrono::duration<double>(now - first).count();
  e.error = std::move(error);
  // The cache is back in the pool before the client hears of the end, so /metrics agrees.
  runner_.Release(s.seq);
  kv_blocks_promised_ -= s.kv_blocks;
  s.kv_blocks = 0;
  s.active = false;
  UpdateCacheMetrics();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --metrics_.active;
    if (reason == StopReason::kCancelled) ++metrics_.requests_cancelled;
  }
  s.handle->Post(std::move(e));
  s.handle.reset();
}

void Scheduler::Step() {
  const auto step_start = std::chrono::steady_clock::now();
  batch_.Clear();
  int64_t budget = options_.batch_tokens;
  // Decoding sequences first (one token each), then prompt chunks with what is left.
  for (auto& slot : slots_) {
    Slot& s = *slot;
    s.logits_row = -1;
    if (!s.active) continue;
    if (s.handle->cancelled()) {
      Finish(s, StopReason::kCancelled);
      continue;
    }
    if (s.last_token >= 0) {
      batch_.Add(s.last_token, static_cast<int32_t>(s.position++), s.seq, true);
      --budget;
    }
  }
  uint64_t prompt_tokens = 0;
  for (auto& slot : slots_) {
    Slot& s = *slot;
    if (!s.active || s.last_token >= 0 || budget <= 0) continue;
    const int64_t total = static_cast<int64_t>(s.request.prompt.size());
    const int64_t take = std::min(budget, total - s.prompt_done);
    for (int64_t i = 0; i < take; ++i) {
      const int64_t at = s.prompt_done + i;
      batch_.Add(s.request.prompt[at], static_cast<int32_t>(at), s.seq, at == total - 1);
    }
    s.prompt_done += take;
    s.position = s.prompt_done;
    budget -= take;
    prompt_tokens += static_cast<uint64_t>(take);
  }
  if (batch_.size() == 0) {
    UpdateCacheMetrics();
    return;
  }
  // Rows of logits come in batch order of the tokens that asked for them.
  int64_t row = 0;
  for (int64_t i = 0; i < batch_.size(); ++i) {
    if (!batch_.want_logits[i]) continue;
    slots_[batch_.seq_ids[i]]->logits_row = row++;
  }
  const Status ran = runner_.Run(batch_, &logits_);
  uint64_t generated = 0;
  const int64_t vocab = model_.config().vocab_size;
  // Sampling is independent per sequence: spread it over the pool's threads.
  sampling_.clear();
  for (auto& slot : slots_) {
    if (slot->active && slot->logits_row >= 0 && ran.ok()) sampling_.push_back(slot.get());
  }
  pool_.ParallelFor(static_cast<int64_t>(sampling_.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      Slot& s = *sampling_[i];
      const float* row = logits_.data() + s.logits_row * vocab;
      if (s.json) {
        s.masked.assign(row, row + vocab);
        if (!MaskForJson(*s.json, s.masked.data())) {
          s.sampled = -1;
          continue;
        }
        row = s.masked.data();
      }
      s.sampled = s.sampler->Sample(row);
      if (s.request.logprobs >= 0) s.sampled_logprob = LogprobOf(row, vocab, s.sampled, s.request.logprobs, s.ranked);
    }
  });
  for (auto& slot : slots_) {
    Slot& s = *slot;
    if (!s.active || s.logits_row < 0) continue;
    if (!ran.ok()) {
      Finish(s, StopReason::kCancelled, ran);
      continue;
    }
    const int32_t token = s.sampled;
    if (token < 0) {  // the JSON constraint left nothing to choose
      Finish(s, StopReason::kEndOfGeneration);
      continue;
    }
    s.sampler->Accept(token);
    if (s.generated == 0) s.first_token = std::chrono::steady_clock::now();
    ++s.generated;
    ++generated;
    if (tokenizer_.vocab().IsEndOfGeneration(token)) {
      Finish(s, StopReason::kEndOfGeneration);
      continue;
    }
    GenerationEvent e;
    e.text = s.text->Push(tokenizer_.TokenToPiece(token));
    if (s.request.logprobs >= 0) e.logprobs.push_back(std::move(s.sampled_logprob));
    if (!e.text.empty() || !e.logprobs.empty()) s.handle->Post(std::move(e));
    if (s.json) s.json->Feed(pieces_[token]);
    if (s.json && s.json->complete()) {
      Finish(s, StopReason::kEndOfGeneration);
    } else if (s.text->stopped()) {
      Finish(s, StopReason::kStopString);
    } else if (s.request.max_tokens >= 0 && s.generated >= s.request.max_tokens) {
      Finish(s, StopReason::kMaxTokens);
    } else if (s.position >= options_.context || s.position >= s.kv_blocks * KvCache::kBlockPositions) {
      Finish(s, StopReason::kContextFull);  // its context, or all the cache it was promised
    } else {
      s.last_token = token;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++metrics_.steps_total;
    metrics_.prompt_tokens_total += prompt_tokens;
    metrics_.generated_tokens_total += generated;
    metrics_.busy_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
  }
  UpdateCacheMetrics();
}

void Scheduler::UpdateCacheMetrics() {
  const uint64_t cells = static_cast<uint64_t>(runner_.kv_blocks_used() * KvCache::kBlockPositions);
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.kv_cells_used = cells;
}

}  // namespace riglm
