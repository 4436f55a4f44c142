#include "device/nvml.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace riglm {
namespace {

// The few NVML declarations riglm uses, as the public nvml.h defines them, so that no NVIDIA
// header or library is needed to build.
using NvmlReturn = int;  // NVML_SUCCESS is 0
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlPciInfo {  // nvmlPciInfo_t (v3)
  char bus_id_legacy[16];
  unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};
constexpr unsigned int kTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU
constexpr unsigned int kClockMemory = 2;     // NVML_CLOCK_MEM

struct Nvml {
  void* handle = nullptr;
  NvmlReturn (*Init)() = nullptr;
  NvmlReturn (*GetCount)(unsigned int*) = nullptr;
  NvmlReturn (*GetHandle)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*GetName)(NvmlDevice, char*, unsigned int) = nullptr;
  NvmlReturn (*GetMemory)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*GetPci)(NvmlDevice, NvmlPciInfo*) = nullptr;
  NvmlReturn (*CurrGen)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*MaxGen)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*CurrWidth)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*MaxWidth)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*Power)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*PowerLimit)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*Temperature)(NvmlDevice, unsigned int, unsigned int*) = nullptr;
  NvmlReturn (*BusWidth)(NvmlDevice, unsigned int*) = nullptr;
  NvmlReturn (*MaxClock)(NvmlDevice, unsigned int, unsigned int*) = nullptr;
};

template <typename F>
void Bind(void* handle, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(handle, name));
}

// Loaded once per process; NVML stays initialized until exit (its shutdown is optional).
Result<const Nvml*> LoadNvml() {
  static std::once_flag once;
  static Nvml nvml;
  static Status status;
  std::call_once(once, [] {
    const char* path = std::getenv("RIGLM_NVML_LIBRARY");
    if (path == nullptr || *path == '\0') path = "libnvidia-ml.so.1";
    nvml.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (nvml.handle == nullptr) {
      status = NotFound(std::string("no NVIDIA driver: NVML (") + path + ") cannot be loaded");
      return;
    }
    void* h = nvml.handle;
    Bind(h, "nvmlInit_v2", &nvml.Init);
    Bind(h, "nvmlDeviceGetCount_v2", &nvml.GetCount);
    Bind(h, "nvmlDeviceGetHandleByIndex_v2", &nvml.GetHandle);
    Bind(h, "nvmlDeviceGetName", &nvml.GetName);
    Bind(h, "nvmlDeviceGetMemoryInfo", &nvml.GetMemory);
    Bind(h, "nvmlDeviceGetPciInfo_v3", &nvml.GetPci);
    Bind(h, "nvmlDeviceGetCurrPcieLinkGeneration", &nvml.CurrGen);
    Bind(h, "nvmlDeviceGetMaxPcieLinkGeneration", &nvml.MaxGen);
    Bind(h, "nvmlDeviceGetCurrPcieLinkWidth", &nvml.CurrWidth);
    Bind(h, "nvmlDeviceGetMaxPcieLinkWidth", &nvml.MaxWidth);
    Bind(h, "nvmlDeviceGetPowerUsage", &nvml.Power);
    Bind(h, "nvmlDeviceGetEnforcedPowerLimit", &nvml.PowerLimit);
    Bind(h, "nvmlDeviceGetTemperature", &nvml.Temperature);
    Bind(h, "nvmlDeviceGetMemoryBusWidth", &nvml.BusWidth);
    Bind(h, "nvmlDeviceGetMaxClockInfo", &nvml.MaxClock);
    if (!nvml.Init || !nvml.GetCount || !nvml.GetHandle) {
      status = Unsupported(std::string(path) + " lacks nvmlInit_v2 / nvmlDeviceGetCount_v2 (driver too old?)");
      return;
    }
    if (const NvmlReturn r = nvml.Init(); r != 0) {
      status = NotFound("NVML cannot start (error " + std::to_string(r) + "): the NVIDIA driver is not loaded");
    }
  });
  if (!status.ok()) return status;
  return &nvml;
}

// Calls an optional NVML query; 0 when the function is missing or fails.
template <typename F, typename... Args>
unsigned int Query(F fn, NvmlDevice device, Args... args) {
  unsigned int value = 0;
  if (fn == nullptr || fn(device, args..., &value) != 0) return 0;
  return value;
}

}  // namespace

Result<std::vector<GpuInventory>> ReadNvmlInventory() {
  RIGLM_ASSIGN_OR_RETURN(const Nvml* nvml, LoadNvml());
  unsigned int count = 0;
  if (const NvmlReturn r = nvml->GetCount(&count); r != 0) return IoError("NVML cannot count GPUs (error " + std::to_string(r) + ")");
  std::vector<GpuInventory> out;
  for (unsigned int i = 0; i < count; ++i) {
    NvmlDevice device = nullptr;
    if (nvml->GetHandle(i, &device) != 0) continue;  // e.g. a GPU fallen off the bus; the others still count
    GpuInventory g;
    g.index = static_cast<int>(i);
    char name[96] = "";
    if (nvml->GetName && nvml->GetName(device, name, sizeof name) == 0) g.name = name;
    NvmlMemory memory{};
    if (nvml->GetMemory && nvml->GetMemory(device, &memory) == 0) {
      g.total_bytes = memory.total;
      g.free_bytes = memory.free;
    }
    NvmlPciInfo pci{};
    if (nvml->GetPci && nvml->GetPci(device, &pci) == 0) g.pci_bus_id = pci.bus_id;
    g.link = {static_cast<int>(Query(nvml->CurrGen, device)), static_cast<int>(Query(nvml->CurrWidth, device))};
    g.max_link = {static_cast<int>(Query(nvml->MaxGen, device)), static_cast<int>(Query(nvml->MaxWidth, device))};
    g.power_w = Query(nvml->Power, device) / 1000.0;
    g.power_limit_w = Query(nvml->PowerLimit, device) / 1000.0;
    g.temperature_c = static_cast<int>(Query(nvml->Temperature, device, kTemperatureGpu));
    // Peak bandwidth: bytes per transfer x transfers per second (NVML's memory clock counts both edges once).
    const unsigned int bus_bits = Query(nvml->BusWidth, device), clock_mhz = Query(nvml->MaxClock, device, kClockMemory);
    g.memory_bytes_per_s = bus_bits / 8.0 * clock_mhz * 1e6 * 2.0;
    out.push_back(std::move(g));
  }
  return out;
}

DeviceInfo GpuDeviceInfo(const GpuInventory& gpu) {
  DeviceInfo d;
  d.name = "cuda:" + std::to_string(gpu.index);
  d.kind = DeviceKind::kCuda;
  d.total_bytes = gpu.total_bytes;
  d.free_bytes = gpu.free_bytes;
  d.reserve_bytes = uint64_t{512} << 20;  // CUDA context, cuBLAS workspace, fragmentation
  d.memory_bytes_per_s = gpu.memory_bytes_per_s;
  d.link = gpu.max_link.generation > 0 ? PcieLink{gpu.max_link.generation, gpu.link.width > 0 ? gpu.link.width : gpu.max_link.width}
                                       : gpu.link;
  return d;
}

}  // namespace riglm
