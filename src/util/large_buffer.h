// Memory for big buffers that hot loops stream through (packed weights, KV cache, bandwidth probe).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace riglm {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using LargeBuffer = std::unique_ptr<uint8_t[], FreeDeleter>;

// 64-byte aligned, uninitialized; null when out of memory. Buffers of 1 MiB and more are 2 MiB
// aligned and asked to use transparent huge pages.
LargeBuffer AllocateLarge(uint64_t bytes);

}  // namespace riglm
