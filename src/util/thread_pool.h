// A persistent pool of worker threads for data-parallel kernels.
// The calling thread takes part as worker 0, so a pool of N threads starts N-1 helpers.
// Workers spin briefly before sleeping: kernels are dispatched hundreds of times per token, and
// a sleep/wake round trip on every dispatch would cost more than small kernels take.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace riglm {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(thread_idx, num_threads) on every thread and returns when all are done.
  // Not reentrant: fn must not call Run on the same pool. One caller at a time. Takes any
  // callable by reference, so dispatching allocates nothing.
  template <typename Fn>
  void Run(const Fn& fn) {
    RunJob(&Invoke<Fn>, &fn);
  }

  // Splits [0, count) into contiguous ranges of whole `grain`-sized chunks, one per thread,
  // and calls fn(begin, end) for each non-empty range.
  template <typename Fn>
  void ParallelFor(int64_t count, int64_t grain, const Fn& fn) {
    if (count <= 0) return;
    grain = grain < 1 ? 1 : grain;
    const int64_t chunks = (count + grain - 1) / grain;
    if (num_threads_ == 1 || chunks == 1) {
      fn(int64_t{0}, count);
      return;
    }
    Run([&](int thread_idx, int num_threads) {
      const int64_t first_chunk = chunks * thread_idx / num_threads;
      const int64_t last_chunk = chunks * (thread_idx + 1) / num_threads;
      const int64_t begin = first_chunk * grain;
      const int64_t end = last_chunk * grain < count ? last_chunk * grain : count;
      if (begin < end) fn(begin, end);
    });
  }

  // Like ParallelFor, but threads take `chunk`-sized pieces from a shared counter until none are
  // left, so a thread that started late or runs slower simply takes fewer. For memory-bound
  // loops where static halves leave one core waiting.
  template <typename Fn>
  void ParallelForDynamic(int64_t count, int64_t chunk, const Fn& fn) {
    if (count <= 0) return;
    chunk = chunk < 1 ? 1 : chunk;
    if (num_threads_ == 1 || count <= chunk) {
      fn(int64_t{0}, count);
      return;
    }
    std::atomic<int64_t> next{0};
    Run([&](int, int) {
      while (true) {
        const int64_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
        if (begin >= count) return;
        fn(begin, begin + chunk < count ? begin + chunk : count);
      }
    });
  }

  // Like ParallelFor, each thread first runs its own contiguous share from its front, a quarter
  // of what is left of it at a time (at least one `chunk`); a thread that finishes early then
  // takes single chunks from the back of the others' shares, so fn(begin, end) gets one or more
  // whole chunks. Decoding wants both: long sequential streams for the prefetchers, and no core
  // idle at the end of a region while the other, started a little later or slowed down a little,
  // finishes its static half. Every claim is a locked instruction, which also orders the core's
  // memory accesses (our guess at why fewer help); claiming a quarter at a time takes ~15 of
  // them for a share of 64 chunks instead of 64. Whole 1B Q4_0 decoding steps, alternated in one
  // process against single claims of 32 chunks: 6.6% faster while the two vCPUs of our VM sit
  // on different core complexes, 1.2% otherwise.
  template <typename Fn>
  void ParallelForBalanced(int64_t count, int64_t chunk, const Fn& fn) {
    if (count <= 0) return;
    chunk = chunk < 1 ? 1 : chunk;
    const int64_t chunks = (count + chunk - 1) / chunk;
    if (num_threads_ == 1 || chunks == 1 || chunks > kMaxBalancedChunks) {
      ParallelFor(count, chunk, fn);
      return;
    }
    for (int t = 0; t < num_threads_; ++t) {
      shares_[t].range.store(PackRange(chunks * t / num_threads_, chunks * (t + 1) / num_threads_),
                             std::memory_order_relaxed);
    }
    Run([&](int thread_idx, int num_threads) {
      auto run_chunks = [&](ChunkRange r) { fn(r.first * chunk, r.end < chunks ? r.end * chunk : count); };
      for (ChunkRange r; (r = TakeChunks(thread_idx, /*from_back=*/false)).first >= 0;) run_chunks(r);
      for (int k = 1; k < num_threads; ++k) {
        for (ChunkRange r; (r = TakeChunks((thread_idx + k) % num_threads, /*from_back=*/true)).first >= 0;) {
          run_chunks(r);
        }
      }
    });
  }

  static int DefaultThreadCount();  // physical cores as far as the OS tells, at least 1

 private:
  using JobFn = void (*)(const void* context, int thread_idx, int num_threads);
  template <typename Fn>
  static void Invoke(const void* context, int thread_idx, int num_threads) {
    (*static_cast<const Fn*>(context))(thread_idx, num_threads);
  }
  void RunJob(JobFn fn, const void* context);

  // A thread's remaining share of ParallelForBalanced's chunks: [front, back) in one word, so
  // its owner (from the front) and thieves (from the back) claim chunks with one CAS each.
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };
  static constexpr int64_t kMaxBalancedChunks = int64_t{1} << 31;
  static uint64_t PackRange(int64_t front, int64_t back) {
    return static_cast<uint64_t>(front) | static_cast<uint64_t>(back) << 32;
  }
  struct ChunkRange {
    int64_t first = -1, end = -1;
  };
  // Chunks claimed from `owner`'s share: by its owner a quarter of what is left (at least one)
  // from the front, by a thief one from the back; first is -1 once the share is empty.
  ChunkRange TakeChunks(int owner, bool from_back) {
    std::atomic<uint64_t>& range = shares_[owner].range;
    uint64_t v = range.load(std::memory_order_relaxed);
    while (true) {
      const int64_t front = static_cast<int64_t>(v & 0xffffffffu), back = static_cast<int64_t>(v >> 32);
      if (front >= back) return {};
      const int64_t take = from_back ? 1 : std::max<int64_t>(1, (back - front) / 4);
      const uint64_t next = from_back ? PackRange(front, back - 1) : PackRange(front + take, back);
      if (range.compare_exchange_weak(v, next, std::memory_order_relaxed)) {
        return from_back ? ChunkRange{back - 1, back} : ChunkRange{front, front + take};
      }
    }
  }
  void WorkerLoop(int thread_idx);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::unique_ptr<Share[]> shares_;
  JobFn job_ = nullptr;
  const void* job_context_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace riglm
