#include "device/device.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "backend/cpu/bandwidth.h"
#include "backend/cuda/cuda_runtime.h"
#include "device/nvml.h"
#include "util/strings.h"
#include "util/thread_pool.h"

namespace riglm {

std::string_view DeviceKindName(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kCuda: return "cuda";
    case DeviceKind::kSimulated: return "simulated";
  }
  return "unknown";
}

double PcieLink::bytes_per_s() const {
  // Per lane after line encoding: 2.5 and 5 GT/s with 8b/10b, then 128b/130b from 3.0 on.
  static constexpr double kPerLane[] = {0, 250e6, 500e6, 985e6, 1969e6, 3938e6, 7877e6};
  if (generation <= 0 || width <= 0) return 0.0;
  return kPerLane[std::min(generation, 6)] * width;
}

std::string PcieLink::ToString() const {
  if (generation <= 0) return "host";
  return "PCIe " + std::to_string(generation) + ".0 x" + std::to_string(width);
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  const std::string s = ToLower(text);
  size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(s, &used);
  } catch (...) {
    return InvalidArgument("'" + std::string(text) + "' is not a size (examples: 12GiB, 512MiB, 8GB)");
  }
  const std::string unit = s.substr(used);
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1}, {"b", 1}, {"k", 1024}, {"kib", 1024}, {"kb", 1e3}, {"m", 1 << 20}, {"mib", 1 << 20},
      {"mb", 1e6}, {"g", 1 << 30}, {"gib", 1 << 30}, {"gb", 1e9}, {"t", 1099511627776.0}, {"tib", 1099511627776.0},
      {"tb", 1e12}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name && value >= 0 && std::isfinite(value)) return static_cast<uint64_t>(value * scale);
  }
  return InvalidArgument("'" + std::string(text) + "' is not a size (examples: 12GiB, 512MiB, 8GB)");
}

namespace {

uint64_t MeminfoBytes(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (StartsWith(line, key + ":")) return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10) * 1024;
  }
  return 0;
}

DeviceInfo SimulatedDevice(uint64_t memory, PcieLink link, double bandwidth) {
  DeviceInfo d;
  d.kind = DeviceKind::kSimulated;
  d.total_bytes = d.free_bytes = memory;
  // What a CUDA context, cuBLAS workspace and the desktop typically take on a consumer GPU.
  d.reserve_bytes = std::min<uint64_t>(memory / 10, uint64_t{512} << 20);
  d.memory_bytes_per_s = bandwidth;
  d.link = link;
  return d;
}

Result<PcieLink> ParsePcie(std::string_view text) {
  // "pcie3x4" or "3x4"
  std::string s = ToLower(text);
  if (StartsWith(s, "pcie")) s = s.substr(4);
  const size_t x = s.find('x');
  PcieLink link;
  if (x == std::string::npos || x == 0) return InvalidArgument("'" + std::string(text) + "' is not a PCIe link (e.g. pcie3x4)");
  link.generation = std::atoi(s.substr(0, x).c_str());
  link.width = std::atoi(s.substr(x + 1).c_str());
  if (link.generation < 1 || link.generation > 6 || (link.width != 1 && link.width != 2 && link.width != 4 &&
                                                     link.width != 8 && link.width != 16)) {
    return InvalidArgument("'" + std::string(text) + "': PCIe generation 1-6 and width 1, 2, 4, 8 or 16");
  }
  return link;
}

Result<double> ParseBandwidth(std::string_view text) {
  // "360GB/s" or "360gbps"
  std::string s = ToLower(text);
  for (const char* suffix : {"gb/s", "gbps", "gbs"}) {
    if (EndsWith(s, suffix)) {
      const double v = std::atof(s.substr(0, s.size() - std::strlen(suffix)).c_str());
      if (v > 0) return v * 1e9;
    }
  }
  return InvalidArgument("'" + std::string(text) + "' is not a memory bandwidth (e.g. 360GB/s)");
}

Result<DeviceInfo> ParseSimulated(std::string_view body) {
  // 12GiB[@pcie3x4][@360GB/s]
  const std::vector<std::string_view> parts = SplitString(body, '@');
  RIGLM_ASSIGN_OR_RETURN(uint64_t memory, ParseByteSize(parts[0]));
  if (memory == 0) return InvalidArgument("a simulated device needs some memory");
  PcieLink link{4, 16};
  double bandwidth = 360e9;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string part = ToLower(parts[i]);
    if (EndsWith(part, "/s") || EndsWith(part, "gbps")) {
      RIGLM_ASSIGN_OR_RETURN(bandwidth, ParseBandwidth(parts[i]));
    } else {
      RIGLM_ASSIGN_OR_RETURN(link, ParsePcie(parts[i]));
    }
  }
  return SimulatedDevice(memory, link, bandwidth);
}

