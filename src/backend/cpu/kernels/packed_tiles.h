// The loops around the packed kernels' tiles, shared by every ISA's kernels (kernels/<isa>/),
// and the weight prefetch they all make. Header-only: each kernel file instantiates it with its
// own tiles, compiled for its own ISA.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "backend/cpu/packed.h"

namespace riglm::cpu {

// Each column's bytes can be requested this far ahead of their use, non-temporally (weights are
// read once per token, so they should not push the activations and the KV cache out of L2).
// Whether to is measured per machine (PrefetchWeights): on a Zen 4 VM, on the first days,
// prefetching read 30-40% faster than the hardware prefetchers alone and made one-token
// products 24-32% faster; later plain reads were 7-20% faster, and whole 1B decoding steps
// without the prefetches were 3-5% faster (5-23% while the two vCPUs sat on different core
// complexes), prompts 3-6%. 4 KiB was the best distance for every type (against 1.5, 2, 3 and
// 8 KiB, and prefetching into L2 8 KiB ahead). (From 1664474 until PrefetchAhead was written
// out, the compiler had dropped the requests: what was measured there was no prefetching.) On
// a Zen 5 VM (EPYC, 2 vCPUs), 2 threads, alternated in one process: whole 1B decoding steps
// with the requests, Q4_0 1.07-1.09x, Q8_0 1.00x (its requests had been dropped, see below),
// Q4_K_M 1.04-1.11x (its Q6_K products 1.43x); whole Q4_0 steps against this distance and hint,
// the same way: non-temporal 8 and 16 KiB ahead 0.96-0.97x, into L2 (T1) 4, 8 or 16 KiB ahead
// 0.96x, T0 0.92x, into L2 16-32 KiB ahead as well as non-temporal 1-4 KiB ahead 0.97-1.01x.
// The AVX-512 Q4_K and Q5_K tiles ask for nothing (see TileQ4_K); the AVX2 ones do. On a Zen 3 VM
// (AVX2 only), medians of 3-5 alternated runs of 1B decoding, % of the ceiling, with the requests
// that had been dropped restored: Q8_0 81 -> 88, Q6_K 82 -> 85, Q3_K_M 55 -> 61, Q4_K_M 73 -> 77
// (65 without any requests).
constexpr uint64_t kPrefetchDistance = 4096;

// One request per line, as volatile asm: GCC 12 sees a function that holds nothing but
// _mm_prefetch as without side effects and deletes calls to it. That dropped the requests of a
// loop under `if (prefetch)` (every kernel ran without them from 1664474 on), and later, of
// every PrefetchAhead of more than 5 lines: the early inliner left the lambda below out of line,
// and the call went. Q8_0 columns (9 lines), Q2_K and Q3_K ran without requests until 2026-12-07.
[[gnu::always_inline]] inline void PrefetchLine(const uint8_t* line) {
  __asm__ volatile("prefetchnta %0" : : "m"(*line));
}

// Always inlined: a call in a tile's loop makes the compiler save every vector register around it
// (the AVX2 Q4_K tile, left with such calls, spent 4% of 1B decoding in them).
template <uint64_t... kLine>
[[gnu::always_inline]] inline void PrefetchLines(const uint8_t* first, std::integer_sequence<uint64_t, kLine...>) {
  (PrefetchLine(first + 64 * kLine), ...);
}

template <uint64_t kBytes>
[[gnu::always_inline]] inline void PrefetchAhead(bool prefetch, const uint8_t* column) {
  if (prefetch) PrefetchLines(column + kPrefetchDistance, std::make_integer_sequence<uint64_t, (kBytes + 63) / 64>{});
}

// Runs `tiles` over row groups [group_begin, group_end) and `num_tokens` tokens (arguments as
// PackedMatMul's). `tiles.template Run<T>(prefetch, g, groups, act, sums, sums32, y, y_stride)`
// computes `groups` consecutive row groups from g (2 only when `pair_groups`) for T tokens (1-4).
template <typename Tiles>
void RunPackedTiles(const PackedWeights& w, int64_t group_begin, int64_t group_end, const uint8_t* activations,
                    uint64_t act_row_bytes, const int32_t* act_sums, int64_t num_tokens, float* y, int64_t y_stride,
                    bool pair_groups, const Tiles& tiles) {
  // Decided once per product: asked inside the loops, the decision was a call that the compiler
  // wrapped in vzeroupper and spills of the accumulators, once per block column, and whole 1B
  // Q4_0 decoding steps ran 2-4% slower.
  const bool prefetch = PrefetchWeights();
  constexpr int kTile = 4;
  // Groups are taken a cache-sized chunk at a time and every token tile runs over the chunk
  // while it is in L2, so a batch reads the weights from memory once, not once per tile.
  constexpr uint64_t kChunkBytes = 256 << 10;
  // One token has a single tile: no chunking. Pairs of groups need an even chunk.
  int64_t chunk_groups = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / w.group_bytes));
  if (num_tokens == 1) chunk_groups = group_end - group_begin;
  if (pair_groups) chunk_groups += chunk_groups % 2;
  const int64_t blocks = w.cols / 32;  // Q4_0 sums are per 32-element block
  for (int64_t g0 = group_begin; g0 < group_end; g0 += chunk_groups) {
    const int64_t g1 = std::min(group_end, g0 + chunk_groups);
    for (int64_t t0 = 0; t0 < num_tokens; t0 += kTile) {
      const int n = static_cast<int>(std::min<int64_t>(kTile, num_tokens - t0));
      const uint8_t* act[kTile];
      const int32_t* sums[kTile];
      const int16_t* sums32[kTile];
      for (int t = 0; t < n; ++t) {
        act[t] = activations + (t0 + t) * act_row_bytes;
        sums[t] = act_sums + 2 * (t0 + t) * blocks;
        // For Q4_K and Q5_K the same scratch holds 16-bit sums of each 32 activations.
        sums32[t] = reinterpret_cast<const int16_t*>(act_sums) + (t0 + t) * blocks;
      }
      for (int64_t g = g0; g < g1; g += pair_groups && g + 1 < g1 ? 2 : 1) {
        const int groups = pair_groups && g + 1 < g1 ? 2 : 1;
        float* out = y + t0 * y_stride + g * w.group_rows;
        switch (n) {
          case 4: tiles.template Run<4>(prefetch, g, groups, act, sums, sums32, out, y_stride); break;
          case 3: tiles.template Run<3>(prefetch, g, groups, act, sums, sums32, out, y_stride); break;
          case 2: tiles.template Run<2>(prefetch, g, groups, act, sums, sums32, out, y_stride); break;
          default: tiles.template Run<1>(prefetch, g, groups, act, sums, sums32, out, y_stride); break;
        }
      }
    }
  }
}

}  // namespace riglm::cpu
