// Element-wise and attention kernels: RoPE, SwiGLU, F16 conversion, attention of one query token
// over an F16 KV cache (a thread block per query head and share of the keys: split-K;
// grouped-query heads share their key/value head) and of a prompt's queries (one warp per query
// and head, online softmax).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"

namespace riglm::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kAttendThreads = 256;

// Row r of x (num_heads heads of head_dim) is at position first_position + r; `position_at`,
// when given, is device memory holding first_position (a captured decode step replays with the
// position of each call).
__global__ void RopeKernel(float* x, int64_t rows, int num_heads, int head_dim, int rot_dims, int64_t first_position,
                           const int64_t* __restrict__ position_at, const float* __restrict__ inv_freq, bool neox) {
  if (position_at) first_position = *position_at;
  const int half = rot_dims / 2;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // pair index across rows and heads
  if (i >= rows * num_heads * half) return;
  const int64_t row = i / (num_heads * half);
  const int head = static_cast<int>(i / half % num_heads), pair = static_cast<int>(i % half);
  double s, c;
  sincos(static_cast<double>(first_position + row) * inv_freq[pair], &s, &c);  // as the CPU computes the angle
  float* v = x + (row * num_heads + head) * head_dim;
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

__global__ void ToHalfKernel(const float* __restrict__ x, __half* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2half_rn(x[i]);
}

// One token's key and value rows into the F16 cache at the position held in device memory.
__global__ void StoreKvKernel(const float* __restrict__ k, const float* __restrict__ v, __half* keys, __half* values,
                              int64_t width, const int64_t* __restrict__ position_at) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= width) return;
  const int64_t at = *position_at * width + i;
  keys[at] = __float2half_rn(k[i]);
  values[at] = __float2half_rn(v[i]);
}

// The attention of a prompt's queries: query r (at position first_position + r) over keys
// 0..first_position + r of the F16 cache, one warp per (query, head). Scores never reach memory:
// each key updates a running maximum, normalizer and weighted sum (online softmax), so the
// work needs no scratch whatever the prompt's length. Each lane holds head_dim / 32 dimensions.
constexpr int kMaxDimsPerLane = 8;  // head_dim up to 256

__global__ void AttendPromptKernel(const float* __restrict__ q, const __half* __restrict__ keys,
                                   const __half* __restrict__ values, int64_t first_position, int64_t rows, int num_heads,
                                   int kv_heads, int head_dim, float scale, float* __restrict__ out) {
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (pair >= rows * num_heads) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t r = pair / num_heads;
  const int head = static_cast<int>(pair % num_heads);
  const int kv_head = head / (num_heads / kv_heads);
  const int64_t kv_row = static_cast<int64_t>(kv_heads) * head_dim;
  const float* qh = q + (r * num_heads + head) * head_dim;
  const int dims = (head_dim + kWarp - 1) / kWarp;
  float qv[kMaxDimsPerLane], acc[kMaxDimsPerLane];
  for (int i = 0; i < kMaxDimsPerLane; ++i) {
    const int d = lane + i * kWarp;
    qv[i] = i < dims && d < head_dim ? qh[d] : 0.0f;
    acc[i] = 0.0f;
  }
  float running_max = -FLT_MAX, normalizer = 0.0f;
  const int64_t num_keys = first_position + r + 1;
  for (int64_t j = 0; j < num_keys; ++j) {
    const __half* k = keys + j * kv_row + static_cast<int64_t>(kv_head) * head_dim;
    float dot = 0.0f;
    for (int i = 0; i < dims; ++i) {
      const int d = lane + i * kWarp;
      if (d < head_dim) dot += qv[i] * __half2float(k[d]);
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
    const float score = dot * scale;
    const float new_max = fmaxf(running_max, score);
    const float rescale = expf(running_max - new_max), weight = expf(score - new_max);
    normalizer = normalizer * rescale + weight;
    const __half* v = values + j * kv_row + static_cast<int64_t>(kv_head) * head_dim;
    for (int i = 0; i < dims; ++i) {
      const int d = lane + i * kWarp;
      acc[i] = acc[i] * rescale + (d < head_dim ? weight * __half2float(v[d]) : 0.0f);
    }
    running_max = new_max;
  }
  float* oh = out + (r * num_heads + head) * head_dim;
  for (int i = 0; i < dims; ++i) {
    const int d = lane + i * kWarp;
    if (d < head_dim) oh[d] = acc[i] / normalizer;
  }
}

// Split-K ("flash-decoding") attention of one token: block (head, split) takes an equal share
// of the keys, so that a long context keeps every multiprocessor busy instead of one block per
// head, and leaves its share's maximum score, normalizer and unnormalized weighted sum of values
// in `partials` (per head and split: max, sum, head_dim values); the combine kernel rescales
// them to the global maximum. The number of keys, *position_at + 1, is read on the device.
__global__ void AttendSplitKernel(const float* __restrict__ q, const __half* __restrict__ keys,
                                  const __half* __restrict__ values, const int64_t* __restrict__ position_at, int num_heads,
                                  int kv_heads, int head_dim, float scale, float* __restrict__ scores,
                                  float* __restrict__ partials) {
  __shared__ float shared[kWarp];
  const int head = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
  const int64_t num_keys = *position_at + 1;
  const int64_t share = (num_keys + splits - 1) / splits;
  const int64_t begin = split * share, end = begin + share < num_keys ? begin + share : num_keys;
  const int kv_head = head / (num_heads / kv_heads);
  const int64_t row = static_cast<int64_t>(kv_heads) * head_dim;
  const float* qh = q + static_cast<int64_t>(head) * head_dim;
  float* sh = scores + static_cast<int64_t>(head) * (splits * share);  // this head's row of scores
  float max_score = -FLT_MAX;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const __half* k = keys + j * row + static_cast<int64_t>(kv_head) * head_dim;
    float dot = 0.0f;
    for (int d = 0; d < head_dim; ++d) dot += qh[d] * __half2float(k[d]);
    sh[j] = dot * scale;
    max_score = fmaxf(max_score, sh[j]);
  }
  max_score = BlockReduce<true>(max_score, shared);
  float sum = 0.0f;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    sh[j] = expf(sh[j] - max_score);
    sum += sh[j];
  }
  sum = BlockReduce<false>(sum, shared);  // its barriers also make every score visible
  float* part = partials + (static_cast<int64_t>(head) * splits + split) * (head_dim + 2);
  if (threadIdx.x == 0) {
    part[0] = max_score;
    part[1] = sum;
  }
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = begin; j < end; ++j) acc += sh[j] * __half2float(values[j * row + static_cast<int64_t>(kv_head) * head_dim + d]);
    part[2 + d] = acc;
  }
}

