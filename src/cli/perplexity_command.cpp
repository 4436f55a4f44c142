#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/perplexity.h"

namespace riglm::cli {
namespace {

struct PerplexityFlags {
  std::string model_path;
  std::string text_file;
  int64_t context = 512;
  int threads = 0;
  int64_t max_chunks = -1;
  KvCacheFlags kv_cache;
  LoadFlags load;
};

int RunPerplexity(const PerplexityFlags& flags) {
  std::ifstream in(flags.text_file, std::ios::binary);
  if (!in) return ReportError(NotFound(flags.text_file + ": cannot open the text file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto loaded = LoadModel(flags.model_path, flags.load);
  if (!loaded.ok()) return ReportError(loaded.status());
  const Tokenizer& tokenizer = *loaded->tokenizer;
  auto kv_types = ResolveKvCacheTypes(flags.kv_cache, loaded->model->config());
  if (!kv_types.ok()) return ReportError(kv_types.status());
  EncodeOptions encode;
  encode.add_bos = tokenizer.vocab().add_bos;
  const std::vector<int32_t> tokens = tokenizer.Encode(buffer.str(), encode);
  const int32_t bos = tokenizer.vocab().add_bos ? tokenizer.vocab().bos_id : -1;

  ThreadPool pool(ThreadCount(flags.threads));
  std::fprintf(stderr, "perplexity: %zu tokens, %lld per chunk, %d threads\n", tokens.size(),
               static_cast<long long>(flags.context), pool.num_threads());
  auto estimate = ComputePerplexity(*loaded->model, pool, tokens, flags.context, bos, flags.max_chunks,
                                    [](const PerplexityEstimate& e) {
                                      std::printf("[%lld]%.4f,", static_cast<long long>(e.chunks), e.perplexity);
                                      std::fflush(stdout);
                                    },
                                    *kv_types);
  std::printf("\n");
  if (!estimate.ok()) return ReportError(estimate.status());
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", estimate->perplexity, estimate->standard_error);
  return 0;
}

}  // namespace

void AddPerplexityCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<PerplexityFlags>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Measure a model's perplexity on a text file");
  cmd->add_option("-m,--model", flags->model_path, kModelHelp)->required();
  cmd->add_option("-f,--file", flags->text_file, "text file to score")->required();
  cmd->add_option("-c,--ctx-size", flags->context, "tokens per chunk; the second half of each is scored")
      ->capture_default_str();
  cmd->add_option("-t,--threads", flags->threads, "CPU threads (0: one per physical core)")->capture_default_str();
  AddKvCacheOptions(cmd, &flags->kv_cache);
  AddModelSourceOptions(cmd, &flags->load);
  cmd->add_option("--chunks", flags->max_chunks, "score at most this many chunks (-1: all)")->capture_default_str();
  cmd->callback([flags, &exit_code] { exit_code = RunPerplexity(*flags); });
}

}  // namespace riglm::cli
