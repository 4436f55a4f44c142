#include "server/responses.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "util/strings.h"

namespace riglm {

using json = nlohmann::ordered_json;

namespace {

int64_t Nanoseconds(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

std::string NextId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%llx%06llx", prefix,
                static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count() & 0xffffffffff),
                static_cast<unsigned long long>(++counter));
  return buf;
}

bool IsOllama(ApiKind k) { return k == ApiKind::kOllamaGenerate || k == ApiKind::kOllamaChat; }
bool IsChat(ApiKind k) { return k == ApiKind::kOpenAiChat || k == ApiKind::kOllamaChat; }

json Details(const ServedModel& m) {
  char params[32];
  const double p = static_cast<double>(m.model->parameter_count());
  if (p >= 1e9) {
    std::snprintf(params, sizeof params, "%.1fB", p / 1e9);
  } else {
    std::snprintf(params, sizeof params, "%.1fM", p / 1e6);
  }
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", m.model->config().architecture_name},
          {"families", json::array({m.model->config().architecture_name})},
          {"parameter_size", params},
          {"quantization_level", std::string(DTypeName(m.model->main_weight_type()))}};
}

}  // namespace

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
  return buf;
}

std::string OllamaName(const std::string& name) { return name.find(':') == std::string::npos ? name + ":latest" : name; }


std::string ToJsonText(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<std::vector<int32_t>> BuildPrompt(const ServedModel& m, const ApiRequest& r) {
  const Vocab& vocab = m.tokenizer->vocab();
  EncodeOptions encode;
  encode.parse_special = true;
  std::string text;
  bool templated = false;
  if (IsChat(r.kind) || (r.kind == ApiKind::kOllamaGenerate && !r.raw && m.has_own_template)) {
    ChatTemplateInputs inputs;
    if (IsChat(r.kind)) {
      inputs.messages = r.messages;
    } else {
      if (!r.system.empty()) inputs.messages.push_back({{"role", "system"}, {"content", r.system}});
      inputs.messages.push_back({{"role", "user"}, {"content", r.prompt}});
    }
    inputs.bos_token = vocab.bos_id >= 0 ? m.tokenizer->TokenToPiece(vocab.bos_id, true) : "";
    inputs.eos_token = vocab.eos_id >= 0 ? m.tokenizer->TokenToPiece(vocab.eos_id, true) : "";
    RIGLM_ASSIGN_OR_RETURN(text, m.chat_template.Apply(inputs));
    templated = true;
    // Templates that write the BOS themselves must not get a second one.
    encode.add_bos = vocab.add_bos && (inputs.bos_token.empty() || !StartsWith(text, inputs.bos_token));
  } else {
    text = r.prompt;
    encode.add_bos = vocab.add_bos;
    encode.parse_special = false;
  }
  std::vector<int32_t> tokens = m.tokenizer->Encode(text, encode);
  if (tokens.empty()) {
    if (vocab.bos_id < 0) return InvalidArgument(templated ? "the chat template produced an empty prompt" : "the prompt is empty");
    tokens.push_back(vocab.bos_id);
  }
  return tokens;
}

ResponseStream::ResponseStream(std::shared_ptr<ServedModel> model, const ApiRequest& request,
                               std::shared_ptr<RequestHandle> handle, std::function<void()> on_finish)
    : model_(std::move(model)),
      on_finish_(std::move(on_finish)),
      kind_(request.kind),
      include_usage_(request.include_usage),
      want_logprobs_(request.generation.logprobs >= 0),
      handle_(std::move(handle)),
      id_(NextId(IsChat(request.kind) ? "chatcmpl" : "cmpl")),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()) {}

ResponseStream::~ResponseStream() {
  if (!finished_) handle_->Cancel();
  if (on_finish_) on_finish_();
}

std::string ResponseStream::Frame(const json& j) const {
  return IsOllama(kind_) ? ToJsonText(j) + "\n" : "data: " + ToJsonText(j) + "\n\n";
}

