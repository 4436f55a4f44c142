// Pieces the subcommands share: loading a model with its tokenizer, and reporting errors.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/decoder.h"
#include "engine/pipeline.h"
#include "loader/loader.h"
#include "hub/hub_pull.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"
#include "util/status.h"

namespace riglm::cli {

struct LoadedModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  // --devices naming GPUs: the model was streamed into them (its matrices are in GPU memory, so
  // only this decoder computes with it), with the load's figures.
  std::unique_ptr<SequenceDecoder> gpu;
  LoadStats gpu_load;
};

// Where weights are loaded (--devices, --tensor-split) and how (--load-buffer).
struct LoadFlags {
  std::string devices;              // empty: this machine's CPU as one stage
  std::vector<double> tensor_split;
  std::string load_buffer = "256MiB";
  std::string quant;                // safetensors models: quantize while loading
  bool offline = false;             // Hub ids: the cache only (also HF_HUB_OFFLINE)
};
void AddLoadOptions(CLI::App* cmd, LoadFlags* flags);
// Only --quant and --offline, for commands that run on one device.
void AddModelSourceOptions(CLI::App* cmd, LoadFlags* flags);

// What -m accepts, for the commands' help.
inline constexpr const char* kModelHelp =
    "model: a GGUF file or http(s) URL, a Hugging Face model folder, a Hub id OWNER/REPO[:QUANT] (pulled when missing), "
    "or synthetic:SHAPE:TYPE (noise weights generated while loading, for load and speed tests)";

// A Hub id becomes the path of its files in the cache, pulled first (with a progress display)
// when they are missing and `offline` is false; anything else is returned as it is.
Result<std::string> ResolveModelLocation(const std::string& name, bool offline);

// PullModel with a progress display; Ctrl-C stops it (a later pull resumes).
Result<PulledModel> PullWithProgress(const ModelRef& ref, HubOptions options);

// A path, a URL, a folder or a Hub id (streamed with a progress display, interruptible with Ctrl-C).
// When flags.devices names GPUs, the model streams straight into them, split by the planner,
// with room for `gpu_context` positions (0: the model's context, at most 4096).
Result<LoadedModel> LoadModel(const std::string& location, const LoadFlags& flags = {}, int64_t gpu_context = 0);

// The -t value as a thread count: 0 or less, one per physical core. More than this machine's CPU
// threads runs, slower, after a warning on stderr.
int ThreadCount(int requested);

// True when every --devices entry is a GPU: cuda, cuda:N, 3xcuda:0, ...
bool DevicesAreGpus(const std::string& devices);

// The pipeline stages the flags ask for, planned for this model at `context`; empty for the
// default single CPU stage. Only CPU devices run here (GPUs through LoadModel, simulated ones in
// `riglm plan`).
Result<std::vector<PipelineStage>> PlanStages(const LlamaModel& model, const LoadFlags& flags, int64_t context,
                                              KvCacheTypes kv_types);

// Prints "riglm: <message>" to stderr and returns the exit code for `status`.
int ReportError(const Status& status);

// -ctk / --cache-type-k and -ctv / --cache-type-v, as llama.cpp names them.
struct KvCacheFlags {
  std::string keys = "f16";
  std::string values = "f16";
};
void AddKvCacheOptions(CLI::App* cmd, KvCacheFlags* flags);
// The types the flags name, checked against the model.
Result<KvCacheTypes> ResolveKvCacheTypes(const KvCacheFlags& flags, const ModelConfig& config);

// Context length to use: the request, or the model's trained context capped at `default_cap`.
int64_t ChooseContext(int64_t requested, const ModelConfig& config, int64_t default_cap = 4096);

}  // namespace riglm::cli
