// Bodies the server sends: prompts built from requests (chat templates), streamed and whole
// responses in each API's shape, model listings, and Prometheus metrics.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/http_server.h"

namespace riglm {

// JSON text; invalid UTF-8 from a model (a byte token on its own) becomes U+FFFD rather than
// an exception.
std::string ToJsonText(const nlohmann::ordered_json& j);

// The prompt's tokens: chat messages through the model's template; Ollama's generate through it
// too unless raw or the model has no template of its own; completions as given.
Result<std::vector<int32_t>> BuildPrompt(const ServedModel& model, const ApiRequest& request);

// Turns a request's events into the body its API expects.
class ResponseStream {
 public:
  // Holds the model while the response lasts; `on_finish` runs when the stream is destroyed.
  ResponseStream(std::shared_ptr<ServedModel> model, const ApiRequest& request, std::shared_ptr<RequestHandle> handle,
                 std::function<void()> on_finish);
  ~ResponseStream();
  // The next piece of a streamed body (possibly empty when nothing arrived yet); true after the
  // last piece.
  bool NextChunk(std::string* out);
  // Waits for the end and returns the HTTP status and the whole body.
  // `client_gone`, polled while waiting, cancels the request when it says the client left.
  std::pair<int, nlohmann::ordered_json> Collect(const std::function<bool()>& client_gone = nullptr);
  void Cancel() { handle_->Cancel(); }

 private:
  std::string Frame(const nlohmann::ordered_json& j) const;  // SSE "data: ..." or an NDJSON line
  nlohmann::ordered_json Piece(const std::string& text) const;
  nlohmann::ordered_json Final(const GenerationEvent& end) const;
  nlohmann::ordered_json Usage(const GenerationEvent& end) const;
  // These tokens' log-probabilities into a chunk or body: OpenAI's completion or chat shape in
  // choices[0].logprobs, or Ollama's "logprobs" list.
  void AttachLogprobs(const std::vector<TokenLogprob>& tokens, nlohmann::ordered_json* j);

  std::shared_ptr<ServedModel> model_;
  std::function<void()> on_finish_;
  ApiKind kind_;
  bool include_usage_;
  bool want_logprobs_;
  uint64_t text_offset_ = 0;  // characters of token pieces reported so far
  std::shared_ptr<RequestHandle> handle_;
  std::string id_;
  int64_t created_;
  bool sent_role_ = false;
  bool finished_ = false;
};

// RFC 3339 with nanoseconds, as Ollama writes created_at.
std::string Rfc3339(std::chrono::system_clock::time_point t);
// Ollama's model names carry a tag: "name:latest" unless the name has one ("owner/repo:Q4_K_M").
std::string OllamaName(const std::string& name);

nlohmann::ordered_json ModelsListBody(const std::vector<ModelRegistry::Entry>& models);
nlohmann::ordered_json OllamaTagsBody(const std::vector<ModelRegistry::Entry>& models);
nlohmann::ordered_json OllamaPsBody(const std::vector<ModelRegistry::Entry>& models);
nlohmann::ordered_json OllamaShowBody(const ServedModel& model);
std::string MetricsText(const std::vector<ModelRegistry::Entry>& models, uint64_t http_requests, uint64_t http_errors);

}  // namespace riglm
