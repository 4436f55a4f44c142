// The models a server offers: named by file (or --alias), loaded at start, kept resident, and
// unloaded after a keep-alive period when asked (Ollama's keep_alive, --keep-alive); a request
// for an unloaded model loads it again if memory allows. Requests hold a model while they run,
// so unloading never pulls weights from under a running sequence.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/llama_model.h"
#include "server/scheduler.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace riglm {

struct ServedModel {
  std::string name;  // how clients name it: the file name without .gguf, or --alias
  std::string path;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ChatTemplate chat_template = ChatTemplate::ChatMl();
  bool has_own_template = false;  // false: the GGUF had none and ChatML stands in
  std::string template_source;
  std::unique_ptr<Scheduler> scheduler;
  std::chrono::system_clock::time_point loaded_at;
};

class ModelRegistry {
 public:
  using Clock = std::chrono::system_clock;
  using Loader = std::function<Result<std::unique_ptr<ServedModel>>(const std::string& name, const std::string& path)>;
  struct Entry {
    std::string name;
    std::string path;
    uint64_t file_bytes = 0;
    std::shared_ptr<ServedModel> model;  // null while not loaded
    Clock::time_point expires_at = Clock::time_point::max();  // max: resident until the server stops
    int in_flight = 0;
  };

  // `models`: (name, path) pairs; `keep_alive_s` < 0 keeps models forever.
  ModelRegistry(std::vector<std::pair<std::string, std::string>> models, Loader loader, double keep_alive_s = -1);
  // One model already loaded (tests, benchmarks).
  explicit ModelRegistry(std::unique_ptr<ServedModel> model);
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Where models not named at start come from (the Hub cache): name -> path, NotFound when
  // unknown. Such models load on their first request and are then listed like the others.
  using Resolver = std::function<Result<std::string>(const std::string& name)>;
  void SetResolver(Resolver resolver) { resolver_ = std::move(resolver); }
  // Drops a model from the list (unloading it); Unavailable while requests use it. False when
  // the server does not have it.
  Result<bool> Forget(const std::string& name);

  Status LoadAll();
  // `name` as clients send it (":latest" optional; empty: the first model), loaded if needed.
  // NotFound lists the models there are; a failed load says why (e.g. not enough memory).
  Result<std::shared_ptr<ServedModel>> Acquire(const std::string& name);
  // A request on `name` finished: keep the model `keep_alive_s` more seconds (NaN: the default;
  // < 0: forever; 0: unload as soon as no request uses it).
  void Release(const std::string& name, double keep_alive_s);
  std::vector<Entry> List() const;
  std::string Names() const;  // "a, b" for messages

 private:
  Entry* Find(const std::string& name);
  void SetExpiry(Entry& e, double keep_alive_s);
  void ReapLoop();

  std::vector<Entry> entries_;
  Loader loader_;
  Resolver resolver_;
  double default_keep_alive_s_;
  mutable std::mutex mutex_;
  std::mutex load_mutex_;  // one load at a time; held without mutex_
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread reaper_;
};

// Ollama's keep_alive: "5m", "30s", "1h", "1h30m", a number of seconds, -1 / negative forever.
// NaN when absent; InvalidArgument when malformed.
Result<double> ParseKeepAlive(const std::string& text);

}  // namespace riglm
