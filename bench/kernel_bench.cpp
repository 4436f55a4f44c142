// Micro-benchmarks of the CPU matrix-vector kernels: bytes of weights read per second. Args:
// threads, rows of 2048 columns: 256 rows stay in L2 and show what the arithmetic alone allows,
// 2048 rows fit a large L3, 131072 rows (64-270 MB) stream from memory as decoding does.
// BM_MatMul: products with a batch of tokens (continuous batching, prompts), in multiply-adds
// per second; args: threads, rows, tokens.
#include <benchmark/benchmark.h>

#include <vector>

#include "backend/cpu/matmul.h"
#include "tensor/quant.h"

namespace riglm {
namespace {

// Products of `rows` x 2048 weights of `type` with `tokens` activation rows, timed.
int64_t TimeMatMul(benchmark::State& state, DType type, int64_t rows, int64_t tokens) {
  const int64_t cols = 2048;
  std::vector<float> values(rows * cols);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  std::vector<uint8_t> weights(RowBytes(type, rows * cols));
  QuantizeRow(type, values.data(), weights.data(), rows * cols);
  cpu::WeightMatrix w{type, weights.data(), rows, cols, RowBytes(type, cols), nullptr};
  cpu::PreparePacked(&w);
  std::vector<float> x(tokens * cols, 0.25f), y(tokens * rows);
  ThreadPool pool(static_cast<int>(state.range(0)));
  cpu::MatMulScratch scratch;
  for (auto _ : state) {
    cpu::MatMul(w, x.data(), tokens, y.data(), pool, scratch);
    benchmark::DoNotOptimize(y.data());
  }
  return static_cast<int64_t>(weights.size());
}

void BM_MatVec(benchmark::State& state, DType type) {
  const int64_t weight_bytes = TimeMatMul(state, type, state.range(1), 1);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * weight_bytes);
}

void BM_MatMul(benchmark::State& state, DType type) {
  const int64_t rows = state.range(1), tokens = state.range(2);
  TimeMatMul(state, type, rows, tokens);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * rows * 2048 * tokens);
}

BENCHMARK_CAPTURE(BM_MatMul, q8_0, DType::kQ8_0)->ArgsProduct({{1}, {512}, {1, 4, 8, 16, 64}});
BENCHMARK_CAPTURE(BM_MatMul, q4_0, DType::kQ4_0)->ArgsProduct({{1}, {512}, {1, 4, 8, 16, 64}});
BENCHMARK_CAPTURE(BM_MatMul, q4_k, DType::kQ4_K)->ArgsProduct({{1}, {512}, {1, 4, 8, 16, 64}});
BENCHMARK_CAPTURE(BM_MatMul, q6_k, DType::kQ6_K)->ArgsProduct({{1}, {512}, {1, 4, 8, 16, 64}});
// About 200 KB of weights, which stay in a core's L2 with the activations: arithmetic alone, free
// of the L3 and memory traffic of other tenants that makes the 512-row cases swing up to 1.6x on
// shared VMs.
BENCHMARK_CAPTURE(BM_MatMul, q8_0_l2, DType::kQ8_0)->ArgsProduct({{1}, {128}, {1, 16}});
BENCHMARK_CAPTURE(BM_MatMul, q4_0_l2, DType::kQ4_0)->ArgsProduct({{1}, {128}, {1, 16}});
BENCHMARK_CAPTURE(BM_MatMul, q4_k_l2, DType::kQ4_K)->ArgsProduct({{1}, {128}, {1, 16}});
BENCHMARK_CAPTURE(BM_MatMul, q6_k_l2, DType::kQ6_K)->ArgsProduct({{1}, {128}, {1, 16}});
// 75-100 MB of weights, more than any cache: products that stream from memory, on two threads.
BENCHMARK_CAPTURE(BM_MatMul, q4_0_mem, DType::kQ4_0)->ArgsProduct({{2}, {65536}, {1, 4, 8}});
BENCHMARK_CAPTURE(BM_MatMul, q8_0_mem, DType::kQ8_0)->ArgsProduct({{2}, {32768}, {1, 8}});
BENCHMARK_CAPTURE(BM_MatMul, q4_k_mem, DType::kQ4_K)->ArgsProduct({{2}, {65536}, {1, 8}});
BENCHMARK_CAPTURE(BM_MatMul, q6_k_mem, DType::kQ6_K)->ArgsProduct({{2}, {49152}, {1, 8}});

BENCHMARK_CAPTURE(BM_MatVec, f32, DType::kF32)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, f16, DType::kF16)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, bf16, DType::kBF16)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q8_0, DType::kQ8_0)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q4_0, DType::kQ4_0)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q4_k, DType::kQ4_K)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q6_k, DType::kQ6_K)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q5_k, DType::kQ5_K)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q3_k, DType::kQ3_K)->ArgsProduct({{1, 2}, {256, 2048, 131072}});
BENCHMARK_CAPTURE(BM_MatVec, q2_k, DType::kQ2_K)->ArgsProduct({{1, 2}, {256, 2048, 131072}});

}  // namespace
}  // namespace riglm

BENCHMARK_MAIN();
