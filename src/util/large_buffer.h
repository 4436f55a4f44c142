// Memory for big buffers that hot loops stream through (packed weights, KV cache, bandwidth probe).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace riglm {

// Frees a buffer of its own (mapped, or from the heap), or lets go of its share of a huge-page
// slab (see AllocateLarge).
struct LargeBufferDeleter {
  mutable std::shared_ptr<void> slab;
  uint64_t mapped_bytes = 0;
  void operator()(uint8_t* p) const;
};
using LargeBuffer = std::unique_ptr<uint8_t[], LargeBufferDeleter>;

// 64-byte aligned, uninitialized; null when out of memory. Buffers of 1 MiB and more are 2 MiB
// aligned and asked to use transparent huge pages; buffers from 64 KiB up to 1 MiB are carved
// out of shared 2 MiB huge-page slabs, each freed when the last buffer in it is.
LargeBuffer AllocateLarge(uint64_t bytes);

}  // namespace riglm
