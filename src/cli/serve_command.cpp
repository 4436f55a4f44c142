// riglm serve: the model stays resident and answers the OpenAI and Ollama APIs.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "device/device.h"
#include "server/http_server.h"
#include "util/strings.h"

namespace riglm::cli {
namespace {

struct ServeFlags {
  std::vector<std::string> model_paths;
  std::vector<std::string> aliases;
  ServerOptions server;
  int parallel = 4;
  int64_t context = 0;
  int64_t kv_size = 0;  // 0: parallel x context
  int threads = 0;
  int max_queue = 64;
  std::string keep_alive = "-1";
  KvCacheFlags kv_cache;
  LoadFlags load;
};

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

std::string NameFromPath(const std::string& path) {
  if (LooksLikeModelRef(path)) {
    if (Result<ModelRef> ref = ParseModelRef(path); ref.ok()) return ref->ToString();
  }
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) name.resize(name.size() - 5);
  return name;
}

uint64_t AvailableHostBytes() {
  const DeviceInfo cpu = CpuDevice();
  return cpu.usable_bytes();
}

// Loads one model with its tokenizer, chat template and scheduler, after checking that its KV
// cache (and repacked weights) fit the memory the host has left.
Result<std::unique_ptr<ServedModel>> LoadServed(const ServeFlags& flags, const std::string& name, const std::string& path) {
  if (DevicesAreGpus(flags.load.devices)) {
    return Unsupported("riglm serve runs on the CPU so far (run and bench take GPUs); leave --devices out or name cpu devices");
  }
  RIGLM_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(path, flags.load));
  auto served = std::make_unique<ServedModel>();
  served->name = name;
  served->path = path;
  served->model = std::move(loaded.model);
  served->tokenizer = std::move(loaded.tokenizer);
  bool fallback = true;
  auto chat_template = ChatTemplate::FromGguf(served->model->gguf(), &fallback);
  if (chat_template.ok()) {
    served->chat_template = std::move(*chat_template);
    served->has_own_template = !fallback;
    served->template_source = served->chat_template.source();
  }
  const int64_t ctx = ChooseContext(flags.context, served->model->config());
  RIGLM_ASSIGN_OR_RETURN(KvCacheTypes kv_types, ResolveKvCacheTypes(flags.kv_cache, served->model->config()));
  const int64_t kv_positions = flags.kv_size > 0 ? flags.kv_size : ctx * flags.parallel;
  const uint64_t kv_bytes = KvCache::BytesPerPosition(served->model->config(), kv_types) *
                            static_cast<uint64_t>(served->model->config().block_count) * kv_positions;
  const uint64_t available = AvailableHostBytes();
  if (kv_bytes > available) {
    return OutOfMemory("'" + name + "' needs " + FormatBytes(kv_bytes) + " of KV cache (" +
                       std::to_string(kv_positions) + " positions) and " + FormatBytes(available) +
                       " of memory is free; use a smaller --kv-size, --ctx or --parallel, or unload another model");
  }
  RIGLM_ASSIGN_OR_RETURN(std::vector<PipelineStage> stages, PlanStages(*served->model, flags.load, kv_positions, kv_types));
  SchedulerOptions options;
  options.parallel = flags.parallel;
  options.context = ctx;
  options.kv_positions = kv_positions;
  options.threads = ThreadCount(flags.threads);
  options.max_queue = flags.max_queue;
  options.kv_types = kv_types;
  options.stages = std::move(stages);
  served->scheduler = std::make_unique<Scheduler>(*served->model, *served->tokenizer, options);
  std::fprintf(stderr, "riglm: loaded '%s' (%d parallel sequences of up to %lld tokens, KV cache of %lld positions)\n",
               name.c_str(), flags.parallel, static_cast<long long>(ctx), static_cast<long long>(kv_positions));
  return served;
}

