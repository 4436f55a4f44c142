// The devices a model can be spread over: the CPU, GPUs (once the CUDA backend exists), and
// simulated devices that this machine does not have, so that a rig can be planned before it is
// bought. A device is described by its memory, its speed and its link to the host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace riglm {

enum class DeviceKind { kCpu, kCuda, kSimulated };
std::string_view DeviceKindName(DeviceKind kind);

struct PcieLink {
  int generation = 0;  // 0: none (the CPU is the host)
  int width = 0;       // lanes
  double bytes_per_s() const;  // usable one-way bandwidth
  std::string ToString() const;  // "PCIe 3.0 x4" or "host"
};

struct DeviceInfo {
  std::string name;  // "cpu", "cpu1", "cuda:0", "sim0"
  DeviceKind kind = DeviceKind::kCpu;
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t reserve_bytes = 0;       // kept free: driver, other programs, fragmentation
  double memory_bytes_per_s = 0.0;  // read bandwidth of the device's own memory
  PcieLink link;

  uint64_t usable_bytes() const { return free_bytes > reserve_bytes ? free_bytes - reserve_bytes : 0; }
};

// Parses a device list: comma-separated entries, each optionally prefixed by a count ("5x"):
//   cpu                          this machine's CPU and RAM
//   cuda:N                       GPU N as NVML reports it; naming one GPU k times splits it into k
//                                logical devices cuda:N, cuda:N.1, ... sharing its memory (pipeline tests)
//   sim:12GiB[@pcie3x4][@360GB/s]  a simulated GPU: memory, PCIe generation and width, memory
//                                bandwidth (default PCIe 4.0 x16 and 360 GB/s, an RTX 3060)
// or the path of a JSON file: [{"name":..., "memory": "12GiB" or bytes, "pcie": "3x4",
// "bandwidth_gbps": 360, "reserve": "512MiB"}, ...]. `cpu` entries repeat this machine's CPU,
// which splits one machine into several pipeline stages (for tests, or one per NUMA node).
Result<std::vector<DeviceInfo>> ParseDeviceList(std::string_view spec);

// This machine's real devices: the CPU (memory from /proc/meminfo, bandwidth measured briefly)
// and the GPUs NVML reports (none without the NVIDIA driver).
std::vector<DeviceInfo> DetectDevices();
DeviceInfo CpuDevice();

// A device-list entry without its count prefix ("3xcuda:0" -> "cuda:0"); *count gets the count
// (1 when there is none).
std::string_view WithoutDeviceCount(std::string_view entry, int* count = nullptr);

// The CUDA device number of "cuda", "cuda:N" or a logical device "cuda:N.k"; nullopt for a
// name that is not a GPU's.
std::optional<int> CudaDeviceOfName(std::string_view name);

// "12GiB", "512MiB", "1.5GB", "4096" (bytes) to bytes; InvalidArgument otherwise.
Result<uint64_t> ParseByteSize(std::string_view text);

}  // namespace riglm
