#include "cli/common.h"

#include <csignal>
#include <cstdio>
#include <map>
#include <thread>

#include "backend/cuda/cuda_runtime.h"
#include "cli/progress.h"
#include "device/device.h"
#include "hub/hub_pull.h"
#include "loader/gguf_header.h"
#include "loader/model_loader.h"
#include "loader/split_gguf.h"
#include "model/hf_model_source.h"
#include "planner/planner.h"
#include "util/strings.h"

namespace riglm::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

// Every GPU stage's layers, from the planner over the GPUs' memory (or --tensor-split). Stages
// sharing a GPU are capped at their share of it.
Result<std::vector<CudaStage>> PlanGpuStages(const GgufFile& gguf, const ModelConfig& config, const LoadFlags& flags,
                                             int64_t context) {
  RIGLM_ASSIGN_OR_RETURN(std::vector<DeviceInfo> devices, ParseDeviceList(flags.devices));
  PlanOptions options;
  options.context = context;
  options.tensor_split = flags.tensor_split;
  const Plan plan = MakePlan(ModelCostFromGguf(gguf, config, KvCacheTypes{}), devices, options);
  if (!plan.fits) return InvalidArgument("the model does not fit these GPUs: " + plan.message);
  std::map<int, int> stages_per_gpu;
  for (const DevicePlan& p : plan.devices) ++stages_per_gpu[CudaDeviceOfName(p.device.name).value_or(-1)];
  std::vector<CudaStage> stages;
  for (const DevicePlan& p : plan.devices) {
    if (p.num_layers() == 0) continue;
    const int gpu = CudaDeviceOfName(p.device.name).value_or(-1);
    const uint64_t cap = stages_per_gpu[gpu] > 1 ? p.device.total_bytes : 0;
    stages.push_back({p.device.name, gpu, p.first_layer, p.end_layer, cap});
  }
  return stages;
}

Result<LoadedModel> LoadModelOnGpus(const std::string& path, const LoadFlags& flags, ModelLoadOptions options,
                                    int64_t context) {
  for (std::string_view entry : SplitString(flags.devices, ',')) {
    entry = WithoutDeviceCount(entry);
    if (!CudaDeviceOfName(entry) || entry.find('.') != std::string_view::npos) {
      return InvalidArgument("--devices: '" + std::string(entry) + "': write a GPU as cuda:N (N from riglm devices)");
    }
  }
  if (!BuiltWithCuda()) RIGLM_RETURN_IF_ERROR(ProbeCudaRuntime().status());  // says how to build with CUDA
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenModelSource(path, options));
  RIGLM_ASSIGN_OR_RETURN(GgufFile header, ReadGgufHeader(*source));
  RIGLM_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromGguf(header));
  context = ChooseContext(context, config);
  RIGLM_ASSIGN_OR_RETURN(std::vector<CudaStage> stages, PlanGpuStages(header, config, flags, context));
  Progress progress("loading " + path + " into " + flags.devices);
  // Several connections reach a network's line rate sooner; generated weights need the cores.
  if (IsUrl(path) || IsSyntheticLocation(path)) options.load.readers = 4;
  options.load.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  options.load.cancel = &g_interrupted;
  std::signal(SIGINT, OnInterrupt);
  Result<CudaModelLoad> load = LoadCudaModel(*source, stages, context, options.load);
  std::signal(SIGINT, SIG_DFL);
  if (!load.ok()) return load.status();
  progress.Finish();
  LoadedModel loaded;
  loaded.gpu_load = load->stats;
  loaded.gpu = std::move(load->decoder);
  loaded.model = std::move(load->model);
  RIGLM_ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::FromGguf(loaded.model->gguf()));
  return loaded;
}

}  // namespace

