// What the CUDA runtime of a -DRIGLM_CUDA=ON build sees. Builds without CUDA answer that they
// have none, so callers need no #ifdefs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/decoder.h"
#include "util/status.h"

namespace riglm {

class LlamaModel;

struct CudaDeviceProperties {
  int index = 0;
  std::string name;
  uint64_t total_bytes = 0;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
};

struct CudaRuntimeInfo {
  int runtime_version = 0;  // 13000 for 13.0
  int driver_version = 0;   // the newest CUDA the driver supports; 0 without a driver
  std::vector<CudaDeviceProperties> devices;
};

// True when this binary was built with the CUDA backend.
bool BuiltWithCuda();
// Unsupported in builds without CUDA; Unavailable (with the runtime's reason) when the build has
// CUDA but the machine has no usable driver or GPU.
Result<CudaRuntimeInfo> ProbeCudaRuntime();

// `model` (which must outlive the decoder) on GPU `device`, with room for `context` positions:
// the CUDA decode step of one sequence. Unsupported in builds without CUDA and for weight types
// the kernels lack; Unavailable without a usable GPU.
Result<std::unique_ptr<SequenceDecoder>> CreateCudaDecoder(const LlamaModel& model, int device, int64_t context);

}  // namespace riglm
