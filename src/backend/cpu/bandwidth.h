// How fast this machine reads memory: the ceiling for decoding, which reads every weight once
// per token.
#pragma once

#include <cstdint>

#include "util/thread_pool.h"

namespace riglm::cpu {

// Best of `repetitions` rounds of passes over a `bytes` buffer (far larger than the caches), read
// by every thread of the pool in parallel: once with plain loads, once prefetching every line
// 4 KiB ahead non-temporally (as the decoding kernels do), once prefetching into L2 8 KiB ahead,
// once asking 16 KiB ahead for the first lines of each page only, and on CPUs with AVX-512 once
// with 64-byte loads prefetching 4 KiB ahead; bytes per second.
double MeasureReadBandwidth(ThreadPool& pool, uint64_t bytes = uint64_t{512} << 20, int repetitions = 5);

// How far ahead ReadPrefetchedAvx512 asks for lines: as far as the decoding kernels do
// (kPrefetchDistance, kernels/packed_tiles.h; read_avx512.cpp asserts they are equal).
constexpr uint64_t kAvx512ReadAhead = 4096;

// One pass over the first `n` bytes (whole 128-byte blocks) with 64-byte loads, each line asked
// for kAvx512ReadAhead bytes ahead non-temporally (so that much past the end must be readable);
// returns the XOR of the 64-bit words read. AVX-512 only: call after HasAvx512Vnni(). The
// decoding kernels read their weights with such loads; the readers above, compiled for any
// x86-64, take four loads a line, and on a Zen 5 VM they read at times 27% slower than this one
// (49.7 against 68.2 GB/s, two threads), below what the kernels then streamed.
uint64_t ReadPrefetchedAvx512(const uint8_t* bytes, uint64_t n);

// How much faster one thread reads memory prefetching 4 KiB ahead non-temporally than with plain
// loads that leave the reading ahead to the hardware prefetchers (best of 5 alternated passes
// over 64 MiB each; a few tens of milliseconds): 1.3 means 30% faster.
double PrefetchedReadSpeedup();

}  // namespace riglm::cpu
