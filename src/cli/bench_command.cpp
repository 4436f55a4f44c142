#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "backend/cpu/bandwidth.h"
#include "backend/cpu/packed.h"
#include "backend/cpu/vec_dot.h"
#include "backend/cuda/cuda_runtime.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "device/device.h"
#include "device/nvml.h"
#include "engine/bench.h"
#include "model/kv_cache.h"
#include "util/process_stats.h"
#include "util/strings.h"

namespace riglm::cli {
namespace {

struct BenchFlags {
  std::string model_path;
  std::vector<int64_t> prompt = {512};
  std::vector<int64_t> gen = {128};
  std::vector<int64_t> depth = {0};
  int threads = 0;
  int repetitions = 5;
  std::string output = "md";
  KvCacheFlags kv_cache;
  LoadFlags load;
};

// Like llama-bench: architecture and the most common weight type.
std::string ModelType(const LlamaModel& model) {
  return model.config().architecture_name + " " + std::string(DTypeName(model.main_weight_type()));
}

// Peak memory bandwidth of GPU `index` as NVML reports it; 0 when unknown.
double GpuPeakBandwidth(int index) {
  auto gpus = ReadNvmlInventory();
  if (!gpus.ok()) return 0.0;
  for (const GpuInventory& g : *gpus) {
    if (g.index == index) return g.memory_bytes_per_s;
  }
  return 0.0;
}

using TestRunner = std::function<Result<BenchResult>(int64_t n, BenchDepth depth)>;

// Every prompt test, then every generation test, at each depth, in llama-bench's order.
Status RunTests(const BenchFlags& flags, uint64_t kv_bytes_per_position, const TestRunner& prompt,
                const TestRunner& generation, std::vector<BenchResult>* results) {
  for (int64_t d : flags.depth) {
    const BenchDepth depth{d, kv_bytes_per_position};
    for (const auto& [lengths, run] : {std::pair{&flags.prompt, &prompt}, std::pair{&flags.gen, &generation}}) {
      for (int64_t n : *lengths) {
        if (n <= 0) continue;
        auto r = (*run)(n, depth);
        if (!r.ok()) return r.status();
        results->push_back(*r);
      }
    }
  }
  return Status::Ok();
}

int RunBench(const BenchFlags& flags) {
  if (flags.output != "md" && flags.output != "json") return ReportError(InvalidArgument("-o must be md or json"));
  if (flags.repetitions < 1) return ReportError(InvalidArgument("-r must be at least 1"));
  int64_t longest_test = 0, deepest = 0;
  for (const auto& [name, lengths] : {std::pair{"-p", &flags.prompt}, std::pair{"-n", &flags.gen}}) {
    for (int64_t n : *lengths) {
      if (n < 0) return ReportError(InvalidArgument(std::string(name) + " must not be negative (0 skips the test)"));
      longest_test = std::max(longest_test, n);
    }
  }
  if (longest_test == 0) return ReportError(InvalidArgument("nothing to measure: every -p and -n length is 0"));
  for (int64_t d : flags.depth) {
    if (d < 0) return ReportError(InvalidArgument("-d must not be negative"));
    deepest = std::max(deepest, d);
  }
  const int64_t longest = deepest + longest_test;
  auto loaded = LoadModel(flags.model_path, flags.load, longest);
  if (!loaded.ok()) return ReportError(loaded.status());
  const LlamaModel& model = *loaded->model;
  auto kv_types = ResolveKvCacheTypes(flags.kv_cache, model.config());
  if (!kv_types.ok()) return ReportError(kv_types.status());

  ThreadPool pool(ThreadCount(flags.threads));
  const uint64_t bytes_per_token = WeightBytesPerToken(model);
  std::vector<BenchResult> results;
  std::string cpu_isa(cpu::IsaName(cpu::BestIsa()));
  // RIGLM_PACKED_ISA can run another ISA's packed kernels: the table says which ran.
  if (cpu::PackedIsa() != cpu::BestIsa()) cpu_isa += ", packed " + std::string(cpu::IsaName(cpu::PackedIsa()));
  bool on_gpu = false;
  std::string gpu_info;  // the GPU's name when one runs the test
  double bandwidth = 0.0;

  if (loaded->gpu) {
    SequenceDecoder& decoder = *loaded->gpu;
    on_gpu = true;
    gpu_info = decoder.device_name();
    // The load: how fast the weights streamed from the source into the GPUs, and the host memory
    // it took (the peak resident set of the whole process so far).
    const LoadStats& load = loaded->gpu_load;
    std::fprintf(stderr, "riglm: loaded %s into the GPUs in %.2f s (%.0f MB/s); %s of host staging buffers; peak RSS %s\n",
                 FormatBytes(load.bytes).c_str(), load.seconds, load.seconds > 0 ? load.bytes / load.seconds / 1e6 : 0.0,
                 FormatBytes(load.staging_bytes).c_str(), FormatBytes(PeakResidentBytes()).c_str());
    // Stages on several GPUs read at the speed of the slowest; the first GPU stands for all.
    bandwidth = GpuPeakBandwidth(CudaDeviceOfName(gpu_info.substr(0, gpu_info.find_first_of(", "))).value_or(0));
    // The GPUs keep an F16 cache.
    const uint64_t kv_bytes = KvCache::BytesPerPosition(model.config(), KvCacheTypes{}) * model.config().block_count;
    const Status ran = RunTests(
        flags, kv_bytes,
        [&](int64_t n, BenchDepth depth) { return BenchPromptOn(decoder, model, n, flags.repetitions, depth); },
        [&](int64_t n, BenchDepth depth) {
          return BenchGenerationOn(decoder, model, n, flags.repetitions, bandwidth, depth);
        },
        &results);
    if (!ran.ok()) return ReportError(ran);
  } else {
    auto stages = PlanStages(model, flags.load, longest, *kv_types);
    if (!stages.ok()) return ReportError(stages.status());
    const uint64_t kv_bytes = KvCache::BytesPerPosition(model.config(), *kv_types) * model.config().block_count;
    const Status ran = RunTests(
        flags, kv_bytes,
        [&](int64_t n, BenchDepth depth) {
          return BenchPrompt(model, pool, n, flags.repetitions, *kv_types, *stages, CpuSequenceDecoder::kPrefillBatch,
                             depth);
        },
        [&](int64_t n, BenchDepth depth) {
          return BenchGeneration(model, pool, n, flags.repetitions, *kv_types, *stages, true, depth);
        },
        &results);
    if (!ran.ok()) return ReportError(ran);
    // The bandwidth shown is the median of those measured before each generation repetition (or
    // one measurement when only prompts ran); the percentage pairs each repetition with its own.
    std::vector<double> bandwidths;
    for (const BenchResult& r : results) bandwidths.insert(bandwidths.end(), r.bandwidth_samples.begin(), r.bandwidth_samples.end());
    if (bandwidths.empty()) bandwidths.push_back(cpu::MeasureReadBandwidth(pool));
    std::sort(bandwidths.begin(), bandwidths.end());
    bandwidth = bandwidths[bandwidths.size() / 2];
  }
  const double ceiling = bandwidth / static_cast<double>(bytes_per_token);
  // A test's own ceiling: at a depth its steps also read the cache.
  auto ceiling_of = [&](const BenchResult& r) {
    return r.n_gen > 0 && r.bytes_per_token > 0 ? bandwidth / static_cast<double>(r.bytes_per_token) : 0.0;
  };

  const std::string type = ModelType(model);
  const std::string backends = on_gpu ? "CUDA" : "CPU";  // as llama-bench's JSON writes it
  const std::string backend = on_gpu ? "CUDA " + gpu_info : "CPU (" + cpu_isa + ")";  // for the table
  const uint64_t size = model.gguf().file_size_bytes();
  if (flags.output == "json") {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const BenchResult& r : results) {
      out.push_back({{"model_filename", flags.model_path},
                     {"model_type", type},
                     {"model_size", size},
                     {"model_n_params", model.parameter_count()},
                     {"backends", backends},
                     {"cpu_isa", cpu_isa},
                     {"gpu_info", gpu_info},
                     {"n_threads", pool.num_threads()},
                     {"n_prompt", r.n_prompt},
                     {"n_gen", r.n_gen},
                     {"n_depth", r.n_depth},
                     {"avg_ts", r.avg_ts},
                     {"stddev_ts", r.stddev_ts},
                     {"samples_ts", r.samples_ts},
                     {"mem_read_bytes_per_s", bandwidth},
                     {"weight_bytes_per_token", bytes_per_token},
                     {"ceiling_ts", ceiling_of(r)},
                     {"mem_read_bytes_per_s_samples", r.bandwidth_samples},
                     {"ceiling_pct", 100.0 * r.ceiling_fraction}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("| model | size | params | backend | threads | test | t/s |\n");
  std::printf("| ----- | ---: | -----: | ------- | ------: | ---: | --: |\n");
  for (const BenchResult& r : results) {
    std::printf("| %s | %.2f MiB | %.2f B | %s | %d | %s | %.2f ± %.2f |\n", type.c_str(),
                static_cast<double>(size) / (1 << 20), static_cast<double>(model.parameter_count()) / 1e9, backend.c_str(),
                pool.num_threads(), r.test.c_str(), r.avg_ts, r.stddev_ts);
  }
  if (bandwidth > 0) {
    std::printf("\nmemory read bandwidth: %.1f GB/s (%s); weights read per token: %s; generation ceiling: %.1f t/s\n",
                bandwidth / 1e9,
                on_gpu ? "the GPU's peak"
                                            : (std::to_string(pool.num_threads()) +
                                               " threads, median over the generation runs").c_str(),
                FormatBytes(bytes_per_token).c_str(), ceiling);
    if (!on_gpu && cpu::PackedIsa() != cpu::Isa::kScalar) {
      const double speedup = cpu::MeasuredPrefetchSpeedup();
      char why[96] = "RIGLM_WEIGHT_PREFETCH";
      if (speedup > 0) std::snprintf(why, sizeof(why), "prefetched reads measured %+.0f%% against plain ones", 100 * (speedup - 1));
      std::printf("weights prefetched by software: %s (%s)\n", cpu::PrefetchWeights() ? "yes" : "no", why);
    }
  }
  for (const BenchResult& r : results) {
    if (r.n_gen <= 0 || bandwidth <= 0) continue;
    char reads[128] = "";
    if (r.n_depth > 0) {
      std::snprintf(reads, sizeof(reads), "; %s read per token with the cache, ceiling %.1f t/s",
                    FormatBytes(r.bytes_per_token).c_str(), ceiling_of(r));
    }
    std::printf("%s: %.1f%% of the ceiling (each run against the bandwidth measured just before and after it%s)\n",
                r.test.c_str(), 100.0 * r.ceiling_fraction, reads);
  }
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt and generation speed (llama-bench style)");
  cmd->add_option("-m,--model", flags->model_path, kModelHelp)->required();
  cmd->add_option("-p,--n-prompt", flags->prompt, "prompt lengths to test (0 skips)")->capture_default_str();
  cmd->add_option("-n,--n-gen", flags->gen, "generation lengths to test (0 skips)")->capture_default_str();
  cmd->add_option("-t,--threads", flags->threads, "CPU threads (0: one per physical core)")->capture_default_str();
  cmd->add_option("-d,--n-depth", flags->depth,
                  "tokens already in the KV cache when each test starts, e.g. 0 4096 (long-chat speed: every "
                  "generated token also reads the cache)")
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", flags->repetitions, "timed repetitions of each test")->capture_default_str();
  AddKvCacheOptions(cmd, &flags->kv_cache);
  AddLoadOptions(cmd, &flags->load);
  cmd->add_option("-o,--output", flags->output, "md (table) or json")->capture_default_str();
  cmd->callback([flags, &exit_code] { exit_code = RunBench(*flags); });
}

}  // namespace riglm::cli