json ResponseStream::Piece(const std::string& text) const {
  const std::string now = Rfc3339(std::chrono::system_clock::now());
  switch (kind_) {
    case ApiKind::kOllamaGenerate:
      return {{"model", model_->name}, {"created_at", now}, {"response", text}, {"done", false}};
    case ApiKind::kOllamaChat:
      return {{"model", model_->name}, {"created_at", now}, {"message", {{"role", "assistant"}, {"content", text}}}, {"done", false}};
    case ApiKind::kOpenAiChat:
      return {{"id", id_}, {"object", "chat.completion.chunk"}, {"created", created_}, {"model", model_->name},
              {"choices", json::array({{{"index", 0}, {"delta", {{"content", text}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}})}};
    case ApiKind::kOpenAiCompletion:
      break;
  }
  return {{"id", id_}, {"object", "text_completion"}, {"created", created_}, {"model", model_->name},
          {"choices", json::array({{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}}})}};
}

json ResponseStream::Usage(const GenerationEvent& end) const {
  return {{"prompt_tokens", end.prompt_tokens}, {"completion_tokens", end.completion_tokens},
          {"total_tokens", end.prompt_tokens + end.completion_tokens}};
}

// The last streamed object: the finish reason (OpenAI) or the timings (Ollama).
json ResponseStream::Final(const GenerationEvent& end) const {
  const std::string reason(StopReasonName(end.stop_reason));
  if (IsOllama(kind_)) {
    json j = Piece("");
    j["done"] = true;
    j["done_reason"] = reason;
    j["total_duration"] = Nanoseconds(end.queue_seconds + end.prompt_seconds + end.generate_seconds);
    j["load_duration"] = 0;
    j["prompt_eval_count"] = end.prompt_tokens;
    j["prompt_eval_duration"] = Nanoseconds(end.prompt_seconds);
    j["eval_count"] = end.completion_tokens;
    j["eval_duration"] = Nanoseconds(end.generate_seconds);
    return j;
  }
  json j = Piece("");
  if (kind_ == ApiKind::kOpenAiChat) j["choices"][0]["delta"] = json::object();
  j["choices"][0]["finish_reason"] = reason;
  return j;
}

bool ResponseStream::NextChunk(std::string* out) {
  out->clear();
  if (kind_ == ApiKind::kOpenAiChat && !sent_role_) {
    json first = Piece("");
    first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
    *out += Frame(first);
    sent_role_ = true;
  }
  GenerationEvent e;
  if (!handle_->Next(&e, std::chrono::milliseconds(100))) return false;
  if (!e.error.ok()) {
    const ApiError error{500, e.error.message(), "", ""};
    *out += Frame(IsOllama(kind_) ? OllamaErrorBody(error) : OpenAiErrorBody(error));
    finished_ = true;
    return true;
  }
  if (!e.text.empty() || (want_logprobs_ && !e.logprobs.empty())) {
    json piece = Piece(e.text);
    if (want_logprobs_) AttachLogprobs(e.logprobs, &piece);
    *out += Frame(piece);
  }
  if (!e.done) return false;
  *out += Frame(Final(e));
  if (!IsOllama(kind_)) {
    if (include_usage_) {
      json usage = Piece("");
      usage["choices"] = json::array();
      usage["usage"] = Usage(e);
      *out += Frame(usage);
    }
    *out += "data: [DONE]\n\n";
  }
  finished_ = true;
  return true;
}

std::pair<int, json> ResponseStream::Collect(const std::function<bool()>& client_gone) {
  std::string text;
  std::vector<TokenLogprob> logprobs;
  GenerationEvent e;
  while (true) {
    if (client_gone && !handle_->cancelled() && client_gone()) handle_->Cancel();  // ends with a final event
    if (!handle_->Next(&e, std::chrono::milliseconds(100))) continue;
    text += e.text;
    logprobs.insert(logprobs.end(), e.logprobs.begin(), e.logprobs.end());
    if (e.done) break;
  }
  finished_ = true;
  if (!e.error.ok()) {
    const ApiError error{500, e.error.message(), "", ""};
    return {500, IsOllama(kind_) ? OllamaErrorBody(error) : OpenAiErrorBody(error)};
  }
  const std::string reason(StopReasonName(e.stop_reason));
  switch (kind_) {  // NOLINT: the OpenAI kinds fall through to below
    case ApiKind::kOllamaGenerate:
    case ApiKind::kOllamaChat: {
      json j = Final(e);
      if (kind_ == ApiKind::kOllamaChat) {
        j["message"]["content"] = text;
      } else {
        j["response"] = text;
      }
      if (want_logprobs_) AttachLogprobs(logprobs, &j);
      return {200, j};
    }
    case ApiKind::kOpenAiChat:
    case ApiKind::kOpenAiCompletion:
      break;
  }
  json body;
  if (kind_ == ApiKind::kOpenAiChat) {
    body = {{"id", id_}, {"object", "chat.completion"}, {"created", created_}, {"model", model_->name},
            {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}},
                                      {"logprobs", nullptr}, {"finish_reason", reason}}})},
            {"usage", Usage(e)}};
  } else {
    body = {{"id", id_}, {"object", "text_completion"}, {"created", created_}, {"model", model_->name},
            {"choices", json::array({{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", reason}}})},
            {"usage", Usage(e)}};
  }
  if (want_logprobs_) AttachLogprobs(logprobs, &body);
  return {200, body};
}

void ResponseStream::AttachLogprobs(const std::vector<TokenLogprob>& tokens, json* j) {
  auto piece = [&](int32_t id) { return model_->tokenizer->TokenToPiece(id); };
  auto bytes = [](const std::string& s) {
    json b = json::array();
    for (unsigned char ch : s) b.push_back(static_cast<int>(ch));
    return b;
  };
  if (kind_ != ApiKind::kOpenAiCompletion) {
    // Chat completions and Ollama: one entry per token, with its alternatives.
    json entries = json::array();
    for (const TokenLogprob& t : tokens) {
      json top = json::array();
      for (const auto& [id, lp] : t.top) top.push_back({{"token", piece(id)}, {"logprob", lp}, {"bytes", bytes(piece(id))}});
      entries.push_back({{"token", piece(t.token)}, {"logprob", t.logprob}, {"bytes", bytes(piece(t.token))}, {"top_logprobs", top}});
    }
    if (IsOllama(kind_)) {
      (*j)["logprobs"] = std::move(entries);
    } else {
      (*j)["choices"][0]["logprobs"] = {{"content", std::move(entries)}};
    }
    return;
  }
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const TokenLogprob& t : tokens) {
    const std::string p = piece(t.token);
    out["tokens"].push_back(p);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const auto& [id, lp] : t.top) top[piece(id)] = lp;
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(text_offset_);
    text_offset_ += p.size();
  }
  (*j)["choices"][0]["logprobs"] = std::move(out);
}

json ModelsListBody(const std::vector<ModelRegistry::Entry>& models) {
  json data = json::array();
  for (const auto& e : models) {
    const auto loaded = e.model ? e.model->loaded_at : std::chrono::system_clock::now();
    data.push_back({{"id", e.name}, {"object", "model"},
                    {"created", std::chrono::duration_cast<std::chrono::seconds>(loaded.time_since_epoch()).count()},
                    {"owned_by", "riglm"}});
  }
  return {{"object", "list"}, {"data", data}};
}

json OllamaTagsBody(const std::vector<ModelRegistry::Entry>& models) {
  json list = json::array();
  for (const auto& e : models) {
    json m = {{"name", OllamaName(e.name)}, {"model", OllamaName(e.name)},
              {"modified_at", Rfc3339(e.model ? e.model->loaded_at : std::chrono::system_clock::now())},
              {"size", e.file_bytes}, {"digest", ""}};
    m["details"] = e.model ? Details(*e.model) : json{{"format", "gguf"}};
    list.push_back(m);
  }
  return {{"models", list}};
}

json OllamaPsBody(const std::vector<ModelRegistry::Entry>& models) {
  json list = json::array();
  for (const auto& e : models) {
    if (!e.model) continue;
    const bool forever = e.expires_at == ModelRegistry::Clock::time_point::max();
    list.push_back({{"name", OllamaName(e.name)}, {"model", OllamaName(e.name)}, {"size", e.file_bytes}, {"digest", ""},
                    {"details", Details(*e.model)},
                    {"expires_at", forever ? std::string("0001-01-01T00:00:00Z") : Rfc3339(e.expires_at)},
                    {"size_vram", 0}});
  }
  return {{"models", list}};
}

json OllamaShowBody(const ServedModel& m) {
  const ModelConfig& c = m.model->config();
  const std::string arch = c.architecture_name;
  return {{"modelfile", "FROM " + m.path + "\n"},
          {"parameters", ""},
          {"template", m.has_own_template ? m.template_source : ""},
          {"details", Details(m)},
          {"model_info",
           {{"general.architecture", arch},
            {"general.parameter_count", m.model->parameter_count()},
            {arch + ".block_count", c.block_count},
            {arch + ".context_length", c.context_length},
            {arch + ".embedding_length", c.embedding_length},
            {arch + ".attention.head_count", c.head_count},
            {arch + ".attention.head_count_kv", c.head_count_kv}}},
          {"capabilities", json::array({"completion"})}};
}

std::string MetricsText(const std::vector<ModelRegistry::Entry>& models, uint64_t http_requests, uint64_t http_errors) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "# HELP riglm_http_requests_total HTTP requests answered\n# TYPE riglm_http_requests_total counter\n"
                "riglm_http_requests_total %llu\n"
                "# HELP riglm_http_errors_total HTTP requests answered with 4xx or 5xx\n"
                "# TYPE riglm_http_errors_total counter\nriglm_http_errors_total %llu\n",
                static_cast<unsigned long long>(http_requests), static_cast<unsigned long long>(http_errors));
  out += line;
  std::snprintf(line, sizeof line, "# HELP riglm_model_loaded 1 while the model is in memory\n# TYPE riglm_model_loaded gauge\n");
  out += line;
  for (const auto& e : models) {
    std::snprintf(line, sizeof line, "riglm_model_loaded{model=\"%s\"} %d\n", e.name.c_str(), e.model ? 1 : 0);
    out += line;
  }
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const SchedulerMetrics&);
  };
  static const Metric kMetrics[] = {
      {"riglm_requests_total", "counter", "generation requests accepted", [](const SchedulerMetrics& s) { return double(s.requests_total); }},
      {"riglm_requests_rejected_total", "counter", "generation requests refused because the queue was full",
       [](const SchedulerMetrics& s) { return double(s.requests_rejected); }},
      {"riglm_requests_cancelled_total", "counter", "generation requests cancelled because the client went away",
       [](const SchedulerMetrics& s) { return double(s.requests_cancelled); }},
      {"riglm_prompt_tokens_total", "counter", "prompt tokens processed", [](const SchedulerMetrics& s) { return double(s.prompt_tokens_total); }},
      {"riglm_generated_tokens_total", "counter", "tokens generated", [](const SchedulerMetrics& s) { return double(s.generated_tokens_total); }},
      {"riglm_generation_tokens_per_second", "gauge", "tokens generated per second of engine time",
       [](const SchedulerMetrics& s) { return s.busy_seconds > 0 ? double(s.generated_tokens_total) / s.busy_seconds : 0.0; }},
      {"riglm_active_sequences", "gauge", "sequences being generated", [](const SchedulerMetrics& s) { return double(s.active); }},
      {"riglm_queue_depth", "gauge", "requests waiting for a sequence slot or KV cache room", [](const SchedulerMetrics& s) { return double(s.queued); }},
      {"riglm_sequence_slots", "gauge", "sequence slots (--parallel)", [](const SchedulerMetrics& s) { return double(s.slots); }},
      {"riglm_kv_cache_cells_used", "gauge", "KV cache positions in the blocks active sequences hold",
       [](const SchedulerMetrics& s) { return double(s.kv_cells_used); }},
      {"riglm_kv_cache_cells_total", "gauge", "KV cache positions in the block pool the slots share", [](const SchedulerMetrics& s) { return double(s.kv_cells_total); }},
      {"riglm_kv_cache_usage_ratio", "gauge", "share of the KV cache in use",
       [](const SchedulerMetrics& s) { return s.kv_cells_total ? double(s.kv_cells_used) / double(s.kv_cells_total) : 0.0; }},
  };
  std::vector<std::pair<std::string, SchedulerMetrics>> loaded;
  for (const auto& e : models) {
    if (e.model) loaded.push_back({e.name, e.model->scheduler->Metrics()});
  }
  for (const Metric& m : kMetrics) {
    std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.type);
    out += line;
    for (const auto& [name, s] : loaded) {
      std::snprintf(line, sizeof line, "%s{model=\"%s\"} %.17g\n", m.name, name.c_str(), m.value(s));
      out += line;
    }
  }
  out += "# HELP riglm_device_memory_bytes memory each device holds for the model\n# TYPE riglm_device_memory_bytes gauge\n";
  for (const auto& e : models) {
    if (!e.model) continue;
    std::snprintf(line, sizeof line,
                  "riglm_device_memory_bytes{model=\"%s\",device=\"cpu\",use=\"weights\"} %llu\n"
                  "riglm_device_memory_bytes{model=\"%s\",device=\"cpu\",use=\"kv_cache\"} %llu\n",
                  e.name.c_str(), static_cast<unsigned long long>(e.model->model->weight_bytes()), e.name.c_str(),
                  static_cast<unsigned long long>(e.model->scheduler->Metrics().kv_bytes_total));
    out += line;
  }
  return out;
}

}  // namespace riglm
