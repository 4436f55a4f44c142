// NVIDIA GPU inventory through NVML, loaded with dlopen when asked, so that riglm starts (and a
// CPU-only build reports GPUs) on machines without the NVIDIA driver. RIGLM_NVML_LIBRARY names
// another library (tests use a fake one).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device/device.h"

namespace riglm {

struct GpuInventory {
  int index = 0;
  std::string name;          // "NVIDIA GeForce RTX 3060"
  std::string pci_bus_id;    // "00000000:01:00.0"
  uint64_t total_bytes = 0, free_bytes = 0;
  PcieLink link;             // as the link runs now (idle GPUs often drop to a lower generation)
  PcieLink max_link;         // the best this GPU and its slot can do
  double power_w = 0, power_limit_w = 0;
  int temperature_c = 0;
  double memory_bytes_per_s = 0;  // peak, from the memory bus width and clock (0 when unknown)

  // Fewer lanes than the slot and card allow: a loose riser, a slot shared with another one.
  bool link_degraded() const { return link.width > 0 && max_link.width > 0 && link.width < max_link.width; }
};

// Every GPU NVML sees. NotFound (saying the driver is missing) when the library cannot be loaded
// or initialized; fields NVML cannot give are left 0.
Result<std::vector<GpuInventory>> ReadNvmlInventory();

// The planner's view of a GPU: named cuda:N, with its best link and a reserve for the driver.
DeviceInfo GpuDeviceInfo(const GpuInventory& gpu);

}  // namespace riglm
