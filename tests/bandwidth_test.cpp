// The memory-bandwidth readers behind riglm bench's generation ceiling: they must really read
// every byte (a reader that skipped some would print a ceiling too high), and the measurement
// must come out as a rate.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "backend/cpu/bandwidth.h"
#include "backend/cpu/packed.h"

namespace riglm::cpu {
namespace {

TEST(BandwidthTest, Avx512ReaderFoldsEveryWord) {
  if (!HasAvx512Vnni()) GTEST_SKIP() << "ReadPrefetchedAvx512 not run: this CPU has no AVX-512";
  constexpr uint64_t kWords = 64 * 1024;  // 512 KiB, then the slack the prefetches may touch
  std::vector<uint64_t> words(kWords + kAvx512ReadAhead / sizeof(uint64_t));
  uint64_t expected = 0;
  for (uint64_t i = 0; i < words.size(); ++i) {
    words[i] = (i + 1) * 0x9e3779b97f4a7c15ull;
    if (i < kWords) expected ^= words[i];
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(words.data());
  EXPECT_EQ(ReadPrefetchedAvx512(bytes, kWords * sizeof(uint64_t)), expected);
  // Only whole 128-byte blocks: 64 bytes short of the end, the last block (16 words) is not read.
  uint64_t all_but_last_block = expected;
  for (uint64_t i = kWords - 16; i < kWords; ++i) all_but_last_block ^= words[i];
  EXPECT_EQ(ReadPrefetchedAvx512(bytes, kWords * sizeof(uint64_t) - 64), all_but_last_block);
  // A single flipped bit anywhere changes the result.
  words[12345] ^= 1;
  EXPECT_NE(ReadPrefetchedAvx512(bytes, kWords * sizeof(uint64_t)), expected);
}

TEST(BandwidthTest, MeasuresARate) {
  ThreadPool pool(2);
  const double rate = MeasureReadBandwidth(pool, uint64_t{16} << 20, 1);
  // Any machine this runs on reads memory faster than 100 MB/s and slower than 100 TB/s.
  EXPECT_GT(rate, 1e8);
  EXPECT_LT(rate, 1e14);
}

}  // namespace
}  // namespace riglm::cpu