Result<std::vector<DeviceInfo>> ParseDeviceFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open the device file");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) return InvalidArgument(path + ": expected a JSON array of devices");
  std::vector<DeviceInfo> out;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("memory")) return InvalidArgument(path + ": every device needs \"memory\"");
    uint64_t memory = 0;
    if (e["memory"].is_number_unsigned()) {
      memory = e["memory"].get<uint64_t>();
    } else if (e["memory"].is_string()) {
      RIGLM_ASSIGN_OR_RETURN(memory, ParseByteSize(e["memory"].get<std::string>()));
    } else {
      return InvalidArgument(path + ": \"memory\" must be a size like \"12GiB\" or a number of bytes");
    }
    PcieLink link{4, 16};
    if (e.contains("pcie")) {
      if (!e["pcie"].is_string()) return InvalidArgument(path + ": \"pcie\" must be a string like \"3x4\"");
      RIGLM_ASSIGN_OR_RETURN(link, ParsePcie(e["pcie"].get<std::string>()));
    }
    double bandwidth = 360e9;
    if (e.contains("bandwidth_gbps")) {
      if (!e["bandwidth_gbps"].is_number() || e["bandwidth_gbps"].get<double>() <= 0) {
        return InvalidArgument(path + ": \"bandwidth_gbps\" must be a positive number");
      }
      bandwidth = e["bandwidth_gbps"].get<double>() * 1e9;
    }
    DeviceInfo d = SimulatedDevice(memory, link, bandwidth);
    if (e.contains("reserve")) {
      if (!e["reserve"].is_string()) return InvalidArgument(path + ": \"reserve\" must be a size like \"512MiB\"");
      RIGLM_ASSIGN_OR_RETURN(d.reserve_bytes, ParseByteSize(e["reserve"].get<std::string>()));
    }
    if (e.contains("name") && e["name"].is_string()) d.name = e["name"].get<std::string>();
    out.push_back(d);
  }
  if (out.empty()) return InvalidArgument(path + ": no devices");
  return out;
}

// The GPUs as NVML describes them; without NVML, what the CUDA runtime reports (name and memory,
// no link or bandwidth), after saying so once.
Result<std::vector<GpuInventory>> GpuInventoryWithFallback() {
  Result<std::vector<GpuInventory>> nvml = ReadNvmlInventory();
  if (nvml.ok()) return nvml;
  Result<CudaRuntimeInfo> runtime = ProbeCudaRuntime();
  if (!runtime.ok()) return nvml.status();
  std::fprintf(stderr, "riglm: %s; using what the CUDA runtime reports (no link or bandwidth figures)\n",
               nvml.status().message().c_str());
  std::vector<GpuInventory> gpus;
  for (const CudaDeviceProperties& p : runtime->devices) {
    GpuInventory g;
    g.index = p.index;
    g.name = p.name;
    g.total_bytes = g.free_bytes = p.total_bytes;
    gpus.push_back(g);
  }
  return gpus;
}

// "cuda" or "cuda:N": GPU N as NVML (or the CUDA runtime) describes it.
Result<DeviceInfo> CudaDeviceEntry(std::string_view entry, std::optional<Result<std::vector<GpuInventory>>>* gpus) {
  const std::optional<int> n = CudaDeviceOfName(entry);
  if (!n || entry.find('.') != std::string_view::npos) {
    return InvalidArgument("'" + std::string(entry) + "': write a GPU as cuda:N (N from riglm devices)");
  }
  if (!gpus->has_value()) *gpus = GpuInventoryWithFallback();
  const Result<std::vector<GpuInventory>>& inventory = **gpus;
  if (!inventory.ok()) return Unavailable("'" + std::string(entry) + "': " + inventory.status().message());
  for (const GpuInventory& gpu : *inventory) {
    if (gpu.index == *n) return GpuDeviceInfo(gpu);
  }
  return InvalidArgument("'" + std::string(entry) + "': this machine has " + std::to_string(inventory->size()) + " GPU(s)");
}

}  // namespace

