// A persistent pool of worker threads for data-parallel kernels.
// The calling thread takes part as worker 0, so a pool of N threads starts N-1 helpers.
// Workers spin briefly before sleeping: kernels are dispatched hundreds of times per token, and
// a sleep/wake round trip on every dispatch would cost more than small kernels take.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
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
  // Not reentrant: fn must not call Run on the same pool. One caller at a time.
  void Run(const std::function<void(int thread_idx, int num_threads)>& fn);

  // Splits [0, count) into contiguous ranges of whole `grain`-sized chunks, one per thread.
  void ParallelFor(int64_t count, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

  static int DefaultThreadCount();  // physical cores as far as the OS tells, at least 1

 private:
  void WorkerLoop(int thread_idx);

  int num_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace riglm
