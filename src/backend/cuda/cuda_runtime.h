// What the CUDA runtime of a -DRIGLM_CUDA=ON build sees. Builds without CUDA answer that they
// have none, so callers need no #ifdefs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/decoder.h"
#include "loader/loader.h"
#include "model/llama_model.h"
#include "util/status.h"

namespace riglm {

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

// One stage of a model pipelined over GPUs: layers [first_layer, end_layer) on CUDA device
// `device`. Several stages may share one GPU (its logical devices cuda:N, cuda:N.1, ...), which
// tests pipeline code on one card; `memory_cap` bounds what a stage may allocate (0: no bound).
struct CudaStage {
  std::string name;  // "cuda:0.1", for messages
  int device = 0;
  int64_t first_layer = 0;
  int64_t end_layer = 0;  // one past the last
  uint64_t memory_cap = 0;
};

// `model` (which must outlive the decoder) on `stages`, with room for `context` positions: the
// CUDA decode step of one sequence, the hidden state handed from stage to stage by peer copy.
// A model bound by LoadCudaModel already has its matrices on the stages' GPUs; any other is
// copied there. Unsupported in builds without CUDA and for weight types the kernels lack;
// Unavailable without a usable GPU; OutOfMemory past a stage's memory cap.
Result<std::unique_ptr<SequenceDecoder>> CreateCudaDecoder(const LlamaModel& model, const std::vector<CudaStage>& stages,
                                                           int64_t context);

struct CudaModelLoad {
  std::unique_ptr<LlamaModel> model;  // header, config, norms; matrices in GPU memory
  std::unique_ptr<SequenceDecoder> decoder;  // uses `model`: declared after it, destroyed before
  LoadStats stats;                    // bytes streamed, seconds, host staging memory
  uint64_t device_bytes = 0;          // weights placed on the GPUs
};

// Streams the model in `source` (a file, URL, folder or synthetic source) straight into the
// GPUs of `stages`: each tensor goes from the source through the loader's staging buffers and a
// few pinned buffers per stage to the GPU of its stage, so host memory stays bounded whatever
// the model's size and several GPUs fill in parallel. Vectors (norms, biases: a few MiB) also
// stay in host memory.
Result<CudaModelLoad> LoadCudaModel(ByteSource& source, const std::vector<CudaStage>& stages, int64_t context,
                                    const LoadOptions& options);

}  // namespace riglm
