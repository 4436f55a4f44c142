// `riglm serve`: the OpenAI- and Ollama-compatible HTTP API over cpp-httplib, with a bounded
// worker pool. Generation runs in the model's scheduler; HTTP threads only parse, wait for
// events and write them (server-sent events for OpenAI, NDJSON for Ollama). A client that goes
// away cancels its sequence.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "hub/hub_client.h"
#include "server/model_registry.h"

namespace riglm {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 11434;                  // 0: any free port (tests)
  std::string api_key;               // empty: no authentication
  std::string cors_origin;           // empty: no CORS headers
  size_t max_body_bytes = 8u << 20;  // larger bodies get 413
  int http_threads = 0;              // 0: 16 (serve sizes it to its sequences and queue)
  int read_timeout_s = 30;           // slow or half-open clients
  int64_t max_tokens_limit = 4096;   // bounds max_tokens / num_predict (the context per sequence)
  std::shared_ptr<const HubOptions> hub;  // /api/pull, /api/delete and cached models in /api/tags; null: none
};

class HttpServer {
 public:
  HttpServer(ModelRegistry& models, ServerOptions options);
  ~HttpServer();
  // Binds and serves on a background thread; returns once listening (or the bind error).
  Status Start();
  void Stop();
  // False once the accept loop has ended: after Stop, or if accepting failed for good.
  bool Listening() const;
  int port() const { return port_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace riglm
