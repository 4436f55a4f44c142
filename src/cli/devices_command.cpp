// riglm devices: what this machine offers a model — the CPU, and each NVIDIA GPU with its
// memory, PCIe link (flagging lanes lost to a riser), power and temperature.
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "backend/cuda/cuda_runtime.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "device/nvml.h"
#include "util/strings.h"

namespace riglm::cli {
namespace {

std::string Rate(double bytes_per_s) {
  if (bytes_per_s <= 0) return "?";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f GB/s", bytes_per_s / 1e9);
  return text;
}

int RunDevices(const std::string& output) {
  if (output != "text" && output != "json") return ReportError(InvalidArgument("-o must be text or json"));
  const DeviceInfo cpu = CpuDevice();
  Result<std::vector<GpuInventory>> gpus = ReadNvmlInventory();
  if (output == "json") {
    nlohmann::ordered_json doc;
    doc["cpu"] = {{"threads", std::thread::hardware_concurrency()}, {"total_bytes", cpu.total_bytes},
                  {"free_bytes", cpu.free_bytes}, {"memory_bytes_per_s", cpu.memory_bytes_per_s}};
    doc["gpus"] = nlohmann::ordered_json::array();
    if (gpus.ok()) {
      for (const GpuInventory& g : *gpus) {
        doc["gpus"].push_back({{"index", g.index}, {"name", g.name}, {"pci_bus_id", g.pci_bus_id},
                               {"total_bytes", g.total_bytes}, {"free_bytes", g.free_bytes},
                               {"pcie", {{"generation", g.link.generation}, {"width", g.link.width},
                                         {"max_generation", g.max_link.generation}, {"max_width", g.max_link.width},
                                         {"degraded", g.link_degraded()}}},
                               {"power_w", g.power_w}, {"power_limit_w", g.power_limit_w},
                               {"temperature_c", g.temperature_c}, {"memory_bytes_per_s", g.memory_bytes_per_s}});
      }
    } else {
      doc["gpu_error"] = gpus.status().message();
    }
    std::printf("%s\n", doc.dump(2).c_str());
    return 0;
  }
  if (BuiltWithCuda()) {
    Result<CudaRuntimeInfo> cuda = ProbeCudaRuntime();
    if (cuda.ok()) {
      std::printf("cuda: runtime %d.%d, driver supports %d.%d, %zu GPU%s\n", cuda->runtime_version / 1000,
                  cuda->runtime_version % 1000 / 10, cuda->driver_version / 1000, cuda->driver_version % 1000 / 10,
                  cuda->devices.size(), cuda->devices.size() == 1 ? "" : "s");
    } else {
      std::printf("cuda: %s; riglm runs on the CPU\n", cuda.status().message().c_str());
    }
  }
  std::printf("cpu: %u threads, %s of RAM (%s free), memory bandwidth %s (measured)\n", std::thread::hardware_concurrency(),
              FormatBytes(cpu.total_bytes).c_str(), FormatBytes(cpu.free_bytes).c_str(), Rate(cpu.memory_bytes_per_s).c_str());
  if (!gpus.ok()) {
    std::printf("gpus: none (%s); riglm runs on the CPU\n", gpus.status().message().c_str());
    return 0;
  }
  if (gpus->empty()) {
    std::printf("gpus: none (NVML sees no NVIDIA GPU)\n");
    return 0;
  }
  std::printf("\n| # | name | bus | memory free / total | PCIe now | PCIe max | bandwidth | power | temp |\n");
  std::printf("| -: | ---- | --- | ------------------: | -------- | -------- | --------: | ----: | ---: |\n");
  int degraded = 0;
  for (const GpuInventory& g : *gpus) {
    degraded += g.link_degraded();
    std::printf("| %d | %s | %s | %s / %s | %s%s | %s | %s | %.0f / %.0f W | %d C |\n", g.index, g.name.c_str(),
                g.pci_bus_id.c_str(), FormatBytes(g.free_bytes).c_str(), FormatBytes(g.total_bytes).c_str(),
                g.link.ToString().c_str(), g.link_degraded() ? " (degraded)" : "", g.max_link.ToString().c_str(),
                Rate(g.memory_bytes_per_s).c_str(), g.power_w, g.power_limit_w, g.temperature_c);
  }
  if (degraded > 0) {
    std::printf("\n%d GPU%s run%s with fewer PCIe lanes than the card and slot allow: check the riser and its seating.\n"
                "Loading and pipeline hand-offs cross that link; generation itself barely does.\n",
                degraded, degraded == 1 ? "" : "s", degraded == 1 ? "s" : "");
  }
  return 0;
}

}  // namespace

void AddDevicesCommand(CLI::App& app, int& exit_code) {
  auto output = std::make_shared<std::string>("text");
  CLI::App* cmd = app.add_subcommand("devices", "List this machine's CPU and NVIDIA GPUs (memory, PCIe link, power)");
  cmd->footer("GPUs are read through NVML (libnvidia-ml from the NVIDIA driver), loaded at run time: without the\n"
              "driver riglm says so and runs on the CPU. RIGLM_NVML_LIBRARY names another library file.");
  cmd->add_option("-o,--output", *output, "text or json")->capture_default_str();
  cmd->callback([output, &exit_code] { exit_code = RunDevices(*output); });
}

}  // namespace riglm::cli
