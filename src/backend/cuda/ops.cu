// Element-wise and attention kernels of the decode step: RoPE, SwiGLU, and attention of one
// query token over an F16 KV cache (one thread block per query head; grouped-query heads share
// their key/value head). Exact first; split-K over long contexts comes with GPU measurements.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"

namespace riglm::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kAttendThreads = 256;

__global__ void RopeKernel(float* x, int num_heads, int head_dim, int rot_dims, int64_t position,
                           const float* __restrict__ inv_freq, bool neox) {
  const int half = rot_dims / 2;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;  // pair index across heads
  if (i >= num_heads * half) return;
  const int head = i / half, pair = i % half;
  double s, c;
  sincos(static_cast<double>(position) * inv_freq[pair], &s, &c);  // as the CPU computes the angle
  float* v = x + static_cast<int64_t>(head) * head_dim;
  const int a_idx = neox ? pair : 2 * pair, b_idx = neox ? pair + half : 2 * pair + 1;
  const float a = v[a_idx], b = v[b_idx];
  v[a_idx] = a * static_cast<float>(c) - b * static_cast<float>(s);
  v[b_idx] = a * static_cast<float>(s) + b * static_cast<float>(c);
}

__global__ void SwiGluKernel(const float* __restrict__ gate, const float* __restrict__ up, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = g / (1.0f + expf(-g)) * up[i];
}

// The block's maximum or sum of `v`, returned to every thread.
template <bool kMax>
__device__ float BlockReduce(float v, float* shared) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const float other = __shfl_down_sync(0xffffffffu, v, offset);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = v;
  __syncthreads();
  if (threadIdx.x < kWarp) {
    v = threadIdx.x < blockDim.x / kWarp ? shared[threadIdx.x] : (kMax ? -FLT_MAX : 0.0f);
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float other = __shfl_down_sync(0xffffffffu, v, offset);
      v = kMax ? fmaxf(v, other) : v + other;
    }
    if (threadIdx.x == 0) shared[0] = v;
  }
  __syncthreads();
  const float result = shared[0];
  __syncthreads();  // `shared` is reused by the next reduction
  return result;
}

// Keys and values: `num_keys` rows of kv_heads * head_dim halves. `scores`: num_heads x num_keys.
__global__ void AttendKernel(const float* __restrict__ q, const __half* __restrict__ keys, const __half* __restrict__ values,
                             int64_t num_keys, int num_heads, int kv_heads, int head_dim, float scale,
                             float* __restrict__ scores, float* __restrict__ out) {
  __shared__ float shared[kWarp];
  const int head = blockIdx.x;
  const int kv_head = head / (num_heads / kv_heads);
  const int64_t row = static_cast<int64_t>(kv_heads) * head_dim;
  const float* qh = q + static_cast<int64_t>(head) * head_dim;
  float* sh = scores + static_cast<int64_t>(head) * num_keys;
  float max_score = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < num_keys; j += blockDim.x) {
    const __half* k = keys + j * row + static_cast<int64_t>(kv_head) * head_dim;
    float dot = 0.0f;
    for (int d = 0; d < head_dim; ++d) dot += qh[d] * __half2float(k[d]);
    sh[j] = dot * scale;
    max_score = fmaxf(max_score, sh[j]);
  }
  max_score = BlockReduce<true>(max_score, shared);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < num_keys; j += blockDim.x) {
    sh[j] = expf(sh[j] - max_score);
    sum += sh[j];
  }
  sum = BlockReduce<false>(sum, shared);  // its barriers also make every score visible
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < num_keys; ++j) acc += sh[j] * __half2float(values[j * row + static_cast<int64_t>(kv_head) * head_dim + d]);
    out[static_cast<int64_t>(head) * head_dim + d] = acc / sum;
  }
}

