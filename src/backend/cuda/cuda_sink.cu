#include "backend/cuda/cuda_sink.h"

#include <cstring>

#include "util/strings.h"

namespace riglm::cuda {

Result<std::unique_ptr<CudaTensorSink>> CudaTensorSink::Create(std::string name, int device, uint64_t memory_cap) {
  std::unique_ptr<CudaTensorSink> sink(new CudaTensorSink(std::move(name), device, memory_cap));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(device), "cudaSetDevice"));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaStreamCreateWithFlags(&sink->stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
  for (Slot& slot : sink->slots_) {
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaHostAlloc(&slot.host, kSlotBytes, cudaHostAllocDefault), "pinned staging buffer"));
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming), "cudaEventCreate"));
  }
  return Result<std::unique_ptr<CudaTensorSink>>(std::move(sink));  // nvcc wants the conversion spelled out
}

CudaTensorSink::~CudaTensorSink() {
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  for (Slot& slot : slots_) {
    if (slot.copied) cudaEventDestroy(slot.copied);
    if (slot.host) cudaFreeHost(slot.host);
  }
  if (stream_) cudaStreamDestroy(stream_);
}

Status CudaTensorSink::Prepare(const GgufTensorInfo& tensor) {
  if (memory_cap_ != 0 && bytes_ + tensor.size_bytes > memory_cap_) {
    return OutOfMemory(name_ + ": tensor '" + tensor.name + "' would take this device past its " +
                       FormatBytes(memory_cap_) + " (" + FormatBytes(bytes_ + tensor.size_bytes) + " of weights)");
  }
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(device_), "cudaSetDevice"));
  DeviceBuffer buffer;
  if (Status s = buffer.Upload(nullptr, tensor.size_bytes); !s.ok()) {
    return OutOfMemory(name_ + ": no GPU memory for tensor '" + tensor.name + "' (" + FormatBytes(tensor.size_bytes) +
                       " after " + FormatBytes(bytes_) + "): " + s.message());
  }
  bytes_ += tensor.size_bytes;
  tensors_.emplace(&tensor, std::move(buffer));
  return Status::Ok();
}

Status CudaTensorSink::Write(const GgufTensorInfo& tensor, uint64_t offset, std::span<const uint8_t> bytes) {
  auto it = tensors_.find(&tensor);
  if (it == tensors_.end() || offset + bytes.size() > tensor.size_bytes) {
    return Internal("write outside tensor '" + tensor.name + "'");
  }
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(device_), "cudaSetDevice"));
  uint8_t* target = static_cast<uint8_t*>(it->second.ptr) + offset;
  for (size_t done = 0; done < bytes.size();) {
    Slot& slot = slots_[next_slot_];
    next_slot_ = (next_slot_ + 1) % kSlots;
    // The slot's previous copy must have left it before it is refilled.
    if (slot.in_flight) RIGLM_RETURN_IF_ERROR(CheckCuda(cudaEventSynchronize(slot.copied), "copy to the GPU"));
    const size_t n = std::min(kSlotBytes, bytes.size() - done);
    std::memcpy(slot.host, bytes.data() + done, n);
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpyAsync(target + done, slot.host, n, cudaMemcpyHostToDevice, stream_), "copy to the GPU"));
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaEventRecord(slot.copied, stream_), "cudaEventRecord"));
    slot.in_flight = true;
    done += n;
  }
  return Status::Ok();
}

Status CudaTensorSink::Finish() {
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(device_), "cudaSetDevice"));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaStreamSynchronize(stream_), (name_ + ": copy to the GPU").c_str()));
  for (Slot& slot : slots_) slot.in_flight = false;
  return Status::Ok();
}

const uint8_t* CudaTensorSink::data(const GgufTensorInfo& tensor) const {
  auto it = tensors_.find(&tensor);
  return it == tensors_.end() ? nullptr : static_cast<const uint8_t*>(it->second.ptr);
}

}  // namespace riglm::cuda
