// Whole rows of weights decoded on the GPU: token embeddings looked up by id (the table stays in
// VRAM, so host memory does not hold it), and matrices turned into F16 tiles for cuBLAS when a
// prompt's tokens go through a layer together.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/weight_blocks.h"

namespace riglm::cuda {
namespace {

__device__ __forceinline__ void Store(float* out, float v) { *out = v; }
__device__ __forceinline__ void Store(__half* out, float v) { *out = __float2half_rn(v); }

// One thread per weight block. Output row r is weight row row_ids[r] (row r without ids).
template <DType kType, typename Out>
__global__ void DequantizeRowsKernel(const uint8_t* __restrict__ w, int64_t blocks_per_row, const int32_t* __restrict__ row_ids,
                                     int64_t rows, Out* __restrict__ out) {
  using B = WeightBlock<kType>;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * blocks_per_row) return;
  const int64_t r = i / blocks_per_row, b = i % blocks_per_row;
  const int64_t source_row = row_ids ? row_ids[r] : r;
  Out* o = out + i * B::kElements;
  B::Visit(w + (source_row * blocks_per_row + b) * B::kBytes, [&](int j, float v) { Store(o + j, v); });
}

template <typename Out>
Status DequantizeRows(DType type, const void* weights, int64_t cols, const int32_t* row_ids, int64_t rows, Out* out,
                      cudaStream_t stream) {
  return WithWeightBlock(
      type,
      [&]<DType kType>() -> Status {
        using B = WeightBlock<kType>;
        if (cols % B::kElements != 0) {
          return InvalidArgument("rows of " + std::to_string(cols) + " elements are not whole " + std::string(DTypeName(kType)) +
                                 " blocks");
        }
        const int64_t blocks = rows * (cols / B::kElements);
        if (blocks == 0) return Status::Ok();
        DequantizeRowsKernel<kType, Out><<<static_cast<unsigned>((blocks + 255) / 256), 256, 0, stream>>>(
            static_cast<const uint8_t*>(weights), cols / B::kElements, row_ids, rows, out);
        return CheckCuda(cudaGetLastError(), "dequantize kernel");
      },
      Unsupported("no CUDA decoder for " + std::string(DTypeName(type)) + " weights"));
}

}  // namespace

Status GatherRows(DType type, const void* weights, int64_t cols, const int32_t* row_ids, int64_t count, float* out,
                  void* stream) {
  return DequantizeRows(type, weights, cols, row_ids, count, out, static_cast<cudaStream_t>(stream));
}

Status DequantizeToHalf(DType type, const void* weights, int64_t rows, int64_t cols, void* out, void* stream) {
  return DequantizeRows(type, weights, cols, nullptr, rows, static_cast<__half*>(out), static_cast<cudaStream_t>(stream));
}

Result<std::vector<float>> GatherRowsOnHost(DType type, std::span<const uint8_t> weights, int64_t cols,
                                            std::span<const int32_t> row_ids) {
  DeviceBuffer w, ids, out;
  RIGLM_RETURN_IF_ERROR(w.Upload(weights.data(), weights.size()));
  RIGLM_RETURN_IF_ERROR(ids.Upload(row_ids.data(), row_ids.size_bytes()));
  RIGLM_RETURN_IF_ERROR(out.Upload(nullptr, row_ids.size() * cols * sizeof(float)));
  RIGLM_RETURN_IF_ERROR(GatherRows(type, w.ptr, cols, static_cast<const int32_t*>(ids.ptr), static_cast<int64_t>(row_ids.size()),
                                   static_cast<float*>(out.ptr), nullptr));
  return out.Download<float>(row_ids.size() * cols);
}

}  // namespace riglm::cuda