void AddLoadOptions(CLI::App* cmd, LoadFlags* flags) {
  cmd->add_option("--devices", flags->devices,
                  "devices to run on as a pipeline, e.g. cpu or cpu,cpu,cpu (see riglm plan --help); "
                  "run and bench also take GPUs: cuda:0 or cuda:0,cuda:1 (streamed straight into them; "
                  "3xcuda:0 splits one GPU into 3 stages)");
  cmd->add_option("--tensor-split", flags->tensor_split, "manual split: share of layers per device, e.g. 3,1,1")
      ->delimiter(',');
  cmd->add_option("--load-buffer", flags->load_buffer, "host memory for streaming weights from a URL or a folder")
      ->capture_default_str();
  AddModelSourceOptions(cmd, flags);
}

void AddModelSourceOptions(CLI::App* cmd, LoadFlags* flags) {
  cmd->add_option("--quant", flags->quant,
                  "safetensors models: quantize while loading (q8_0, q4_k_m, q4_0, ...); GGUF files keep their types");
  cmd->add_flag("--offline", flags->offline, "never download: Hub ids must be in the cache (also HF_HUB_OFFLINE=1)");
}

Result<std::string> ResolveModelLocation(const std::string& name, bool offline) {
  if (!LooksLikeModelRef(name)) return name;
  RIGLM_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(name));
  HubOptions options = HubOptions::FromEnvironment();
  options.offline = options.offline || offline;
  Result<PulledModel> cached = FindCachedModel(ref, options);
  if (cached.ok()) return cached->location;
  if (cached.status().code() != StatusCode::kNotFound) return cached.status();
  if (options.offline) return NotFound(cached.status().message() + ", and --offline / HF_HUB_OFFLINE forbids downloading it");
  std::fprintf(stderr, "riglm: %s is not in the cache; pulling it from %s\n", ref.ToString().c_str(), options.endpoint.c_str());
  RIGLM_ASSIGN_OR_RETURN(PulledModel pulled, PullWithProgress(ref, options));
  return pulled.location;
}

Result<PulledModel> PullWithProgress(const ModelRef& ref, HubOptions options) {
  Progress progress("pulling " + ref.ToString());
  options.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  options.cancel = &g_interrupted;
  std::signal(SIGINT, OnInterrupt);
  Result<PulledModel> pulled = PullModel(ref, options);
  std::signal(SIGINT, SIG_DFL);
  if (pulled.ok()) progress.Finish();
  return pulled;
}

Result<LoadedModel> LoadModel(const std::string& name, const LoadFlags& flags, int64_t gpu_context) {
  RIGLM_ASSIGN_OR_RETURN(const std::string path, ResolveModelLocation(name, flags.offline));
  // A CUDA build says once where it runs when no GPU was asked for; a command that asked for
  // one (--devices cuda:N) reports what stops it itself.
  static const bool reported = [&] {
    if (!BuiltWithCuda() || DevicesAreGpus(flags.devices)) return false;
    if (Result<CudaRuntimeInfo> cuda = ProbeCudaRuntime(); !cuda.ok()) {
      std::fprintf(stderr, "riglm: %s: running on the CPU\n", cuda.status().message().c_str());
    } else {
      std::fprintf(stderr, "riglm: %zu CUDA GPU(s) found; running on the CPU (--devices cuda:N generates on a GPU)\n",
                   cuda->devices.size());
    }
    return true;
  }();
  (void)reported;
  LoadedModel loaded;
  ModelLoadOptions options;
  options.quant = flags.quant;
  RIGLM_ASSIGN_OR_RETURN(options.load.buffer_bytes, ParseByteSize(flags.load_buffer));
  if (const char* token = std::getenv("HF_TOKEN")) options.source.bearer_token = token;
  if (DevicesAreGpus(flags.devices)) return LoadModelOnGpus(path, flags, options, gpu_context);
  Progress progress("loading " + path);
  const bool streamed = IsUrl(path) || IsHfModelDir(path) || IsSplitGgufPath(path) || IsSyntheticLocation(path);
  if (streamed) {
    // Several connections reach a network's line rate sooner; generated weights need the cores.
    if (IsUrl(path) || IsSyntheticLocation(path)) options.load.readers = 4;
    options.load.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
    options.load.cancel = &g_interrupted;
    std::signal(SIGINT, OnInterrupt);
  }
  auto model = LoadModelFrom(path, options);
  if (streamed) {
    std::signal(SIGINT, SIG_DFL);
    if (model.ok()) progress.Finish();
  }
  RIGLM_ASSIGN_OR_RETURN(loaded.model, std::move(model));
  RIGLM_ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::FromGguf(loaded.model->gguf()));
  // Hugging Face models often pad the output head past the tokenizer (Qwen2.5: 151936 rows for
  // 151665 tokens); the padding ids decode to nothing. More tokens than rows is a broken model.
  if (loaded.tokenizer->vocab().size() > loaded.model->config().vocab_size) {
    return Corruption(path + ": the tokenizer has " + std::to_string(loaded.tokenizer->vocab().size()) +
                      " tokens but the output head only " + std::to_string(loaded.model->config().vocab_size));
  }
  return loaded;
}

