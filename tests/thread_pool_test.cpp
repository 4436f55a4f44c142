// The thread pool's ways of splitting work: every index is run exactly once, and the balanced
// split lets a free thread take the chunks of one that is held up.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "util/thread_pool.h"

namespace riglm {
namespace {

// How often each index of [0, count) was run.
template <typename Split>
std::vector<int> RunCounts(int64_t count, Split split) {
  std::vector<std::atomic<int>> runs(count);
  split([&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) runs[i].fetch_add(1);
  });
  std::vector<int> counts(count);
  for (int64_t i = 0; i < count; ++i) counts[i] = runs[i].load();
  return counts;
}

TEST(ThreadPoolTest, EverySplitRunsEachIndexOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t count : {1, 2, 7, 64, 1000, 1001}) {
      for (int64_t chunk : {1, 2, 3, 16, 5000}) {
        const std::vector<int> once(count, 1);
        EXPECT_EQ(RunCounts(count, [&](auto fn) { pool.ParallelFor(count, chunk, fn); }), once)
            << "static, " << threads << " threads, " << count << " by " << chunk;
        EXPECT_EQ(RunCounts(count, [&](auto fn) { pool.ParallelForDynamic(count, chunk, fn); }), once)
            << "dynamic, " << threads << " threads, " << count << " by " << chunk;
        EXPECT_EQ(RunCounts(count, [&](auto fn) { pool.ParallelForBalanced(count, chunk, fn); }), once)
            << "balanced, " << threads << " threads, " << count << " by " << chunk;
      }
    }
  }
}

TEST(ThreadPoolTest, BalancedChunksAreWholeAndCoverEveryIndexOnce) {
  ThreadPool pool(2);
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  pool.ParallelForBalanced(100, 8, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    ranges.push_back({begin, end});
  });
  std::vector<int> covered(100, 0);
  for (const auto& [begin, end] : ranges) {
    EXPECT_EQ(begin % 8, 0);
    EXPECT_TRUE((end - begin) % 8 == 0 || end == 100) << begin << ".." << end;
    for (int64_t i = begin; i < end; ++i) ++covered[i];
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(covered[i], 1) << "index " << i;
}

// One thread is held inside its first claim (at most a quarter of its share of 20 chunks) until
// every chunk it has not claimed has run: that can only happen if the other thread takes the held
// thread's remaining share from its back.
TEST(ThreadPoolTest, BalancedSplitLetsAFreeThreadTakeTheChunksOfAHeldOne) {
  ThreadPool pool(2);
  constexpr int64_t kChunks = 40, kHeldClaim = kChunks / 2 / 4;
  std::atomic<int64_t> done{0};
  std::atomic<bool> held{false};
  std::atomic<int64_t> done_when_given_up{-1};
  pool.ParallelForBalanced(kChunks, 1, [&](int64_t begin, int64_t end) {
    if (begin == 0 && !held.exchange(true)) {
      EXPECT_LE(end - begin, kHeldClaim);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (done.load() < kChunks - (end - begin)) {
        if (std::chrono::steady_clock::now() > deadline) {
          done_when_given_up = done.load();
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    done.fetch_add(end - begin);
  });
  EXPECT_EQ(done_when_given_up.load(), -1) << "only " << done_when_given_up.load() << " other chunks ran while one thread was held";
  EXPECT_EQ(done.load(), kChunks);
}

}  // namespace
}  // namespace riglm
