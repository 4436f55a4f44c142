// riglm plan: which layers go on which device, from the model's header alone (a file, a URL
// read with range requests, or a shape preset) and the devices' memory and links.
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "device/device.h"
#include "loader/gguf_header.h"
#include "loader/model_loader.h"
#include "model/synthetic.h"
#include "planner/planner.h"

namespace riglm::cli {
namespace {

struct PlanFlags {
  std::string model;
  std::string shape;
  std::string type = "Q4_K_M";
  int64_t context = 4096;
  int parallel = 1;
  std::string devices;
  std::vector<double> tensor_split;
  KvCacheFlags kv_cache;
  std::string output = "text";
  std::string quant;
  bool offline = false;
};

// The header of the model to plan: read from its source, or written for a shape preset.
Result<GgufFile> PlannedHeader(const PlanFlags& flags) {
  if (!flags.shape.empty()) {
    RIGLM_ASSIGN_OR_RETURN(ModelShape shape, FindModelShape(flags.shape));
    RIGLM_ASSIGN_OR_RETURN(QuantRecipe recipe, QuantRecipe::Parse(flags.type));
    RIGLM_ASSIGN_OR_RETURN(GgufWriter writer, SyntheticModelWriter(shape, recipe, 1));
    const std::vector<uint8_t> header = writer.HeaderBytes();
    return GgufFile::Parse(header, writer.TotalBytes(), shape.name + " " + recipe.name());
  }
  ModelLoadOptions options;
  if (const char* token = std::getenv("HF_TOKEN")) options.source.bearer_token = token;
  options.quant = flags.quant;
  RIGLM_ASSIGN_OR_RETURN(const std::string location, ResolveModelLocation(flags.model, flags.offline));
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenModelSource(location, options));
  return ReadGgufHeader(*source);
}

int RunPlan(const PlanFlags& flags) {
  if (flags.output != "text" && flags.output != "json") return ReportError(InvalidArgument("-o must be text or json"));
  if (flags.model.empty() == flags.shape.empty()) {
    return ReportError(InvalidArgument("give a model (-m FILE or URL) or a shape (--shape PRESET --type QUANT)"));
  }
  auto header = PlannedHeader(flags);
  if (!header.ok()) return ReportError(header.status());
  auto config = ModelConfig::FromGguf(*header);
  if (!config.ok()) return ReportError(config.status());
  auto kv_types = ResolveKvCacheTypes(flags.kv_cache, *config);
  if (!kv_types.ok()) return ReportError(kv_types.status());
  auto devices = flags.devices.empty() ? Result<std::vector<DeviceInfo>>(DetectDevices()) : ParseDeviceList(flags.devices);
  if (!devices.ok()) return ReportError(devices.status());
  PlanOptions options;
  options.context = flags.context;
  options.parallel = flags.parallel;
  options.tensor_split = flags.tensor_split;
  const ModelCost cost = ModelCostFromGguf(*header, *config, *kv_types);
  const Plan plan = MakePlan(cost, *devices, options);
  if (flags.output == "json") {
    std::printf("%s\n", PlanToJson(plan).dump(2).c_str());
  } else {
    std::printf("%s", FormatPlan(cost, plan).c_str());
  }
  return plan.fits ? 0 : 3;
}

}  // namespace

void AddPlanCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Plan which layers go on which device, and predict memory and speed (exit code 3 when it does not fit)");
  cmd->footer(
      "Devices (--devices): comma-separated, each optionally prefixed by a count:\n"
      "  cpu                              this machine's CPU and RAM\n"
      "  sim:12GiB[@pcie3x4][@360GB/s]    a simulated GPU: memory, PCIe link, memory bandwidth\n"
      "  5xsim:12GiB@pcie3x4              five of them\n"
      "  rig.json                         [{\"name\": \"3060\", \"memory\": \"12GiB\", \"pcie\": \"3x4\",\n"
      "                                     \"bandwidth_gbps\": 360, \"reserve\": \"512MiB\"}, ...]\n"
      "The default is this machine's real devices. A URL model is planned from its header alone.");
  auto* model = cmd->add_option("-m,--model", flags->model, kModelHelp);
  cmd->add_option("--shape", flags->shape, "plan a model by shape preset instead (see riglm synth --help)")->excludes(model);
  cmd->add_option("--type", flags->type, "quantization for --shape (Q4_K_M, Q8_0, F16, ...)")->capture_default_str();
  cmd->add_option("-c,--ctx", flags->context, "context length per sequence")->capture_default_str();
  cmd->add_option("--parallel", flags->parallel, "sequences decoded at once")->capture_default_str();
  cmd->add_option("--devices", flags->devices, "devices to plan for (below)");
  cmd->add_option("--tensor-split", flags->tensor_split, "manual split: share of layers per device, e.g. 3,1,1")
      ->delimiter(',');
  AddKvCacheOptions(cmd, &flags->kv_cache);
  cmd->add_option("--quant", flags->quant, "safetensors models: plan them quantized as they would load (q8_0, q4_k_m, ...)");
  cmd->add_flag("--offline", flags->offline, "never download: Hub ids must be in the cache");
  cmd->add_option("-o,--output", flags->output, "text or json")->capture_default_str();
  cmd->callback([flags, &exit_code] { exit_code = RunPlan(*flags); });
}

}  // namespace riglm::cli
