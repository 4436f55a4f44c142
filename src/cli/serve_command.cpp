// riglm serve: the model stays resident and answers the OpenAI and Ollama APIs.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "server/http_server.h"

namespace riglm::cli {
namespace {

struct ServeFlags {
  std::string model_path;
  std::string alias;
  ServerOptions server;
  int parallel = 4;
  int64_t context = 4096;
  int threads = 0;
  int max_queue = 64;
  KvCacheFlags kv_cache;
  LoadFlags load;
};

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

std::string NameFromPath(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) name.resize(name.size() - 5);
  return name;
}

int RunServe(ServeFlags flags) {
  if (flags.parallel < 1 || flags.parallel > 256) return ReportError(InvalidArgument("--parallel must be 1 to 256"));
  if (flags.server.api_key.empty()) {
    if (const char* key = std::getenv("RIGLM_API_KEY")) flags.server.api_key = key;
  }
  auto loaded = LoadModel(flags.model_path, flags.load);
  if (!loaded.ok()) return ReportError(loaded.status());
  ServedModel served;
  served.name = flags.alias.empty() ? NameFromPath(flags.model_path) : flags.alias;
  served.path = flags.model_path;
  served.model = std::move(loaded->model);
  served.tokenizer = std::move(loaded->tokenizer);
  bool fallback = true;
  auto chat_template = ChatTemplate::FromGguf(served.model->gguf(), &fallback);
  if (chat_template.ok()) {
    served.chat_template = std::move(*chat_template);
    served.has_own_template = !fallback;
    served.template_source = served.chat_template.source();
  }
  const int64_t ctx = ChooseContext(flags.context, served.model->config());
  auto kv_types = ResolveKvCacheTypes(flags.kv_cache, served.model->config());
  if (!kv_types.ok()) return ReportError(kv_types.status());
  auto stages = PlanStages(*served.model, flags.load, ctx * flags.parallel, *kv_types);
  if (!stages.ok()) return ReportError(stages.status());
  SchedulerOptions options;
  options.parallel = flags.parallel;
  options.context = ctx;
  options.threads = flags.threads;
  options.max_queue = flags.max_queue;
  options.kv_types = *kv_types;
  options.stages = *stages;
  served.scheduler = std::make_unique<Scheduler>(*served.model, *served.tokenizer, options);
  served.loaded_at = std::chrono::system_clock::now();

  HttpServer server(served, flags.server);
  if (Status s = server.Start(); !s.ok()) return ReportError(s);
  std::fprintf(stderr, "riglm: serving '%s' on http://%s:%d (%d parallel sequences of %lld tokens%s)\n",
               served.name.c_str(), flags.server.host.c_str(), server.port(), flags.parallel,
               static_cast<long long>(ctx), flags.server.api_key.empty() ? "" : ", API key required");
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
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
      "POST /api/generate, /api/chat, /api/show, GET /api/tags, /api/ps, /api/version (Ollama);\n"
      "GET /health, /metrics (Prometheus). The API key may also come from RIGLM_API_KEY.");
  cmd->add_option("-m,--model", flags->model_path, "GGUF model: a path or an http(s) URL")->required();
  cmd->add_option("--alias", flags->alias, "the name clients use (default: the file name without .gguf)");
  cmd->add_option("--host", flags->server.host, "address to listen on (0.0.0.0: the whole network)")->capture_default_str();
  cmd->add_option("--port", flags->server.port, "port (11434 is where Ollama clients look)")->capture_default_str();
  cmd->add_option("--api-key", flags->server.api_key, "require Authorization: Bearer <key>");
  cmd->add_option("--cors", flags->server.cors_origin, "allow browsers from this origin (e.g. *)");
  cmd->add_option("--parallel", flags->parallel, "(-np) sequences generated at once")->capture_default_str();
  cmd->add_option("-c,--ctx", flags->context, "context per sequence (0: the model's, at most 4096)")->capture_default_str();
  cmd->add_option("-t,--threads", flags->threads, "CPU threads (0: one per physical core)")->capture_default_str();
  cmd->add_option("--queue", flags->max_queue, "requests that may wait for a free sequence; more get 503")
      ->capture_default_str();
  AddKvCacheOptions(cmd, &flags->kv_cache);
  AddLoadOptions(cmd, &flags->load);
  cmd->callback([flags, &exit_code] { exit_code = RunServe(*flags); });
}

}  // namespace riglm::cli
