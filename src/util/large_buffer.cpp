#include "util/large_buffer.h"

#include <sys/mman.h>

#include <mutex>

namespace riglm {
namespace {

constexpr uint64_t kHugePage = 2u << 20;
// Below this a buffer's pages are not worth a slab: small vectors, read rarely.
constexpr uint64_t kSlabMin = 64u << 10;

// Decoding streams every weight byte once per token. With 4 KiB pages that is a TLB miss every
// 4 KiB, and in a virtual machine each miss walks two page tables: measured on the development
// VM, packed Q8_0 decoding ran 3x slower on 4 KiB pages than on 2 MiB ones.
// Mapped here rather than taken from the heap: after a big free, malloc serves buffers of a few
// MB from heap memory already faulted in as 4 KiB pages, which the huge-page advice does not
// change (a benchmark that freed each 1B-shaped matrix's source bytes after packing it found a
// quarter of the packed matrices on 4 KiB pages, and their products up to 25% slower).
uint8_t* MapHuge(uint64_t bytes) {
  // One huge page more than needed, so the start can be aligned; the slack is returned.
  void* p = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t raw = reinterpret_cast<uintptr_t>(p);
  const uintptr_t start = (raw + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  if (start > raw) munmap(p, start - raw);
  munmap(reinterpret_cast<void*>(start + bytes), raw + kHugePage - start);
#if defined(MADV_HUGEPAGE)
  madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<uint8_t*>(start);
}

// Matrices under 1 MiB (a 1B model's K and V projections, 0.6 MB in 4-bit types) would each
// waste most of a huge page of their own, and on 4 KiB pages they read slowly: they share slabs.
class SlabCarver {
 public:
  LargeBuffer Allocate(uint64_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    std::lock_guard<std::mutex> lock(mutex_);
    if (slab_ == nullptr || used_ + bytes > kHugePage) {
      uint8_t* base = MapHuge(kHugePage);
      if (base == nullptr) return nullptr;
      slab_ = std::shared_ptr<void>(base, [](void* p) { munmap(p, kHugePage); });
      used_ = 0;
    }
    uint8_t* p = static_cast<uint8_t*>(slab_.get()) + used_;
    used_ += bytes;
    return LargeBuffer(p, LargeBufferDeleter{slab_});
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<void> slab_;  // the slab being filled; each buffer in it holds a share
  uint64_t used_ = 0;
};

}  // namespace

void LargeBufferDeleter::operator()(uint8_t* p) const {
  if (slab) {
    slab.reset();
  } else if (mapped_bytes > 0) {
    munmap(p, mapped_bytes);
  } else {
    std::free(p);
  }
}

LargeBuffer AllocateLarge(uint64_t bytes) {
  if (bytes < kSlabMin) return LargeBuffer(static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
  if (bytes < kHugePage / 2) {
    static SlabCarver carver;
    return carver.Allocate(bytes);
  }
  const uint64_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  return LargeBuffer(MapHuge(rounded), LargeBufferDeleter{nullptr, rounded});
}

}  // namespace riglm
