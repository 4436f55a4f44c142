// Streams tensors from a byte source to the devices that hold them through a fixed pool of
// staging buffers: reader threads fetch chunks in file order while each device's uploader
// writes earlier chunks, so host memory stays at the pool's size whatever the model's size,
// reading and uploading overlap, and several devices fill in parallel.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "format/gguf.h"
#include "io/byte_source.h"

namespace riglm {

// A device's memory as the loader sees it.
class TensorSink {
 public:
  virtual ~TensorSink() = default;
  virtual const std::string& name() const = 0;
  // Called for every tensor before any of its bytes: make room for it.
  virtual Status Prepare(const GgufTensorInfo& tensor) = 0;
  // Bytes [offset, offset + bytes.size()) of the tensor's data. One thread per sink at a time;
  // pieces arrive in file order.
  virtual Status Write(const GgufTensorInfo& tensor, uint64_t offset, std::span<const uint8_t> bytes) = 0;
};

struct TensorPlacement {
  const GgufTensorInfo* tensor;
  TensorSink* sink;
};

struct LoadOptions {
  uint64_t buffer_bytes = uint64_t{256} << 20;  // all staging buffers together (--load-buffer)
  int buffers = 8;                              // chunk size = buffer_bytes / buffers
  int readers = 2;                              // parallel reads (HTTP benefits from more)
  const std::atomic<bool>* cancel = nullptr;    // set from a signal handler to stop early
  std::function<void(uint64_t done, uint64_t total)> progress;  // from the uploader threads
};

struct LoadStats {
  uint64_t bytes = 0;
  double seconds = 0.0;
  uint64_t staging_bytes = 0;  // host memory the staging buffers took
};

// Checks every placement against the source's size before reading anything.
Result<LoadStats> StreamTensors(ByteSource& source, const GgufFile& gguf, std::span<const TensorPlacement> placements,
                                const LoadOptions& options = {});

}  // namespace riglm
