// Device memory owned by a host object (a model, a test call), and CUDA errors as Status.
// Included by .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "util/status.h"

namespace riglm::cuda {

inline Status CheckCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return Internal(std::string(what) + ": " + cudaGetErrorString(e));
}

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr(other.ptr), bytes(other.bytes) {
    other.ptr = nullptr;
    other.bytes = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  // Allocates `size` bytes and copies `data` there (when given).
  Status Upload(const void* data, size_t size) {
    bytes = size;
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMalloc(&ptr, size == 0 ? 1 : size), "cudaMalloc"));
    return data ? CheckCuda(cudaMemcpy(ptr, data, size, cudaMemcpyHostToDevice), "copy to the GPU") : Status::Ok();
  }
  template <typename T>
  Result<std::vector<T>> Download(size_t count) const {
    std::vector<T> out(count);
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpy(out.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost), "copy from the GPU"));
    return out;
  }
};

}  // namespace riglm::cuda
