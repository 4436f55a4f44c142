#include "util/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RIGLM_CPU_RELAX() _mm_pause()
#else
#define RIGLM_CPU_RELAX() ((void)0)
#endif

namespace riglm {
namespace {
constexpr int kSpinIterations = 20000;
// Every this many spins a waiting thread also yields its CPU. With more threads than free CPUs
// (-t above the core count, or other busy processes), a thread that spins without yielding keeps
// the one it waits for off the CPU until the scheduler's time slice ends, on every dispatch: a
// 2-core VM generated 20 tokens/s with 3 threads where 2 gave 5800. With nothing else runnable
// the yield returns at once.
constexpr int kSpinsPerYield = 256;

void SpinOnce(int spin) {
  if (spin % kSpinsPerYield == kSpinsPerYield - 1) {
    std::this_thread::yield();
  } else {
    RIGLM_CPU_RELAX();
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(std::max(1, num_threads)), shares_(std::make_unique<Share[]>(num_threads_)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::WorkerLoop(int thread_idx) {
  uint64_t seen = 0;
  while (true) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      SpinOnce(spin);
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load()) return;
    job_(job_context_, thread_idx, num_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::RunJob(JobFn fn, const void* context) {
  if (num_threads_ == 1) {
    fn(context, 0, 1);
    return;
  }
  job_ = fn;
  job_context_ = context;
  pending_.store(num_threads_ - 1, std::memory_order_release);
  {
    // The lock orders the generation bump with sleepers' predicate check.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  fn(context, 0, num_threads_);
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) SpinOnce(spin);
  job_ = nullptr;
  job_context_ = nullptr;
}

int ThreadPool::DefaultThreadCount() {
  // Count distinct (package, core) pairs: hyperthreads share a core's memory bandwidth and
  // vector units, so more threads than cores usually slows decoding down.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, physical_id = "0";
  while (std::getline(cpuinfo, line)) {
    auto value = [&] { return line.substr(line.find(':') + 1); };
    if (line.rfind("physical id", 0) == 0) physical_id = value();
    if (line.rfind("core id", 0) == 0) cores.emplace(physical_id, value());
  }
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  int n = cores.empty() ? hw : static_cast<int>(cores.size());
  if (hw > 0) n = std::min(n, hw);
  return std::max(1, n);
}

}  // namespace riglm