__global__ void CombineSplitsKernel(const float* __restrict__ partials, int splits, int head_dim, float* __restrict__ out) {
  const int head = blockIdx.x;
  const float* parts = partials + static_cast<int64_t>(head) * splits * (head_dim + 2);
  float global_max = -FLT_MAX;
  for (int sp = 0; sp < splits; ++sp) global_max = fmaxf(global_max, parts[sp * (head_dim + 2)]);
  float total = 0.0f;
  for (int sp = 0; sp < splits; ++sp) {
    const float* part = parts + sp * (head_dim + 2);
    total += part[1] * expf(part[0] - global_max);
  }
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int sp = 0; sp < splits; ++sp) {
      const float* part = parts + sp * (head_dim + 2);
      acc += part[2 + d] * expf(part[0] - global_max);
    }
    out[static_cast<int64_t>(head) * head_dim + d] = acc / total;
  }
}

unsigned Blocks(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace

Status Rope(float* x, int64_t rows, int num_heads, int head_dim, int rot_dims, int64_t first_position, const float* inv_freq,
            bool neox, void* stream) {
  const int64_t pairs = rows * num_heads * (rot_dims / 2);
  if (pairs == 0) return Status::Ok();
  RopeKernel<<<Blocks(pairs, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, rows, num_heads, head_dim, rot_dims,
                                                                                 first_position, nullptr, inv_freq, neox);
  return CheckCuda(cudaGetLastError(), "RoPE kernel");
}

Status RopeAt(float* x, int num_heads, int head_dim, int rot_dims, const int64_t* position, const float* inv_freq, bool neox,
              void* stream) {
  const int64_t pairs = num_heads * (rot_dims / 2);
  if (pairs == 0) return Status::Ok();
  RopeKernel<<<Blocks(pairs, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, 1, num_heads, head_dim, rot_dims, 0,
                                                                                 position, inv_freq, neox);
  return CheckCuda(cudaGetLastError(), "RoPE kernel");
}

Status StoreKvAt(const float* k, const float* v, void* keys, void* values, int64_t width, const int64_t* position,
                 void* stream) {
  StoreKvKernel<<<Blocks(width, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(
      k, v, static_cast<__half*>(keys), static_cast<__half*>(values), width, position);
  return CheckCuda(cudaGetLastError(), "KV store kernel");
}

Status FloatsToHalves(const float* x, int64_t n, void* out, void* stream) {
  if (n == 0) return Status::Ok();
  ToHalfKernel<<<Blocks(n, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, static_cast<__half*>(out), n);
  return CheckCuda(cudaGetLastError(), "float-to-half kernel");
}

Status AttendPrompt(const float* q, const void* keys, const void* values, int64_t first_position, int64_t rows, int num_heads,
                    int kv_heads, int head_dim, float scale, float* out, void* stream) {
  if (kv_heads <= 0 || num_heads % kv_heads != 0) return InvalidArgument("query heads must be a multiple of key/value heads");
  if (head_dim > kMaxDimsPerLane * kWarp) return Unsupported("heads wider than " + std::to_string(kMaxDimsPerLane * kWarp));
  const int64_t warps = rows * num_heads;
  if (warps == 0) return Status::Ok();
  constexpr int kWarpsPerBlock = 4;
  AttendPromptKernel<<<Blocks(warps, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, static_cast<cudaStream_t>(stream)>>>(
      q, static_cast<const __half*>(keys), static_cast<const __half*>(values), first_position, rows, num_heads, kv_heads,
      head_dim, scale, out);
  return CheckCuda(cudaGetLastError(), "prompt attention kernel");
}

Status SwiGlu(const float* gate, const float* up, int64_t n, float* out, void* stream) {
  SwiGluKernel<<<Blocks(n, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(gate, up, n, out);
  return CheckCuda(cudaGetLastError(), "SwiGLU kernel");
}

Status AttendDecodeAt(const float* q, const void* keys, const void* values, const int64_t* position, int num_heads,
                      int kv_heads, int head_dim, float scale, int splits, float* scores, float* partials, float* out,
                      void* stream) {
  if (kv_heads <= 0 || num_heads % kv_heads != 0) return InvalidArgument("query heads must be a multiple of key/value heads");
  if (splits < 1) return InvalidArgument("attention needs at least one split");
  auto s = static_cast<cudaStream_t>(stream);
  AttendSplitKernel<<<dim3(num_heads, splits), kAttendThreads, 0, s>>>(
      q, static_cast<const __half*>(keys), static_cast<const __half*>(values), position, num_heads, kv_heads, head_dim, scale,
      scores, partials);
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaGetLastError(), "attention kernel"));
  CombineSplitsKernel<<<num_heads, 128, 0, s>>>(partials, splits, head_dim, out);
  return CheckCuda(cudaGetLastError(), "attention combine kernel");
}

Result<std::vector<float>> RopeOnHost(std::span<const float> x, int num_heads, int head_dim, int rot_dims, int64_t position,
                                      std::span<const float> inv_freq, bool neox) {
  DeviceBuffer xd, fd;
  RIGLM_RETURN_IF_ERROR(xd.Upload(x.data(), x.size_bytes()));
  RIGLM_RETURN_IF_ERROR(fd.Upload(inv_freq.data(), inv_freq.size_bytes()));
  const int64_t rows = static_cast<int64_t>(x.size()) / (static_cast<int64_t>(num_heads) * head_dim);
  RIGLM_RETURN_IF_ERROR(Rope(static_cast<float*>(xd.ptr), rows, num_heads, head_dim, rot_dims, position,
                             static_cast<const float*>(fd.ptr), neox, nullptr));
  return xd.Download<float>(x.size());
}

Result<std::vector<float>> AttendPromptOnHost(std::span<const float> q, std::span<const uint16_t> keys,
                                              std::span<const uint16_t> values, int64_t first_position, int64_t rows,
                                              int num_heads, int kv_heads, int head_dim, float scale) {
  DeviceBuffer qd, kd, vd, od;
  RIGLM_RETURN_IF_ERROR(qd.Upload(q.data(), q.size_bytes()));
  RIGLM_RETURN_IF_ERROR(kd.Upload(keys.data(), keys.size_bytes()));
  RIGLM_RETURN_IF_ERROR(vd.Upload(values.data(), values.size_bytes()));
  RIGLM_RETURN_IF_ERROR(od.Upload(nullptr, q.size_bytes()));
  RIGLM_RETURN_IF_ERROR(AttendPrompt(static_cast<const float*>(qd.ptr), kd.ptr, vd.ptr, first_position, rows, num_heads, kv_heads,
                                     head_dim, scale, static_cast<float*>(od.ptr), nullptr));
  return od.Download<float>(q.size());
}

Result<std::vector<float>> AttendDecodeOnHost(std::span<const float> q, std::span<const uint16_t> keys,
                                                   std::span<const uint16_t> values, int64_t num_keys, int num_heads,
                                                   int kv_heads, int head_dim, float scale, int splits) {
  const int64_t position = num_keys - 1;
  DeviceBuffer qd, kd, vd, pd, sd, partd, od;
  RIGLM_RETURN_IF_ERROR(qd.Upload(q.data(), q.size_bytes()));
  RIGLM_RETURN_IF_ERROR(kd.Upload(keys.data(), keys.size_bytes()));
  RIGLM_RETURN_IF_ERROR(vd.Upload(values.data(), values.size_bytes()));
  RIGLM_RETURN_IF_ERROR(pd.Upload(&position, sizeof position));
  RIGLM_RETURN_IF_ERROR(sd.Upload(nullptr, sizeof(float) * num_heads * AttendScoreCapacity(num_keys, splits)));
  RIGLM_RETURN_IF_ERROR(partd.Upload(nullptr, sizeof(float) * num_heads * splits * (head_dim + 2)));
  RIGLM_RETURN_IF_ERROR(od.Upload(nullptr, q.size_bytes()));
  RIGLM_RETURN_IF_ERROR(AttendDecodeAt(static_cast<const float*>(qd.ptr), kd.ptr, vd.ptr, static_cast<const int64_t*>(pd.ptr),
                                       num_heads, kv_heads, head_dim, scale, splits, static_cast<float*>(sd.ptr),
                                       static_cast<float*>(partd.ptr), static_cast<float*>(od.ptr), nullptr));
  return od.Download<float>(q.size());
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

}  // namespace riglm::cuda
