// The CUDA runtime probe of builds without -DRIGLM_CUDA=ON.
#include "backend/cuda/cuda_runtime.h"

namespace riglm {

bool BuiltWithCuda() { return false; }

Result<CudaRuntimeInfo> ProbeCudaRuntime() {
  return Unsupported("this riglm was built without the CUDA backend (configure with -DRIGLM_CUDA=ON)");
}

Result<std::unique_ptr<SequenceDecoder>> CreateCudaDecoder(const LlamaModel&, int, int64_t) {
  return Unsupported("this riglm was built without the CUDA backend (configure with -DRIGLM_CUDA=ON)");
}

}  // namespace riglm
