// Buffers for streamed weights: big ones mapped on their own and advised to use huge pages even
// after big heap frees; small ones sharing huge-page slabs that outlive any one of them.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "util/large_buffer.h"

namespace riglm {
namespace {

constexpr uint64_t kHugePage = 2u << 20;

uint64_t Address(const LargeBuffer& b) { return reinterpret_cast<uint64_t>(b.get()); }

// The /proc/self/smaps block of the mapping that holds `address` (its header line first).
std::string MappingOf(uint64_t address) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line, block;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uint64_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> lo >> dash >> hi && dash == '-') {
      if (inside) return block;
      inside = address >= lo && address < hi;
      block.clear();
    }
    if (inside) block += line + "\n";
  }
  return block;
}

TEST(LargeBufferTest, BigBuffersAreAlignedMappedAndAdvisedHugeAfterABigHeapFree) {
  {
    // A freed multi-MB vector raises malloc's mmap threshold, so heap memory would serve next.
    std::vector<uint8_t> source(24u << 20, 1);
  }
  for (uint64_t bytes : {uint64_t{1} << 20, uint64_t{3} << 20, (uint64_t{9} << 20) + 123}) {
    LargeBuffer b = AllocateLarge(bytes);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(Address(b) % kHugePage, 0u) << bytes;
    std::memset(b.get(), 0x5a, bytes);
    EXPECT_EQ(b[bytes - 1], 0x5a);
    const std::string mapping = MappingOf(Address(b));
    ASSERT_FALSE(mapping.empty());
    EXPECT_EQ(mapping.find("[heap]"), std::string::npos) << mapping;
#if defined(__linux__)
    EXPECT_NE(mapping.find(" hg"), std::string::npos) << "no huge-page advice:\n" << mapping;
#endif
  }
}

TEST(LargeBufferTest, MidSizedBuffersShareASlabThatOutlivesEachOfThem) {
  // 0.6 MB: a 1B model's K projection in a 4-bit type. Three fit in one 2 MiB slab.
  constexpr uint64_t kBytes = 600000;
  std::vector<LargeBuffer> buffers;
  for (int i = 0; i < 3; ++i) {
    buffers.push_back(AllocateLarge(kBytes));
    ASSERT_NE(buffers.back(), nullptr);
    EXPECT_EQ(Address(buffers.back()) % 64, 0u);
    std::memset(buffers.back().get(), i + 1, kBytes);
  }
  // No two overlap; consecutive ones are carved from the same 2 MiB page unless a slab filled up.
  int same_slab = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) {
      const uint64_t a = Address(buffers[i]), b = Address(buffers[j]);
      EXPECT_TRUE(a + kBytes <= b || b + kBytes <= a);
      same_slab += a / kHugePage == b / kHugePage;
    }
  }
  EXPECT_GE(same_slab, 1);
  // Freeing some leaves the others' bytes intact (the slab is unmapped only with its last buffer).
  buffers[0].reset();
  buffers[2].reset();
  for (uint64_t i = 0; i < kBytes; i += 4096) ASSERT_EQ(buffers[1][i], 2);
  EXPECT_EQ(buffers[1][kBytes - 1], 2);
}

TEST(LargeBufferTest, SmallBuffersComeFromTheHeapAligned) {
  LargeBuffer b = AllocateLarge(1000);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Address(b) % 64, 0u);
  std::memset(b.get(), 7, 1000);
  EXPECT_EQ(b[999], 7);
}

}  // namespace
}  // namespace riglm
