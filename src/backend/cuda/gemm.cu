// Prompt-sized matrix products: the weights decoded to an F16 tile once per call, the prompt's
// activations rounded to F16, and cuBLAS multiplying them on tensor cores with float
// accumulation. Decoding costs one read of the weights and a write and read of the tile, small
// next to the product once a prompt has more than a few dozen tokens.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"

namespace riglm::cuda {
namespace {

Status CheckCublas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Internal(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(s)));
}

}  // namespace

Status MatMulRows(void* cublas, DType type, const void* weights, int64_t rows, int64_t cols, const float* x, int64_t n,
                  float* y, void* half_weights, void* half_x, void* stream) {
  if (n == 0) return Status::Ok();
  auto handle = static_cast<cublasHandle_t>(cublas);
  RIGLM_RETURN_IF_ERROR(DequantizeToHalf(type, weights, rows, cols, half_weights, stream));
  RIGLM_RETURN_IF_ERROR(FloatsToHalves(x, n * cols, half_x, stream));
  RIGLM_RETURN_IF_ERROR(CheckCublas(cublasSetStream(handle, static_cast<cudaStream_t>(stream)), "cublasSetStream"));
  // Column-major view: the row-major weights are W^T (cols x rows), the activations X^T
  // (cols x n), and Y^T (rows x n) = W X^T is the row-major y.
  const float alpha = 1.0f, beta = 0.0f;
  return CheckCublas(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(n),
                                  static_cast<int>(cols), &alpha, half_weights, CUDA_R_16F, static_cast<int>(cols), half_x,
                                  CUDA_R_16F, static_cast<int>(cols), &beta, y, CUDA_R_32F, static_cast<int>(rows),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx");
}

Result<std::vector<float>> MatMulRowsOnHost(DType type, std::span<const uint8_t> weights, int64_t rows, int64_t cols,
                                            std::span<const float> x, int64_t n) {
  cublasHandle_t handle = nullptr;
  RIGLM_RETURN_IF_ERROR(CheckCublas(cublasCreate(&handle), "cublasCreate"));
  struct Destroy {
    cublasHandle_t handle;
    ~Destroy() { cublasDestroy(handle); }
  } destroy{handle};
  DeviceBuffer w, xd, yd, hw, hx;
  RIGLM_RETURN_IF_ERROR(w.Upload(weights.data(), weights.size()));
  RIGLM_RETURN_IF_ERROR(xd.Upload(x.data(), x.size_bytes()));
  RIGLM_RETURN_IF_ERROR(yd.Upload(nullptr, n * rows * sizeof(float)));
  RIGLM_RETURN_IF_ERROR(hw.Upload(nullptr, rows * cols * sizeof(__half)));
  RIGLM_RETURN_IF_ERROR(hx.Upload(nullptr, n * cols * sizeof(__half)));
  RIGLM_RETURN_IF_ERROR(MatMulRows(handle, type, w.ptr, rows, cols, static_cast<const float*>(xd.ptr), n,
                                   static_cast<float*>(yd.ptr), hw.ptr, hx.ptr, nullptr));
  return yd.Download<float>(n * rows);
}

}  // namespace riglm::cuda
