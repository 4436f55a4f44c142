// Matrix-vector products over quantized weights: one warp per row, each lane taking whole blocks
// and dequantizing them in registers, then a warp reduction. Simple and exact first; the
// bandwidth-tuned layouts come with measurements on a GPU.
#include <cuda_fp16.h>
#include <cuda_runtime.h>


#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"

namespace riglm::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 4;  // warps per thread block

__device__ __forceinline__ float Half(const uint8_t* p) {
  uint16_t bits;
  memcpy(&bits, p, 2);
  return __half2float(__ushort_as_half(bits));
}

__device__ __forceinline__ float BFloat(const uint8_t* p) {
  uint16_t bits;
  memcpy(&bits, p, 2);
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

// The dot product of one block of weights with the matching activations.
template <DType kType>
struct Block;

template <>
struct Block<DType::kF32> {
  static constexpr int kElements = 1, kBytes = 4;
  __device__ static float Dot(const uint8_t* b, const float* x) {
    float w;
    memcpy(&w, b, 4);
    return w * x[0];
  }
};

template <>
struct Block<DType::kF16> {
  static constexpr int kElements = 1, kBytes = 2;
  __device__ static float Dot(const uint8_t* b, const float* x) { return Half(b) * x[0]; }
};

template <>
struct Block<DType::kBF16> {
  static constexpr int kElements = 1, kBytes = 2;
  __device__ static float Dot(const uint8_t* b, const float* x) { return BFloat(b) * x[0]; }
};

template <>
struct Block<DType::kQ8_0> {  // half scale, 32 int8
  static constexpr int kElements = 32, kBytes = 34;
  __device__ static float Dot(const uint8_t* b, const float* x) {
    const int8_t* q = reinterpret_cast<const int8_t*>(b + 2);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < 32; ++i) sum += q[i] * x[i];
    return Half(b) * sum;
  }
};

template <>
struct Block<DType::kQ4_0> {  // half scale, 16 bytes: low nibbles are elements 0-15, high 16-31
  static constexpr int kElements = 32, kBytes = 18;
  __device__ static float Dot(const uint8_t* b, const float* x) {
    const uint8_t* q = b + 2;
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < 16; ++i) sum += ((q[i] & 0x0f) - 8) * x[i] + ((q[i] >> 4) - 8) * x[i + 16];
    return Half(b) * sum;
  }
};

__device__ __forceinline__ void ScaleMinK4(int j, const uint8_t* packed, int* scale, int* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
    *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

template <>
struct Block<DType::kQ4_K> {  // half d, half dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
  static constexpr int kElements = 256, kBytes = 144;
  __device__ static float Dot(const uint8_t* b, const float* x) {
    const float d = Half(b), dmin = Half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* quants = b + 16;
    float sum = 0.0f;
    for (int chunk = 0; chunk < 4; ++chunk) {
      int sc1, m1, sc2, m2;
      ScaleMinK4(2 * chunk, scales, &sc1, &m1);
      ScaleMinK4(2 * chunk + 1, scales, &sc2, &m2);
      const uint8_t* q = quants + 32 * chunk;
      const float* xa = x + 64 * chunk;
      float dot1 = 0.0f, dot2 = 0.0f, sum1 = 0.0f, sum2 = 0.0f;
#pragma unroll 8
      for (int l = 0; l < 32; ++l) {
        dot1 += (q[l] & 0x0f) * xa[l];
        dot2 += (q[l] >> 4) * xa[l + 32];
        sum1 += xa[l];
        sum2 += xa[l + 32];
      }
      sum += d * (sc1 * dot1 + sc2 * dot2) - dmin * (m1 * sum1 + m2 * sum2);
    }
    return sum;
  }
};

template <>
struct Block<DType::kQ6_K> {  // 128 bytes low nibbles, 64 bytes high pairs, 16 int8 scales, half d
  static constexpr int kElements = 256, kBytes = 210;
  __device__ static float Dot(const uint8_t* b, const float* x) {
    const float d = Half(b + 208);
    float sum = 0.0f;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = b + 64 * half;
      const uint8_t* qh = b + 128 + 32 * half;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half;
      const float* xa = x + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
        const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
        const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        sum += sc[is] * q1 * xa[l] + sc[is + 2] * q2 * xa[l + 32] + sc[is + 4] * q3 * xa[l + 64] + sc[is + 6] * q4 * xa[l + 96];
      }
    }
    return d * sum;
  }
};

template <DType kType>
__global__ void MatVecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols, const float* __restrict__ x,
                             float* __restrict__ y) {
  using B = Block<kType>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
  if (row >= rows) return;
  const int64_t blocks = cols / B::kElements;
  const uint8_t* row_bytes = w + row * blocks * B::kBytes;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < blocks; i += kWarp) sum += B::Dot(row_bytes + i * B::kBytes, x + i * B::kElements);
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
  if (cols % Block<kType>::kElements != 0) {
    return InvalidArgument("rows of " + std::to_string(cols) + " elements are not whole " + std::string(DTypeName(kType)) + " blocks");
  }
  const dim3 threads(kWarp, kRowsPerBlock);
  const dim3 grid(static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock));
  MatVecKernel<kType><<<grid, threads, 0, stream>>>(static_cast<const uint8_t*>(w), rows, cols, x, y);
  return CheckCuda(cudaGetLastError(), "matrix-vector kernel");
}

}  // namespace

bool MatVecSupports(DType type) {
  switch (type) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ8_0: case DType::kQ4_0: case DType::kQ4_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

Status MatVec(DType type, const void* weights, int64_t rows, int64_t cols, const float* x, float* y, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case DType::kF32: return Launch<DType::kF32>(weights, rows, cols, x, y, s);
    case DType::kF16: return Launch<DType::kF16>(weights, rows, cols, x, y, s);
    case DType::kBF16: return Launch<DType::kBF16>(weights, rows, cols, x, y, s);
    case DType::kQ8_0: return Launch<DType::kQ8_0>(weights, rows, cols, x, y, s);
    case DType::kQ4_0: return Launch<DType::kQ4_0>(weights, rows, cols, x, y, s);
    case DType::kQ4_K: return Launch<DType::kQ4_K>(weights, rows, cols, x, y, s);
    case DType::kQ6_K: return Launch<DType::kQ6_K>(weights, rows, cols, x, y, s);
    default: return Unsupported("no CUDA matrix-vector kernel for " + std::string(DTypeName(type)) + " weights yet");
  }
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
