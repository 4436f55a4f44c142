// Matrix-vector products over quantized weights: one warp per row, each lane taking whole blocks
// and dequantizing them in registers (weight_blocks.h), then a warp reduction. Simple and exact first; the
// bandwidth-tuned layouts come with measurements on a GPU.
#include <cuda_fp16.h>
#include <cuda_runtime.h>


#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/weight_blocks.h"

namespace riglm::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 4;  // warps per thread block

template <DType kType>
__global__ void MatVecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, const float* __restrict__ x,
                             float* __restrict__ y) {
  using B = WeightBlock<kType>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const int64_t blocks = cols / B::kElements;
  const uint8_t* row_bytes = w + row * blocks * B::kBytes;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < blocks; i += kWarp) {
    const float* xb = x + i * B::kElements;
    B::Visit(row_bytes + i * B::kBytes, [&](int j, float weight) { sum += weight * xb[j]; });
  }
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (threadIdx.x == 0) y[row] = sum;
}

__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ weight, float* __restrict__ y,
                              int64_t cols, float eps) {
  __shared__ float partial[32];
  const float* xr = x + blockIdx.x * cols;
  float* yr = y + blockIdx.x * cols;
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += xr[c] * xr[c];
  for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = sum;
  __syncthreads();
  if (threadIdx.x < kWarp) {
    sum = threadIdx.x < blockDim.x / kWarp ? partial[threadIdx.x] : 0.0f;
    for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (threadIdx.x == 0) partial[0] = sum;
  }
  __syncthreads();
  const float scale = rsqrtf(partial[0] / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = xr[c] * scale * weight[c];
}

template <DType kType>
Status Launch(const void* w, int64_t rows, int64_t cols, const float* x, float* y, cudaStream_t stream) {
  if (cols % WeightBlock<kType>::kElements != 0) {
    return InvalidArgument("rows of " + std::to_string(cols) + " elements are not whole " + std::string(DTypeName(kType)) + " blocks");
  }
  const dim3 threads(kWarp, kRowsPerBlock);
  const dim3 grid(static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock));
  MatVecKernel<kType><<<grid, threads, 0, stream>>>(static_cast<const uint8_t*>(w), rows, cols, x, y);
  return CheckCuda(cudaGetLastError(), "matrix-vector kernel");
}

}  // namespace

bool MatVecSupports(DType type) {
  return WithWeightBlock(type, [&]<DType>() { return true; }, false);  // [&]: nvcc refuses a capture-less template lambda here
}

Status MatVec(DType type, const void* weights, int64_t rows, int64_t cols, const float* x, float* y, void* stream) {
  return WithWeightBlock(
      type, [&]<DType kType>() { return Launch<kType>(weights, rows, cols, x, y, static_cast<cudaStream_t>(stream)); },
      Unsupported("no CUDA matrix-vector kernel for " + std::string(DTypeName(type)) + " weights"));
}

Status RmsNorm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, float eps, void* stream) {
  RmsNormKernel<<<static_cast<unsigned>(rows), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, weight, y, cols, eps);
  return CheckCuda(cudaGetLastError(), "RMSNorm kernel");
}

Result<std::vector<float>> MatVecOnHost(DType type, std::span<const uint8_t> weights, int64_t rows, int64_t cols,
                                        std::span<const float> x) {
  DeviceBuffer w, xd, yd;
  RIGLM_RETURN_IF_ERROR(w.Upload(weights.data(), weights.size()));
  RIGLM_RETURN_IF_ERROR(xd.Upload(x.data(), x.size_bytes()));
  RIGLM_RETURN_IF_ERROR(yd.Upload(nullptr, rows * sizeof(float)));
  RIGLM_RETURN_IF_ERROR(MatVec(type, w.ptr, rows, cols, static_cast<const float*>(xd.ptr), static_cast<float*>(yd.ptr), nullptr));
  return yd.Download<float>(rows);
}

Result<std::vector<float>> RmsNormOnHost(std::span<const float> x, std::span<const float> weight, int64_t rows, float eps) {
  DeviceBuffer xd, wd, yd;
  RIGLM_RETURN_IF_ERROR(xd.Upload(x.data(), x.size_bytes()));
  RIGLM_RETURN_IF_ERROR(wd.Upload(weight.data(), weight.size_bytes()));
  RIGLM_RETURN_IF_ERROR(yd.Upload(nullptr, x.size_bytes()));
  RIGLM_RETURN_IF_ERROR(RmsNorm(static_cast<const float*>(xd.ptr), static_cast<const float*>(wd.ptr), static_cast<float*>(yd.ptr),
                                rows, static_cast<int64_t>(weight.size()), eps, nullptr));
  return yd.Download<float>(x.size());
}

}  // namespace riglm::cuda
