// A persistent pool of worker threads for data-parallel kernels.
// The calling thread takes part as worker 0, so a pool of N threads starts N-1 helpers.
// Workers spin briefly before sleeping: kernels are dispatched hundreds of times per token, and
// a sleep/wake round trip on every dispatch would cost more than small kernels take.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
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

  static int DefaultThreadCount();  // physical cores as far as the OS tells, at least 1

 private:
  using JobFn = void (*)(const void* context, int thread_idx, int num_threads);
  template <typename Fn>
  static void Invoke(const void* context, int thread_idx, int num_threads) {
    (*static_cast<const Fn*>(context))(thread_idx, num_threads);
  }
  void RunJob(JobFn fn, const void* context);
  void WorkerLoop(int thread_idx);

  int num_threads_;
  std::vector<std::thread> workers_;
  JobFn job_ = nullptr;
  const void* job_context_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace riglm
