// `riglm serve`: the OpenAI- and Ollama-compatible HTTP API over cpp-httplib, with a bounded
// worker pool. Generation runs in the model's scheduler; HTTP threads only parse, wait for
// events and write them (server-sent events for OpenAI, NDJSON for Ollama). A client that goes
// away cancels its sequence.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "model/llama_model.h"
#include "server/scheduler.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace riglm {

struct ServedModel {
  std::string name;  // how clients name it: the file name without .gguf
  std::string path;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ChatTemplate chat_template = ChatTemplate::ChatMl();
  bool has_own_template = false;  // false: the GGUF had none and ChatML stands in
  std::string template_source;
  std::unique_ptr<Scheduler> scheduler;
  std::chrono::system_clock::time_point loaded_at;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 11434;                  // 0: any free port (tests)
  std::string api_key;               // empty: no authentication
  std::string cors_origin;           // empty: no CORS headers
  size_t max_body_bytes = 8u << 20;  // larger bodies get 413
  int http_threads = 0;              // 0: 2 x parallel + 8
  int read_timeout_s = 30;           // slow or half-open clients
};

class HttpServer {
 public:
  HttpServer(ServedModel& model, ServerOptions options);
  ~HttpServer();
  // Binds and serves on a background thread; returns once listening (or the bind error).
  Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace riglm
