#include "backend/cuda/cuda_runtime.h"

#include <cuda_runtime.h>

namespace riglm {

bool BuiltWithCuda() { return true; }

Result<CudaRuntimeInfo> ProbeCudaRuntime() {
  CudaRuntimeInfo info;
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDriverGetVersion(&info.driver_version);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    return Unavailable(std::string("no usable CUDA device (") + cudaGetErrorString(e) + ")");
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    info.devices.push_back({i, p.name, static_cast<uint64_t>(p.totalGlobalMem), p.major, p.minor, p.multiProcessorCount});
  }
  if (info.devices.empty()) return Unavailable("the CUDA runtime sees no GPU");
  return info;
}

}  // namespace riglm
