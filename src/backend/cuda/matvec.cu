// Matrix-vector products over quantized weights: one warp per row, reading 32 blocks at a time
// through shared memory with coalesced loads, each lane dequantizing one block in registers
// (weight_blocks.h), then a warp reduction. Exact first; layouts tuned to the bandwidth come with
// measurements on a GPU.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/weight_blocks.h"

namespace riglm::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 4;  // warps per thread block

// Copies `bytes` from global memory to the warp's tile: 16 bytes per lane and load where both
// ends allow it (rows of 32 K-quant or 32-element blocks usually do), else byte by byte.
__device__ __forceinline__ void LoadTile(const uint8_t* __restrict__ src, int bytes, uint8_t* tile, int lane) {
  if (reinterpret_cast<uintptr_t>(src) % 16 == 0 && bytes % 16 == 0) {
    const uint4* from = reinterpret_cast<const uint4*>(src);
    uint4* to = reinterpret_cast<uint4*>(tile);
    for (int i = lane; i < bytes / 16; i += kWarp) to[i] = __ldg(from + i);
  } else {
    for (int i = lane; i < bytes; i += kWarp) tile[i] = src[i];
  }
}

// One warp per row, each lane decoding whole blocks straight from global memory: the first
// version, kept to compare with (RIGLM_CUDA_MATVEC=direct).
template <DType kType>
__global__ void DirectMatVecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, const float* __restrict__ x,
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

// One warp per row. The warp reads 32 consecutive weight blocks at a time into shared memory
// with wide, coalesced loads (a lane reading its own block straight from memory would touch 32
// scattered lines per load instruction), then each lane decodes one block from there.
template <DType kType>
__global__ void MatVecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, const float* __restrict__ x,
                             float* __restrict__ y) {
  using B = WeightBlock<kType>;
  __shared__ __align__(16) uint8_t tiles[kRowsPerBlock][kWarp * B::kBytes];
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;  // the whole warp: it shares the row, and only warp barriers follow
  const int lane = threadIdx.x;
  uint8_t* tile = tiles[threadIdx.y];
  const int64_t blocks = cols / B::kElements;
  const uint8_t* row_bytes = w + row * blocks * B::kBytes;
  float sum = 0.0f;
  for (int64_t first = 0; first < blocks; first += kWarp) {
    const int count = static_cast<int>(blocks - first < kWarp ? blocks - first : kWarp);
    LoadTile(row_bytes + first * B::kBytes, count * B::kBytes, tile, lane);
    __syncwarp();
    if (lane < count) {
      const float* xb = x + (first + lane) * B::kElements;
      B::Visit(tile + lane * B::kBytes, [&](int j, float weight) { sum += weight * xb[j]; });
    }
    __syncwarp();  // every lane has decoded its block before the tile is refilled
  }
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (lane == 0) y[row] = sum;
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
  static const bool direct = [] {
    const char* v = std::getenv("RIGLM_CUDA_MATVEC");
    return v != nullptr && std::string(v) == "direct";
  }();
  if (direct) {
    DirectMatVecKernel<kType><<<grid, threads, 0, stream>>>(static_cast<const uint8_t*>(w), rows, cols, x, y);
  } else {
    MatVecKernel<kType><<<grid, threads, 0, stream>>>(static_cast<const uint8_t*>(w), rows, cols, x, y);
  }
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
