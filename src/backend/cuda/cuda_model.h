// A llama-family model on one GPU: its matrices, norms and biases copied into device memory, an
// F16 KV cache there, and the decode step of one sequence built from the kernels in
// cuda_kernels.h. The token embedding stays in host memory (one row is looked up per token), as
// llama.cpp keeps it. First version: one token at a time, one sequence; only in CUDA builds.
#pragma once

#include <memory>
#include <vector>

#include "model/llama_model.h"

namespace riglm::cuda {

class CudaModel {
 public:
  // Copies the weights of `model` (which must outlive this object) to GPU `device` and makes room
  // for `context` positions. Unsupported for weight types without a kernel.
  static Result<std::unique_ptr<CudaModel>> Create(const LlamaModel& model, int device, int64_t context);
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  // Runs `token` at `position` (positions 0..position-1 must have run) and returns the logits.
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits);

  uint64_t device_bytes() const;

 private:
  struct Impl;
  explicit CudaModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace riglm::cuda
