#include "backend/cpu/bandwidth.h"

#include <chrono>
#include <cstring>
#include <memory>

#include "util/large_buffer.h"

namespace riglm::cpu {

double MeasureReadBandwidth(ThreadPool& pool, uint64_t bytes, int repetitions) {
  const uint64_t words = bytes / sizeof(uint64_t);
  // The same allocation as packed weights, so the ceiling is measured on the same kind of pages.
  LargeBuffer storage = AllocateLarge(words * sizeof(uint64_t));
  if (storage == nullptr) return 0.0;
  auto* buffer = reinterpret_cast<uint64_t*>(storage.get());
  // Touch every page from the threads that will read it, so the pages are really there.
  pool.ParallelFor(static_cast<int64_t>(words), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) buffer[i] = static_cast<uint64_t>(i);
  });
  double best = 0.0;
  volatile uint64_t sink = 0;
  for (int rep = 0; rep < repetitions; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    pool.Run([&](int thread_idx, int num_threads) {
      const uint64_t begin = words * thread_idx / num_threads, end = words * (thread_idx + 1) / num_threads;
      uint64_t a = 0, b = 0, c = 0, d = 0;
      for (uint64_t i = begin; i + 4 <= end; i += 4) {
        a += buffer[i];
        b += buffer[i + 1];
        c += buffer[i + 2];
        d += buffer[i + 3];
      }
      sink = sink + (a ^ b ^ c ^ d);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / seconds);
  }
  return best;
}

}  // namespace riglm::cpu
