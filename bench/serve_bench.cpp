// Aggregate generation throughput of `riglm serve` with 1, 4 and 8 concurrent clients: the
// server runs in-process on a free port, clients send non-streaming completions of N tokens
// over HTTP at the same time, and the figure is all their completion tokens over the wall time.
// Usage: serve_bench MODEL.gguf [TOKENS_PER_CLIENT] [THREADS]
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/http_server.h"

int main(int argc, char** argv) {
  using namespace riglm;
  if (argc < 2) {
    std::fprintf(stderr, "usage: serve_bench MODEL.gguf [TOKENS_PER_CLIENT] [THREADS]\n");
    return 2;
  }
  const int tokens = argc > 2 ? std::atoi(argv[2]) : 128;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  auto owned = std::make_unique<ServedModel>();
  ServedModel& served = *owned;
  auto model = LlamaModel::Load(argv[1]);
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.status().ToString().c_str()), 1;
  served.name = "bench";
  served.model = std::move(*model);
  auto tokenizer = Tokenizer::FromGguf(served.model->gguf());
  if (!tokenizer.ok()) return std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str()), 1;
  served.tokenizer = std::move(tokenizer).value();
  SchedulerOptions options;
  options.parallel = 8;
  options.context = tokens + 64;
  options.threads = threads;
  served.scheduler = std::make_unique<Scheduler>(*served.model, *served.tokenizer, options);
  ServerOptions server_options;
  server_options.port = 0;
  ModelRegistry registry(std::move(owned));
  HttpServer server(registry, server_options);
  if (!server.Start().ok()) return 1;
  std::freopen("/dev/null", "w", stderr);  // the per-request log lines

  double single = 0.0;
  for (int clients : {1, 4, 8}) {
    const SchedulerMetrics before = served.scheduler->Metrics();
    std::vector<int64_t> generated(clients, 0);
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < clients; ++i) {
      pool.emplace_back([&, i] {
        httplib::Client c("127.0.0.1", server.port());
        c.set_read_timeout(600, 0);
        const nlohmann::json body = {{"prompt", "Once upon a time"}, {"max_tokens", tokens}, {"temperature", 0.8},
                                     {"seed", i}, {"stop", nlohmann::json::array()}};
        auto res = c.Post("/v1/completions", body.dump(), "application/json");
        if (res && res->status == 200) generated[i] = nlohmann::json::parse(res->body)["usage"]["completion_tokens"];
      });
    }
    for (auto& t : pool) t.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int64_t total = 0;
    for (int64_t g : generated) total += g;
    const double rate = static_cast<double>(total) / seconds;
    if (clients == 1) single = rate;
    std::printf("%d client%s: %lld tokens in %.2f s = %.1f tokens/s aggregate (%.2fx one client)\n", clients,
                clients > 1 ? "s" : " ", static_cast<long long>(total), seconds, rate, single > 0 ? rate / single : 0.0);
    const SchedulerMetrics after = served.scheduler->Metrics();
    const double steps = static_cast<double>(after.steps_total - before.steps_total);
    const double busy = after.busy_seconds - before.busy_seconds;
    std::printf("           scheduler busy %.0f%% of the time, %.1f ms a step, %.2f tokens a step\n",
                100.0 * busy / seconds, 1000.0 * busy / steps,
                static_cast<double>(after.generated_tokens_total - before.generated_tokens_total) / steps);
    std::fflush(stdout);
  }
  server.Stop();
  return 0;
}