DeviceInfo CpuDevice() {
  DeviceInfo d;
  d.name = "cpu";
  d.kind = DeviceKind::kCpu;
  d.total_bytes = MeminfoBytes("MemTotal");
  d.free_bytes = MeminfoBytes("MemAvailable");
  // The operating system, the server itself and the page cache it streams through.
  d.reserve_bytes = std::min<uint64_t>(d.total_bytes / 8, uint64_t{1} << 30);
  static const double bandwidth = [] {
    ThreadPool pool(ThreadPool::DefaultThreadCount());
    return cpu::MeasureReadBandwidth(pool, uint64_t{128} << 20, 2);
  }();
  d.memory_bytes_per_s = bandwidth;
  return d;
}

std::vector<DeviceInfo> DetectDevices() {
  std::vector<DeviceInfo> devices = {CpuDevice()};
  if (Result<std::vector<GpuInventory>> gpus = ReadNvmlInventory(); gpus.ok()) {
    for (const GpuInventory& gpu : *gpus) devices.push_back(GpuDeviceInfo(gpu));
  }
  return devices;
}

std::string_view WithoutDeviceCount(std::string_view entry, int* count) {
  if (count) *count = 1;
  const size_t x = entry.find('x');
  if (x != std::string_view::npos && x > 0 && entry.substr(0, x).find_first_not_of("0123456789") == std::string_view::npos) {
    if (count) *count = std::atoi(std::string(entry.substr(0, x)).c_str());
    return entry.substr(x + 1);
  }
  return entry;
}

std::optional<int> CudaDeviceOfName(std::string_view name) {
  if (name == "cuda") return 0;
  if (!StartsWith(name, "cuda:")) return std::nullopt;
  std::string_view index = name.substr(5);
  if (const size_t dot = index.find('.'); dot != std::string_view::npos) {
    const std::string_view logical = index.substr(dot + 1);
    if (logical.empty() || logical.size() > 2 || logical.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    index = index.substr(0, dot);
  }
  if (index.empty() || index.size() > 3 || index.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return std::atoi(std::string(index).c_str());
}

Result<std::vector<DeviceInfo>> ParseDeviceList(std::string_view spec) {
  if (spec.empty()) return InvalidArgument("empty device list");
  if (EndsWith(spec, ".json")) return ParseDeviceFile(std::string(spec));
  std::vector<DeviceInfo> out;
  int cpus = 0, sims = 0;
  std::optional<DeviceInfo> host;
  std::optional<Result<std::vector<GpuInventory>>> gpus;  // read once, on the first cuda entry
  for (std::string_view entry : SplitString(spec, ',')) {
    int count = 1;
    entry = WithoutDeviceCount(entry, &count);
    if (count < 1 || count > 64) return InvalidArgument("device count must be 1 to 64");
    for (int i = 0; i < count; ++i) {
      if (entry == "cpu") {
        // One reading of the host for every cpu entry: they are the same machine, and readings
        // taken moments apart would give the stages slightly different (and so shifting) shares.
        if (!host) host = CpuDevice();
        DeviceInfo d = *host;
        d.name = cpus == 0 ? "cpu" : "cpu" + std::to_string(cpus);
        ++cpus;
        out.push_back(d);
      } else if (StartsWith(entry, "sim:")) {
        RIGLM_ASSIGN_OR_RETURN(DeviceInfo d, ParseSimulated(entry.substr(4)));
        d.name = "sim" + std::to_string(sims++);
        out.push_back(d);
      } else if (StartsWith(entry, "cuda")) {
        RIGLM_ASSIGN_OR_RETURN(DeviceInfo d, CudaDeviceEntry(entry, &gpus));
        out.push_back(d);
      } else {
        return InvalidArgument("unknown device '" + std::string(entry) +
                               "' (expected cpu, cuda:N, sim:12GiB@pcie3x4, a count like 5x, or a .json file)");
      }
    }
  }
  // CPU entries share one machine's memory; entries naming the same GPU share its memory and
  // become its logical devices cuda:N, cuda:N.1, cuda:N.2, ...
  std::map<std::string, int> sharing, seen;
  for (const DeviceInfo& d : out) ++sharing[d.kind == DeviceKind::kCpu ? "cpu" : d.name];
  for (DeviceInfo& d : out) {
    if (d.kind == DeviceKind::kSimulated) continue;
    const std::string key = d.kind == DeviceKind::kCpu ? "cpu" : d.name;
    const int n = sharing[key];
    if (n < 2) continue;
    d.total_bytes /= n;
    d.free_bytes /= n;
    d.reserve_bytes /= n;
    if (d.kind == DeviceKind::kCuda) {
      const int k = seen[key]++;
      if (k > 0) d.name += "." + std::to_string(k);
    }
  }
  // Names from a JSON file or counts stay unique.
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].name.empty()) out[i].name = "dev" + std::to_string(i);
  }
  return out;
}

}  // namespace riglm
