// A GPU's memory as the streaming loader sees it: each tensor gets its own allocation, and bytes
// go through a few pinned host buffers and asynchronous copies on the sink's own stream, so the
// copy of one piece overlaps the reading of the next while host memory stays at
// kSlots x kSlotBytes. Included by .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <unordered_map>

#include "backend/cuda/device_buffer.h"
#include "loader/loader.h"

namespace riglm::cuda {

class CudaTensorSink : public TensorSink {
 public:
  static constexpr int kSlots = 4;
  static constexpr size_t kSlotBytes = size_t{4} << 20;

  // `memory_cap`: the most this sink may allocate on the GPU (0: no bound).
  static Result<std::unique_ptr<CudaTensorSink>> Create(std::string name, int device, uint64_t memory_cap);
  ~CudaTensorSink() override;
  CudaTensorSink(const CudaTensorSink&) = delete;
  CudaTensorSink& operator=(const CudaTensorSink&) = delete;

  const std::string& name() const override { return name_; }
  Status Prepare(const GgufTensorInfo& tensor) override;
  Status Write(const GgufTensorInfo& tensor, uint64_t offset, std::span<const uint8_t> bytes) override;
  // Waits for every copy in flight; the first error of any of them.
  Status Finish();

  const uint8_t* data(const GgufTensorInfo& tensor) const;  // GPU memory
  uint64_t bytes() const { return bytes_; }
  uint64_t pinned_bytes() const { return kSlots * kSlotBytes; }

 private:
  CudaTensorSink(std::string name, int device, uint64_t memory_cap)
      : name_(std::move(name)), device_(device), memory_cap_(memory_cap) {}

  struct Slot {
    void* host = nullptr;  // pinned
    cudaEvent_t copied = nullptr;
    bool in_flight = false;
  };
  std::string name_;
  int device_;
  uint64_t memory_cap_;
  cudaStream_t stream_ = nullptr;
  std::array<Slot, kSlots> slots_{};
  int next_slot_ = 0;
  std::unordered_map<const GgufTensorInfo*, DeviceBuffer> tensors_;
  uint64_t bytes_ = 0;
};

}  // namespace riglm::cuda