int ReportError(const Status& status) {
  std::fprintf(stderr, "riglm: %s\n", status.ToString().c_str());
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return 2;
    default: return 1;
  }
}

int ThreadCount(int requested) {
  if (requested <= 0) return ThreadPool::DefaultThreadCount();
  const unsigned cpus = std::thread::hardware_concurrency();
  if (cpus > 0 && static_cast<unsigned>(requested) > cpus) {
    std::fprintf(stderr, "riglm: warning: -t %d is more threads than the %u CPUs here: they take turns, slower than %u threads\n",
                 requested, cpus, cpus);
  }
  return requested;
}

bool DevicesAreGpus(const std::string& devices) {
  if (devices.empty()) return false;
  for (std::string_view entry : SplitString(devices, ',')) {
    if (!WithoutDeviceCount(entry).starts_with("cuda")) return false;
  }
  return true;
}

Result<std::vector<PipelineStage>> PlanStages(const LlamaModel& model, const LoadFlags& flags, int64_t context,
                                              KvCacheTypes kv_types) {
  if (flags.devices.empty() && flags.tensor_split.empty()) return std::vector<PipelineStage>{};
  RIGLM_ASSIGN_OR_RETURN(std::vector<DeviceInfo> devices, ParseDeviceList(flags.devices.empty() ? "cpu" : flags.devices));
  for (const DeviceInfo& d : devices) {
    if (d.kind != DeviceKind::kCpu) {
      return Unsupported(d.name + ": simulated devices can only be planned (riglm plan), and GPUs cannot be mixed with "
                                  "the CPU in one pipeline yet; run on cpu devices or on GPUs only");
    }
  }
  PlanOptions options;
  options.context = context;
  options.tensor_split = flags.tensor_split;
  const Plan plan = MakePlan(ModelCostFromGguf(model.gguf(), model.config(), kv_types), devices, options);
  if (!plan.fits) return InvalidArgument("the model does not fit these devices: " + plan.message);
  std::vector<PipelineStage> stages;
  for (const DevicePlan& p : plan.devices) {
    if (p.num_layers() > 0) stages.push_back({p.device.name, p.first_layer, p.end_layer});
  }
  return stages;
}

int64_t ChooseContext(int64_t requested, const ModelConfig& config, int64_t default_cap) {
  if (requested > 0) return requested;
  return std::min(config.context_length, default_cap);
}

void AddKvCacheOptions(CLI::App* cmd, KvCacheFlags* flags) {
  cmd->add_option("--cache-type-k", flags->keys, "(-ctk) KV cache type for keys: f16, q8_0 or f32")
      ->capture_default_str();
  cmd->add_option("--cache-type-v", flags->values, "(-ctv) KV cache type for values: f16, q8_0 or f32")
      ->capture_default_str();
}

Result<KvCacheTypes> ResolveKvCacheTypes(const KvCacheFlags& flags, const ModelConfig& config) {
  KvCacheTypes types;
  RIGLM_ASSIGN_OR_RETURN(types.keys, ParseKvCacheType(flags.keys));
  RIGLM_ASSIGN_OR_RETURN(types.values, ParseKvCacheType(flags.values));
  RIGLM_RETURN_IF_ERROR(CheckKvCacheTypes(config, types));
  return types;
}

}  // namespace riglm::cli