unsigned Blocks(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace

Status Rope(float* x, int num_heads, int head_dim, int rot_dims, int64_t position, const float* inv_freq, bool neox,
            void* stream) {
  const int pairs = num_heads * (rot_dims / 2);
  RopeKernel<<<Blocks(pairs, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, num_heads, head_dim, rot_dims, position,
                                                                                 inv_freq, neox);
  return CheckCuda(cudaGetLastError(), "RoPE kernel");
}

Status SwiGlu(const float* gate, const float* up, int64_t n, float* out, void* stream) {
  SwiGluKernel<<<Blocks(n, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(gate, up, n, out);
  return CheckCuda(cudaGetLastError(), "SwiGLU kernel");
}

Status AttendDecode(const float* q, const void* keys, const void* values, int64_t num_keys, int num_heads, int kv_heads,
                    int head_dim, float scale, float* scores, float* out, void* stream) {
  if (kv_heads <= 0 || num_heads % kv_heads != 0) return InvalidArgument("query heads must be a multiple of key/value heads");
  AttendKernel<<<num_heads, kAttendThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      q, static_cast<const __half*>(keys), static_cast<const __half*>(values), num_keys, num_heads, kv_heads, head_dim,
      scale, scores, out);
  return CheckCuda(cudaGetLastError(), "attention kernel");
}

Result<std::vector<float>> RopeOnHost(std::span<const float> x, int num_heads, int head_dim, int rot_dims, int64_t position,
                                      std::span<const float> inv_freq, bool neox) {
  DeviceBuffer xd, fd;
  RIGLM_RETURN_IF_ERROR(xd.Upload(x.data(), x.size_bytes()));
  RIGLM_RETURN_IF_ERROR(fd.Upload(inv_freq.data(), inv_freq.size_bytes()));
  RIGLM_RETURN_IF_ERROR(Rope(static_cast<float*>(xd.ptr), num_heads, head_dim, rot_dims, position,
                             static_cast<const float*>(fd.ptr), neox, nullptr));
  return xd.Download<float>(x.size());
}

Result<std::vector<float>> SwiGluOnHost(std::span<const float> gate, std::span<const float> up) {
  DeviceBuffer gd, ud, od;
  RIGLM_RETURN_IF_ERROR(gd.Upload(gate.data(), gate.size_bytes()));
  RIGLM_RETURN_IF_ERROR(ud.Upload(up.data(), up.size_bytes()));
  RIGLM_RETURN_IF_ERROR(od.Upload(nullptr, gate.size_bytes()));
  RIGLM_RETURN_IF_ERROR(SwiGlu(static_cast<const float*>(gd.ptr), static_cast<const float*>(ud.ptr),
                               static_cast<int64_t>(gate.size()), static_cast<float*>(od.ptr), nullptr));
  return od.Download<float>(gate.size());
}

Result<std::vector<float>> AttendDecodeOnHost(std::span<const float> q, std::span<const uint16_t> keys,
                                              std::span<const uint16_t> values, int64_t num_keys, int num_heads,
                                              int kv_heads, int head_dim, float scale) {
  DeviceBuffer qd, kd, vd, sd, od;
  RIGLM_RETURN_IF_ERROR(qd.Upload(q.data(), q.size_bytes()));
  RIGLM_RETURN_IF_ERROR(kd.Upload(keys.data(), keys.size_bytes()));
  RIGLM_RETURN_IF_ERROR(vd.Upload(values.data(), values.size_bytes()));
  RIGLM_RETURN_IF_ERROR(sd.Upload(nullptr, sizeof(float) * num_heads * num_keys));
  RIGLM_RETURN_IF_ERROR(od.Upload(nullptr, q.size_bytes()));
  RIGLM_RETURN_IF_ERROR(AttendDecode(static_cast<const float*>(qd.ptr), kd.ptr, vd.ptr, num_keys, num_heads, kv_heads, head_dim,
                                     scale, static_cast<float*>(sd.ptr), static_cast<float*>(od.ptr), nullptr));
  return od.Download<float>(q.size());
}

}  // namespace riglm::cuda
