// A stand-in for libnvidia-ml.so.1 with two GPUs of a mining rig, loaded by riglm's NVML code
// through RIGLM_NVML_LIBRARY: GPU 0 is an RTX 3060 whose x16 link runs at x1 (a riser), GPU 1 a
// healthy RTX 3090 at PCIe 4.0 x16.
#include <cstring>

namespace {
struct FakeDevice {
  const char* name;
  unsigned long long total, free;
  unsigned int gen, max_gen, width, max_width, power_mw, limit_mw, temp, bus_bits, mem_mhz;
  const char* bus_id;
};
const FakeDevice kDevices[] = {
    {"NVIDIA GeForce RTX 3060", 12ull << 30, 11ull << 30, 1, 3, 1, 16, 35500, 170000, 41, 192, 7501, "00000000:01:00.0"},
    {"NVIDIA GeForce RTX 3090", 24ull << 30, 23ull << 30, 4, 4, 16, 16, 110000, 350000, 55, 384, 9751, "00000000:02:00.0"},
};
struct Memory {
  unsigned long long total, free, used;
};
struct PciInfo {
  char bus_id_legacy[16];
  unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
};
const FakeDevice* D(void* device) { return static_cast<const FakeDevice*>(device); }
}  // namespace

extern "C" {
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetCount_v2(unsigned int* count) {
  *count = 2;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (index >= 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *device = const_cast<FakeDevice*>(&kDevices[index]);
  return 0;
}
int nvmlDeviceGetName(void* device, char* name, unsigned int length) {
  std::strncpy(name, D(device)->name, length - 1);
  name[length - 1] = '\0';
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* device, Memory* memory) {
  *memory = {D(device)->total, D(device)->free, D(device)->total - D(device)->free};
  return 0;
}
int nvmlDeviceGetPciInfo_v3(void* device, PciInfo* pci) {
  std::memset(pci, 0, sizeof *pci);
  std::strcpy(pci->bus_id, D(device)->bus_id);
  return 0;
}
int nvmlDeviceGetCurrPcieLinkGeneration(void* device, unsigned int* v) { return *v = D(device)->gen, 0; }
int nvmlDeviceGetMaxPcieLinkGeneration(void* device, unsigned int* v) { return *v = D(device)->max_gen, 0; }
int nvmlDeviceGetCurrPcieLinkWidth(void* device, unsigned int* v) { return *v = D(device)->width, 0; }
int nvmlDeviceGetMaxPcieLinkWidth(void* device, unsigned int* v) { return *v = D(device)->max_width, 0; }
int nvmlDeviceGetPowerUsage(void* device, unsigned int* v) { return *v = D(device)->power_mw, 0; }
int nvmlDeviceGetEnforcedPowerLimit(void* device, unsigned int* v) { return *v = D(device)->limit_mw, 0; }
int nvmlDeviceGetTemperature(void* device, unsigned int sensor, unsigned int* v) {
  if (sensor != 0) return 2;
  return *v = D(device)->temp, 0;
}
int nvmlDeviceGetMemoryBusWidth(void* device, unsigned int* v) { return *v = D(device)->bus_bits, 0; }
int nvmlDeviceGetMaxClockInfo(void* device, unsigned int clock, unsigned int* v) {
  if (clock != 2) return 2;
  return *v = D(device)->mem_mhz, 0;
}
}
