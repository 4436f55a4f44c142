// The CUDA entry points of builds without -DRIGLM_CUDA=ON: each says how to get them.
#include "backend/cuda/cuda_runtime.h"

namespace riglm {
namespace {

Status NoCuda() { return Unsupported("this riglm was built without the CUDA backend (configure with -DRIGLM_CUDA=ON)"); }

}  // namespace

bool BuiltWithCuda() { return false; }

Result<CudaRuntimeInfo> ProbeCudaRuntime() { return NoCuda(); }

Result<std::unique_ptr<SequenceDecoder>> CreateCudaDecoder(const LlamaModel&, const std::vector<CudaStage>&, int64_t) {
  return NoCuda();
}

Result<CudaModelLoad> LoadCudaModel(ByteSource&, const std::vector<CudaStage>&, int64_t, const LoadOptions&) { return NoCuda(); }

}  // namespace riglm
