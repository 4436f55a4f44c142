// A llama-family model on one GPU or pipelined over several (or over logical devices of one):
// each stage holds its layers' matrices, norms and an F16 KV cache in its GPU's memory and runs
// the decode step of one sequence for them from the kernels in cuda_kernels.h; the first stage
// looks up the token embedding, the last applies the output head, and only the hidden state
// (one row of floats) moves between stages. One token at a time, one sequence; only in CUDA
// builds.
#pragma once

#include <memory>
#include <vector>

#include "backend/cuda/cuda_runtime.h"
#include "model/llama_model.h"

namespace riglm::cuda {

class CudaModel {
 public:
  // `model` must outlive this object. Its matrices are copied to the stages' GPUs, unless
  // model.matrices_on_device(), when they already are there (LoadCudaModel put them) and are used
  // in place. Unsupported for weight types without a kernel; OutOfMemory past a memory cap.
  static Result<std::unique_ptr<CudaModel>> Create(const LlamaModel& model, const std::vector<CudaStage>& stages,
                                                   int64_t context);
  // One stage with every layer on GPU `device`.
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
