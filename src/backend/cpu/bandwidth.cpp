#include "backend/cpu/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/packed.h"
#include "util/large_buffer.h"

namespace riglm::cpu {
namespace {

// How far ahead the page-start reader asks for the first lines of each page.
constexpr uint64_t kPageStartDistance = 16384;
// How far ahead the prefetching readers ask for lines, at most (and a line more).
constexpr uint64_t kPrefetchSlack = kPageStartDistance + 128;
static_assert(kAvx512ReadAhead + 128 <= kPrefetchSlack);

// Plain loads: what hardware prefetchers alone reach.
uint64_t ReadPlain(const uint64_t* words, uint64_t count) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (uint64_t i = 0; i + 4 <= count; i += 4) {
    a += words[i];
    b += words[i + 1];
    c += words[i + 2];
    d += words[i + 3];
  }
  return a ^ b ^ c ^ d;
}

// Vector loads with lines asked for `kDistance` ahead, with locality hint `kHint` (0: NTA, 2: T1):
// every line, or (kPageStarts) only the first two lines of each 4 KiB page.
// On AMD Zen 4, lines asked for non-temporally 4 KiB ahead read 30-45% faster than plain loads
// (the decoding kernels read their weights that way, so a ceiling measured with plain loads
// alone was one they beat), and lines asked into L2 8 KiB ahead at times faster still.
// Page starts: the hardware prefetchers follow a stream within a page and must find it again in
// the next, and these requests find it for them. On a Zen 5 VM (EPYC, 2 vCPUs) that read 10-20%
// faster than plain 64-byte loads (two threads 80 against 73 GB/s, one 42 against 35,
// alternated), where every line asked for ahead read no faster than plain loads. (The decoding
// kernels asking for pages so were no faster: whole 1B steps alternated, 0.95-1.01x.)
using U64x2 = uint64_t __attribute__((vector_size(16)));
template <uint64_t kDistance, int kHint, bool kPageStarts = false>
uint64_t ReadPrefetched(const uint64_t* words, uint64_t count) {
  static_assert(kDistance + 128 <= kPrefetchSlack);
  const auto* bytes = reinterpret_cast<const char*>(words);
  const uint64_t n = count * sizeof(uint64_t);
  U64x2 a{}, b{}, c{}, d{};
  for (uint64_t i = 0; i + 64 <= n; i += 64) {
    if constexpr (kPageStarts) {
      if ((reinterpret_cast<uintptr_t>(bytes + i) & 4095) == 0) {
        __builtin_prefetch(bytes + i + kDistance, 0, kHint);
        __builtin_prefetch(bytes + i + kDistance + 64, 0, kHint);
      }
    } else {
      __builtin_prefetch(bytes + i + kDistance, 0, kHint);
    }
    U64x2 v0, v1, v2, v3;
    std::memcpy(&v0, bytes + i, 16);
    std::memcpy(&v1, bytes + i + 16, 16);
    std::memcpy(&v2, bytes + i + 32, 16);
    std::memcpy(&v3, bytes + i + 48, 16);
    a ^= v0;
    b ^= v1;
    c ^= v2;
    d ^= v3;
  }
  const U64x2 s = a ^ b ^ c ^ d;
  return s[0] ^ s[1];
}

}  // namespace

double MeasureReadBandwidth(ThreadPool& pool, uint64_t bytes, int repetitions) {
  const uint64_t words = bytes / sizeof(uint64_t);
  // The same allocation as packed weights, so the ceiling is measured on the same kind of pages;
  // the slack past the end keeps the last prefetches inside it.
  LargeBuffer storage = AllocateLarge(words * sizeof(uint64_t) + kPrefetchSlack);
  if (storage == nullptr) return 0.0;
  auto* buffer = reinterpret_cast<uint64_t*>(storage.get());
  // Touch every page from the threads that will read it, so the pages are really there.
  pool.ParallelFor(static_cast<int64_t>(words + kPrefetchSlack / sizeof(uint64_t)), 1 << 16,
                   [&](int64_t begin, int64_t end) {
                     for (int64_t i = begin; i < end; ++i) buffer[i] = static_cast<uint64_t>(i);
                   });
  double best = 0.0;
  volatile uint64_t sink = 0;
  using Reader = uint64_t (*)(const uint64_t*, uint64_t);
  std::vector<Reader> readers = {&ReadPlain, &ReadPrefetched<4096, 0>, &ReadPrefetched<8192, 2>,
                                 &ReadPrefetched<kPageStartDistance, 0, true>};
  if (HasAvx512Vnni()) {
    readers.push_back([](const uint64_t* words, uint64_t count) {
      return ReadPrefetchedAvx512(reinterpret_cast<const uint8_t*>(words), count * sizeof(uint64_t));
    });
  }
  // The best of the readers, alternated so that all see the machine's swings alike.
  for (int rep = 0; rep < repetitions; ++rep) {
    for (const Reader read : readers) {
      const auto start = std::chrono::steady_clock::now();
      pool.Run([&](int thread_idx, int num_threads) {
        const uint64_t begin = words * thread_idx / num_threads & ~uint64_t{7};
        const uint64_t end = words * (thread_idx + 1) / num_threads & ~uint64_t{7};
        sink = sink + read(buffer + begin, end - begin);
      });
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / seconds);
    }
  }
  return best;
}

double PrefetchedReadSpeedup() {
  constexpr uint64_t kBytes = uint64_t{64} << 20;
  LargeBuffer storage = AllocateLarge(kBytes + kPrefetchSlack);
  if (storage == nullptr) return 1.0;
  auto* words = reinterpret_cast<uint64_t*>(storage.get());
  const uint64_t count = kBytes / sizeof(uint64_t);
  for (uint64_t i = 0; i < count + kPrefetchSlack / sizeof(uint64_t); ++i) words[i] = i;
  volatile uint64_t sink = 0;
  double best_plain = 0.0, best_prefetched = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    for (const bool prefetched : {false, true}) {
      const auto start = std::chrono::steady_clock::now();
      sink = sink + (prefetched ? ReadPrefetched<4096, 0>(words, count) : ReadPlain(words, count));
      const double rate = 1.0 / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double& best = prefetched ? best_prefetched : best_plain;
      best = std::max(best, rate);
    }
  }
  return best_prefetched / best_plain;
}

}  // namespace riglm::cpu