int RunServe(ServeFlags flags) {
  if (flags.parallel < 1 || flags.parallel > 256) return ReportError(InvalidArgument("--parallel must be 1 to 256"));
  if (flags.kv_size < 0) return ReportError(InvalidArgument("--kv-size must be 0 (parallel x ctx) or more"));
  if (!flags.aliases.empty() && flags.aliases.size() != flags.model_paths.size()) {
    return ReportError(InvalidArgument("give one --alias per --model, or none"));
  }
  if (flags.server.api_key.empty()) {
    if (const char* key = std::getenv("RIGLM_API_KEY")) flags.server.api_key = key;
  }
  auto keep_alive = ParseKeepAlive(flags.keep_alive);
  if (!keep_alive.ok()) return ReportError(keep_alive.status());
  std::vector<std::pair<std::string, std::string>> models;
  for (size_t i = 0; i < flags.model_paths.size(); ++i) {
    const std::string name = flags.aliases.empty() ? NameFromPath(flags.model_paths[i]) : flags.aliases[i];
    for (const auto& [other, path] : models) {
      if (other == name) return ReportError(InvalidArgument("two models are named '" + name + "'; give --alias for each"));
    }
    models.push_back({name, flags.model_paths[i]});
  }
  ModelRegistry registry(
      models, [&flags](const std::string& name, const std::string& path) { return LoadServed(flags, name, path); },
      std::isnan(*keep_alive) ? -1.0 : *keep_alive);
  if (Status s = registry.LoadAll(); !s.ok()) return ReportError(s);
  flags.server.max_tokens_limit = std::max<int64_t>(flags.context, 1);
  if (flags.context <= 0) flags.server.max_tokens_limit = 1 << 20;  // each model's own context bounds it
  auto hub = std::make_shared<HubOptions>(HubOptions::FromEnvironment());
  hub->offline = hub->offline || flags.load.offline;
  flags.server.hub = hub;
  // Every waiting or generating request holds an HTTP thread, so the pool covers every sequence and
  // queue slot: a request beyond them reaches a full queue and gets 503 instead of waiting unseen.
  if (flags.server.http_threads <= 0) {
    const int64_t per_model = int64_t{flags.parallel} + std::max(flags.max_queue, 0);
    flags.server.http_threads = static_cast<int>(std::min<int64_t>(per_model * static_cast<int64_t>(models.size()) + 8, 1024));
  }
  HttpServer server(registry, flags.server);
  if (Status s = server.Start(); !s.ok()) return ReportError(s);
  std::fprintf(stderr, "riglm: serving %s on http://%s:%d%s\n", registry.Names().c_str(), flags.server.host.c_str(),
               server.port(), flags.server.api_key.empty() ? "" : " (API key required)");
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  while (!g_stop.load() && server.Listening()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!g_stop.load()) {
    server.Stop();
    return ReportError(IoError("the server stopped accepting connections"));
  }
  std::fprintf(stderr, "riglm: stopping\n");
  server.Stop();
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over the OpenAI and Ollama HTTP APIs");
  cmd->footer(
      "Endpoints: POST /v1/completions, /v1/chat/completions, GET /v1/models (OpenAI);\n"
      "POST /api/generate, /api/chat, /api/show, /api/pull, DELETE /api/delete, GET /api/tags, /api/ps,\n"
      "/api/version (Ollama); GET /health, /metrics (Prometheus). The API key may also come from RIGLM_API_KEY.\n"
      "Models in the Hugging Face cache (riglm list) are listed by /api/tags and load on their first request;\n"
      "/api/pull adds one (HF_ENDPOINT, HF_TOKEN and HF_HUB_CACHE as for riglm pull).");
  cmd->add_option("-m,--model", flags->model_paths, std::string(kModelHelp) + " (repeatable)")->required();
  cmd->add_option("--alias", flags->aliases, "the name clients use, one per --model (default: the file name)");
  cmd->add_option("--keep-alive", flags->keep_alive,
                  "unload a model this long after its last request (5m, 1h, 0; -1: never). Requests may set keep_alive")
      ->capture_default_str();
  cmd->add_option("--host", flags->server.host, "address to listen on (0.0.0.0: the whole network)")->capture_default_str();
  cmd->add_option("--port", flags->server.port, "port (11434 is where Ollama clients look)")->capture_default_str();
  cmd->add_option("--api-key", flags->server.api_key, "require Authorization: Bearer <key>");
  cmd->add_option("--cors", flags->server.cors_origin, "allow browsers from this origin (e.g. *)");
  cmd->add_option("--parallel", flags->parallel, "(-np) sequences generated at once")->capture_default_str();
  cmd->add_option("-c,--ctx", flags->context, "context per sequence (0: the model's, at most 4096)")->capture_default_str();
  cmd->add_option("--kv-size", flags->kv_size,
                  "KV cache positions shared by all sequences, handed out in blocks of 32 as they grow "
                  "(0: parallel x ctx, so every sequence can fill its context)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", flags->threads, "CPU threads (0: one per physical core)")->capture_default_str();
  cmd->add_option("--queue", flags->max_queue, "requests that may wait for a free sequence; more get 503")
      ->capture_default_str();
  AddKvCacheOptions(cmd, &flags->kv_cache);
  AddLoadOptions(cmd, &flags->load);
  cmd->callback([flags, &exit_code] { exit_code = RunServe(*flags); });
}

}  // namespace riglm::cli
