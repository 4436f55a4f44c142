#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include "backend/cuda/cuda_runtime.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "engine/generator.h"

namespace riglm::cli {
namespace {

struct RunFlags {
  std::string model_path;
  std::string prompt;
  std::string prompt_file;
  int64_t num_predict = -1;
  int64_t context = 0;
  int threads = 0;
  int64_t seed = -1;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool no_bos = false;
  bool special = false;
  KvCacheFlags kv_cache;
  LoadFlags load;
};

int Run(RunFlags flags) {
  if (!flags.prompt_file.empty()) {
    std::ifstream in(flags.prompt_file, std::ios::binary);
    if (!in) return ReportError(NotFound(flags.prompt_file + ": cannot open the prompt file"));
    std::stringstream buffer;
    buffer << in.rdbuf();
    flags.prompt = buffer.str();
  }
  auto loaded = LoadModel(flags.model_path, flags.load, flags.context);
  if (!loaded.ok()) return ReportError(loaded.status());
  const LlamaModel& model = *loaded->model;
  const Tokenizer& tokenizer = *loaded->tokenizer;

  flags.sampling.seed = flags.seed < 0 ? std::random_device{}() : static_cast<uint64_t>(flags.seed);
  if (Status s = flags.sampling.Validate(); !s.ok()) return ReportError(s);
  const int64_t ctx = ChooseContext(flags.context, model.config());
  auto kv_types = ResolveKvCacheTypes(flags.kv_cache, model.config());
  if (!kv_types.ok()) return ReportError(kv_types.status());
  EncodeOptions encode;
  encode.add_bos = tokenizer.vocab().add_bos && !flags.no_bos;
  encode.parse_special = flags.special;
  std::vector<int32_t> prompt = tokenizer.Encode(flags.prompt, encode);
  if (prompt.empty()) {
    // An empty prompt starts from BOS alone, which is how unconditional samples are drawn.
    if (tokenizer.vocab().bos_id < 0) return ReportError(InvalidArgument("the prompt is empty and the model has no BOS token"));
    prompt.push_back(tokenizer.vocab().bos_id);
  }

  ThreadPool pool(ThreadCount(flags.threads));
  std::unique_ptr<Generator> generator;
  std::vector<PipelineStage> stages;
  if (loaded->gpu) {
    if (flags.kv_cache.keys != "f16" || flags.kv_cache.values != "f16") {
      return ReportError(Unsupported("the CUDA backend keeps an F16 KV cache; leave -ctk and -ctv at f16"));
    }
    std::fprintf(stderr, "riglm: generating on %s\n", loaded->gpu->device_name().c_str());
    generator = std::make_unique<Generator>(model, tokenizer, std::move(loaded->gpu), ctx);
  } else {
    auto planned = PlanStages(model, flags.load, ctx, *kv_types);
    if (!planned.ok()) return ReportError(planned.status());
    stages = std::move(*planned);
    generator = std::make_unique<Generator>(model, tokenizer, pool, ctx, *kv_types, stages);
  }
  GenerateOptions options;
  options.max_tokens = flags.num_predict;
  options.stop = flags.stop;
  options.sampling = flags.sampling;
  std::fwrite(flags.prompt.data(), 1, flags.prompt.size(), stdout);
  auto stats = generator->Generate(prompt, options, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!stats.ok()) return ReportError(stats.status());
  auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  std::fprintf(stderr, "\nprompt:     %6lld tokens in %8.2f ms (%8.2f tokens/s)\n",
               static_cast<long long>(stats->prompt_tokens), stats->prompt_seconds * 1e3,
               rate(stats->prompt_tokens, stats->prompt_seconds));
  // The first generated token comes from the prompt's logits, so the rate counts the others.
  const int64_t timed = std::max<int64_t>(0, stats->generated_tokens - 1);
  std::fprintf(stderr, "generation: %6lld tokens in %8.2f ms (%8.2f tokens/s), stop: %s\n",
               static_cast<long long>(stats->generated_tokens), stats->generate_seconds * 1e3,
               rate(timed, stats->generate_seconds), std::string(StopReasonName(stats->stop_reason)).c_str());
  std::fprintf(stderr, "threads: %d, context: %lld\n", pool.num_threads(), static_cast<long long>(ctx));
  if (stages.size() > 1) {
    std::string layout;
    for (const PipelineStage& s : stages) {
      layout += (layout.empty() ? "" : ", ") + s.device + " layers " + std::to_string(s.first_layer) + "-" +
                std::to_string(s.end_layer - 1);
    }
    std::fprintf(stderr, "pipeline: %s\n", layout.c_str());
  }
  return 0;
}

}  // namespace

void AddRunCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt, streamed to stdout");
  cmd->add_option("-m,--model", flags->model_path, kModelHelp)->required();
  auto* prompt = cmd->add_option("-p,--prompt", flags->prompt, "prompt text (empty: start from BOS)");
  cmd->add_option("-f,--file", flags->prompt_file, "read the prompt from a file")->excludes(prompt);
  cmd->add_option("-n,--n-predict", flags->num_predict, "tokens to generate (-1: until end or context full)")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", flags->context, "context length (0: the model's, at most 4096)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", flags->threads, "CPU threads (0: one per physical core)")->capture_default_str();
  AddKvCacheOptions(cmd, &flags->kv_cache);
  AddLoadOptions(cmd, &flags->load);
  cmd->add_option("-s,--seed", flags->seed, "random seed (-1: random)")->capture_default_str();
  cmd->add_option("--temp", flags->sampling.temperature, "temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", flags->sampling.top_k, "top-k sampling (0: off)")->capture_default_str();
  cmd->add_option("--top-p", flags->sampling.top_p, "top-p sampling (1: off)")->capture_default_str();
  cmd->add_option("--min-p", flags->sampling.min_p, "min-p sampling (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", flags->sampling.repeat_penalty, "penalty for recent tokens (1: off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", flags->sampling.repeat_last_n, "recent tokens penalized (-1: all)")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", flags->sampling.presence_penalty, "presence penalty")->capture_default_str();
  cmd->add_option("--frequency-penalty", flags->sampling.frequency_penalty, "frequency penalty")
      ->capture_default_str();
  cmd->add_option("--stop", flags->stop, "stop when this text appears (repeatable)");
  cmd->add_flag("--no-bos", flags->no_bos, "do not add the BOS token to the prompt");
  cmd->add_flag("--special", flags->special, "parse special-token texts such as <|im_start|> in the prompt");
  cmd->callback([flags, &exit_code] { exit_code = Run(*flags); });
}

}  // namespace riglm::cli
