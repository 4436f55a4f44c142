// How fast this machine reads memory: the ceiling for decoding, which reads every weight once
// per token.
#pragma once

#include <cstdint>

#include "util/thread_pool.h"

namespace riglm::cpu {

// Best of `repetitions` rounds of passes over a `bytes` buffer (far larger than the caches), read
// by every thread of the pool in parallel: once with plain loads, once prefetching every line
// 4 KiB ahead non-temporally (as the decoding kernels do), once prefetching into L2 8 KiB ahead,
// once asking 16 KiB ahead for the first lines of each page only; bytes per second.
double MeasureReadBandwidth(ThreadPool& pool, uint64_t bytes = uint64_t{512} << 20, int repetitions = 5);

// How much faster one thread reads memory prefetching 4 KiB ahead non-temporally than with plain
// loads that leave the reading ahead to the hardware prefetchers (best of 5 alternated passes
// over 64 MiB each; a few tens of milliseconds): 1.3 means 30% faster.
double PrefetchedReadSpeedup();

}  // namespace riglm::cpu
