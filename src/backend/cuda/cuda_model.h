// A llama-family model on one GPU or pipelined over several (or over logical devices of one):
// each stage holds its layers' matrices, norms and an F16 KV cache in its GPU's memory and runs
// one sequence for them from the kernels in cuda_kernels.h: a prompt in chunks through cuBLAS,
// then a token at a time through the matrix-vector kernels, each stage's decode step captured
// once as a CUDA graph and replayed (RIGLM_CUDA_GRAPH=0 launches the kernels one by one). The first stage looks up the token
// embeddings, the last applies the output head, and only hidden states (a row of floats per
// token) move between stages. Only in CUDA builds.
#pragma once

#include <memory>
#include <span>
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
  // Runs a prompt at positions position, position + 1, ... in chunks of up to 512 tokens
  // (matrix products through cuBLAS) and returns the logits after its last token.
  Status Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits);


 private:
  struct Impl;
  explicit CudaModel(std::unique_ptr<Impl> impl);
  // `logits` null: run without the output head (a prompt chunk before the last).
  Status Run(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits);
  std::unique_ptr<Impl> impl_;
};

}  // namespace riglm::cuda
