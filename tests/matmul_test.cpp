// Every weight type, on every instruction set this CPU has: matrix-vector and matrix-matrix
// products against dequantize-then-float64.
#include "backend/cpu/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>

#include "backend/cpu/activations.h"
#include "backend/cpu/packed.h"
#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace riglm::cpu {
namespace {

using testing::RandomFloats;

class MatMulTest : public ::testing::TestWithParam<DType> {};

// Bound on |kernel - exact| for one output. Float-activation kernels only round in float32
// accumulation. Kernels that quantize the activations to Q8_0 also carry that rounding: each
// activation moves by at most half a step, amax(block) / 254.
double ErrorBound(DType type, const float* w, const float* x, int64_t n) {
  double sum_abs = 0.0, quant = 0.0;
  const DType activation = GetVecDotKernel(type, Isa::kScalar).activation_type;
  const bool q8_activations = activation != DType::kF32;
  const int64_t block = activation == DType::kQ8_K ? 256 : 32;
  for (int64_t b = 0; b < n; b += block) {
    double amax = 0.0;
    for (int64_t i = b; i < std::min(n, b + block); ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    for (int64_t i = b; i < std::min(n, b + block); ++i) {
      sum_abs += std::fabs(static_cast<double>(w[i]) * x[i]);
      if (q8_activations) quant += std::fabs(static_cast<double>(w[i])) * (amax / 254.0 * 1.002);
    }
  }
  return quant + 2e-6 * sum_abs * std::log2(static_cast<double>(n) + 1) + 1e-30;
}

TEST_P(MatMulTest, MatchesDequantizedFloat64OnEveryIsa) {
  const DType type = GetParam();
  const int64_t rows = 37, cols = 512, tokens = 5;
  std::vector<float> values = RandomFloats(rows * cols, 21, 1.0f);
  std::vector<uint8_t> weights(RowBytes(type, rows * cols));
  QuantizeRow(type, values.data(), weights.data(), rows * cols);
  std::vector<float> dequantized(rows * cols);
  DequantizeRow(type, weights.data(), dequantized.data(), rows * cols);
  const std::vector<float> x = RandomFloats(tokens * cols, 22, 2.0f);

  for (Isa isa : {Isa::kScalar, Isa::kAvx2}) {
    if (!IsaAvailable(isa)) {
      testing::SayVariantNotRun(std::string(DTypeName(type)) + " on " + std::string(IsaName(isa)));
      continue;
    }
    SCOPED_TRACE(std::string(IsaName(isa)));
    std::printf("[   INFO   ] %s on %s\n", std::string(DTypeName(type)).c_str(), std::string(IsaName(isa)).c_str());
    const VecDotKernel kernel = GetVecDotKernel(type, isa);
    ASSERT_NE(kernel.fn, nullptr);
    std::vector<uint8_t> act(RowBytes(kernel.activation_type, cols));
    for (int64_t t = 0; t < tokens; ++t) {
      QuantizeRow(kernel.activation_type, x.data() + t * cols, act.data(), cols);
      for (int64_t r = 0; r < rows; ++r) {
        const uint64_t row_bytes = RowBytes(type, cols);
        const float got = kernel.fn(cols, weights.data() + r * row_bytes, act.data());
        double want = 0.0;
        for (int64_t c = 0; c < cols; ++c) want += static_cast<double>(dequantized[r * cols + c]) * x[t * cols + c];
        EXPECT_NEAR(got, want, ErrorBound(type, dequantized.data() + r * cols, x.data() + t * cols, cols))
            << "row " << r << " token " << t;
      }
    }
  }
}

TEST_P(MatMulTest, MatrixMatrixEqualsMatrixVectorPerToken) {
  const DType type = GetParam();
  const int64_t rows = 70, cols = 256, tokens = 9;
  std::vector<float> values = RandomFloats(rows * cols, 31, 1.0f);
  std::vector<uint8_t> weights(RowBytes(type, rows * cols));
  QuantizeRow(type, values.data(), weights.data(), rows * cols);
  WeightMatrix w{type, weights.data(), rows, cols, RowBytes(type, cols), nullptr};
  const std::vector<float> x = RandomFloats(tokens * cols, 32, 1.0f);
  ThreadPool pool(2);
  MatMulScratch scratch;
  std::vector<float> batched(tokens * rows), single(rows);
  MatMul(w, x.data(), tokens, batched.data(), pool, scratch);
  std::vector<float> dequantized(rows * cols);
  DequantizeRow(type, weights.data(), dequantized.data(), rows * cols);
  for (int64_t t = 0; t < tokens; ++t) {
    MatMul(w, x.data() + t * cols, 1, single.data(), pool, scratch);
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_EQ(batched[t * rows + r], single[r]);
      double want = 0.0;
      for (int64_t c = 0; c < cols; ++c) want += static_cast<double>(dequantized[r * cols + c]) * x[t * cols + c];
      EXPECT_NEAR(batched[t * rows + r], want, ErrorBound(type, dequantized.data() + r * cols, x.data() + t * cols, cols));
    }
  }
}

TEST_P(MatMulTest, IsaVariantsAgree) {
  const DType type = GetParam();
  if (!IsaAvailable(Isa::kAvx2)) GTEST_SKIP() << "avx2: not available on this CPU";
  // An odd number of blocks: the kernels that alternate accumulators end on a lone block.
  const int64_t cols = 4096 + std::max<int64_t>(32, GetDTypeInfo(type).block_elements);
  std::vector<float> values = RandomFloats(cols, 41, 1.0f);
  std::vector<uint8_t> weights(RowBytes(type, cols));
  QuantizeRow(type, values.data(), weights.data(), cols);
  const VecDotKernel scalar = GetVecDotKernel(type, Isa::kScalar), avx2 = GetVecDotKernel(type, Isa::kAvx2);
  const std::vector<float> x = RandomFloats(cols, 42, 1.0f);
  std::vector<uint8_t> act(RowBytes(scalar.activation_type, cols));
  QuantizeRow(scalar.activation_type, x.data(), act.data(), cols);
  const float a = scalar.fn(cols, weights.data(), act.data());
  const float b = avx2.fn(cols, weights.data(), act.data());
  EXPECT_NEAR(a, b, 1e-4 * (std::fabs(a) + 1.0));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatMulTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                           DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K,
                                           DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace riglm::cpu

namespace riglm::cpu {
namespace {

// The packed AVX-512 VNNI path against dequantize-then-float64, for token counts that exercise
// every tile width (1..8) and remainders, and row counts whose threads' shares hold single row
// groups (48 rows) or pairs of them with one left over (528); with `isa`'s kernels. `extreme`:
// weights and activations at the ends of their quantized ranges, where partial sums in 16 bits
// (the AVX2 kernels') would overflow first: blocks of one -8 and 31 sevens (Q4_0 nibbles 0 and 15)
// and activations all 1 (127 once quantized).
void CheckPackedMatMul(DType type, int64_t rows, Isa isa, bool extreme = false) {
  const int64_t cols = 512;
  const std::string isa_name(IsaName(isa));
  if (!CanPack(type, rows, cols, isa)) {
    std::printf("[  SKIPPED ] packed %s on %s: this CPU cannot run %s (or RIGLM_NO_PACK is set)\n",
                std::string(DTypeName(type)).c_str(), isa_name.c_str(), isa_name.c_str());
    GTEST_SKIP() << isa_name << ": not available";
  }
  std::printf("packed %s on %s\n", std::string(DTypeName(type)).c_str(), isa_name.c_str());
  std::vector<float> values = RandomFloats(rows * cols, 51, 1.0f);
  if (extreme) {
    for (int64_t i = 0; i < rows * cols; ++i) values[i] = i % 32 == 0 ? -8.0f : 7.0f;
  }
  std::vector<uint8_t> weights(RowBytes(type, rows * cols));
  QuantizeRow(type, values.data(), weights.data(), rows * cols);
  std::vector<float> dequantized(rows * cols);
  DequantizeRow(type, weights.data(), dequantized.data(), rows * cols);
  WeightMatrix w{type, weights.data(), rows, cols, RowBytes(type, cols), nullptr};
  w.packed = std::make_shared<const PackedWeights>(Pack(type, w.data, rows, cols, w.row_bytes, isa));
  ThreadPool pool(2);
  MatMulScratch scratch;
  for (int64_t tokens : {1, 2, 3, 4, 5, 7, 8, 9, 19}) {
    std::vector<float> x = RandomFloats(tokens * cols, 52 + tokens, 2.0f);
    // Each token at its own scale, so a kernel that took one token's activation scale for another's fails.
    for (int64_t i = 0; i < tokens * cols; ++i) x[i] *= 1.0f + 0.5f * static_cast<float>(i / cols % 4);
    if (extreme) std::fill(x.begin(), x.end(), 1.0f);
    std::vector<float> y(tokens * rows);
    MatMul(w, x.data(), tokens, y.data(), pool, scratch);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0.0;
        for (int64_t c = 0; c < cols; ++c) want += static_cast<double>(dequantized[r * cols + c]) * x[t * cols + c];
        ASSERT_NEAR(y[t * rows + r], want, ErrorBound(type, dequantized.data() + r * cols, x.data() + t * cols, cols))
            << "rows " << rows << " tokens " << tokens << " token " << t << " row " << r;
      }
    }
  }
}

class PackedMatMulTest : public ::testing::TestWithParam<DType> {};

TEST_P(PackedMatMulTest, MatchesDequantizedFloat64) {
  for (int64_t rows : {48, 528}) CheckPackedMatMul(GetParam(), rows, Isa::kAvx512Vnni);
}

INSTANTIATE_TEST_SUITE_P(PackedTypes, PackedMatMulTest, ::testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kQ4_1, DType::kQ5_0,
                                                                  DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K,
                                                                  DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                                                                  DType::kQ6_K),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// The AVX2 kernels read the same layout, for every packed type.
class PackedAvx2MatMulTest : public ::testing::TestWithParam<DType> {};

TEST_P(PackedAvx2MatMulTest, MatchesDequantizedFloat64) {
  for (int64_t rows : {48, 528}) CheckPackedMatMul(GetParam(), rows, Isa::kAvx2);
}

TEST_P(PackedAvx2MatMulTest, DoesNotSaturateAtTheEndsOfTheRanges) {
  CheckPackedMatMul(GetParam(), 48, Isa::kAvx2, /*extreme=*/true);
}

INSTANTIATE_TEST_SUITE_P(PackedTypes, PackedAvx2MatMulTest,
                         ::testing::Values(DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                           DType::kIQ4_NL, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                                           DType::kQ6_K),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace riglm::cpu

namespace riglm::cpu {
namespace {

// Fused products (one parallel region, activations quantized once) equal separate ones, for
// packed matrices of one type, for K-quants of different types (they share their activations),
// and for a mix that cannot be fused; with one token (decoding's split) and with three.
TEST(MatMulManyTest, EqualsSeparateProducts) {
  const std::vector<std::vector<DType>> mixes = {
      {DType::kQ4_0, DType::kQ4_0, DType::kQ4_0}, {DType::kQ4_0, DType::kQ8_0, DType::kQ4_0},
      {DType::kQ4_K, DType::kQ6_K, DType::kQ5_K}, {DType::kQ6_K, DType::kQ4_K, DType::kQ6_K},
      {DType::kQ6_K, DType::kQ6_K, DType::kQ6_K}, {DType::kQ3_K, DType::kQ5_K, DType::kQ3_K},
      {DType::kQ2_K, DType::kQ4_K, DType::kQ6_K}};
  for (const std::vector<DType>& types : mixes) {
    const int64_t cols = 256;
    const std::vector<int64_t> rows = {64, 16, 24};
    std::vector<std::vector<uint8_t>> storage;
    std::vector<WeightMatrix> matrices;
    std::string mix;
    for (size_t i = 0; i < rows.size(); ++i) {
      const DType type = types[i];
      mix += std::string(DTypeName(type)) + " ";
      std::vector<float> values = RandomFloats(rows[i] * cols, 60 + i, 1.0f);
      storage.emplace_back(RowBytes(type, rows[i] * cols));
      QuantizeRow(type, values.data(), storage.back().data(), rows[i] * cols);
      matrices.push_back({type, storage.back().data(), rows[i], cols, RowBytes(type, cols), nullptr});
      PreparePacked(&matrices.back());
    }
    for (int64_t tokens : {1, 3}) {
      const std::vector<float> x = RandomFloats(tokens * cols, 70 + tokens, 1.0f);
      ThreadPool pool(2);
      MatMulScratch scratch;
      std::vector<std::vector<float>> fused(rows.size()), separate(rows.size());
      std::vector<MatMulTask> tasks;
      for (size_t i = 0; i < rows.size(); ++i) {
        fused[i].resize(tokens * rows[i]);
        separate[i].resize(tokens * rows[i]);
        tasks.push_back({&matrices[i], fused[i].data()});
      }
      MatMulMany(tasks, x.data(), tokens, pool, scratch);
      for (size_t i = 0; i < rows.size(); ++i) {
        MatMul(matrices[i], x.data(), tokens, separate[i].data(), pool, scratch);
        EXPECT_EQ(fused[i], separate[i]) << "matrix " << i << " of " << mix << "with " << tokens << " tokens";
      }
    }
  }
}

// Whether the packed kernels prefetch follows the machine's measured read speeds (a ratio of two
// bandwidths, so near 1) unless RIGLM_WEIGHT_PREFETCH decides; the CLI test covers the variable.
TEST(PrefetchWeightsTest, FollowsTheMeasuredSpeedup) {
  if (std::getenv("RIGLM_WEIGHT_PREFETCH") != nullptr) GTEST_SKIP() << "RIGLM_WEIGHT_PREFETCH is set";
  const double speedup = cpu::MeasuredPrefetchSpeedup();
  EXPECT_GT(speedup, 0.2);
  EXPECT_LT(speedup, 5.0);
  EXPECT_EQ(cpu::PrefetchWeights(), speedup > cpu::kPrefetchMinSpeedup) << speedup;
}

// The AVX2 activation quantizers must write exactly the scalar bytes (kernels and tests rely on
// the scalar definition), including all-zero blocks, ties that round to even and values whose
// product with 1/d rounds just past 127.
TEST(QuantizeActivationsTest, Avx2WritesTheScalarBytes) {
  if (!IsaAvailable(Isa::kAvx2)) GTEST_SKIP() << "avx2: not available on this CPU";
  const int64_t n = 4096;
  std::vector<float> x = RandomFloats(n, 91, 3.0f);
  for (int i = 0; i < 32; ++i) x[i] = 0.0f;                                  // zero Q8_0 block
  for (int i = 256; i < 512; ++i) x[i] = 0.0f;                               // zero Q8_K block
  for (int i = 512; i < 544; ++i) x[i] = static_cast<float>(i % 8) * 0.5f - 2.0f;  // ties
  x[600] = 1e-30f;
  x[601] = -1e30f;
  for (DType type : {DType::kQ8_0, DType::kQ8_K}) {
    std::vector<uint8_t> scalar(RowBytes(type, n)), avx2(RowBytes(type, n));
    QuantizeRow(type, x.data(), scalar.data(), n);
    if (type == DType::kQ8_0) {
      QuantizeQ8_0Avx2(x.data(), avx2.data(), n);
    } else {
      QuantizeQ8_KAvx2(x.data(), avx2.data(), n);
    }
    EXPECT_EQ(scalar, avx2) << "avx2 " << DTypeName(type);
  }
}

// The per-block words the packed 32-element kernels read: the AVX2 and portable versions agree
// with the definition (offset times the quants' sum, or scale times it for types with minima;
// then the scale), computed here from the blocks directly.
TEST(QuantizeActivationsTest, BlockTermsFollowTheirDefinition) {
  const int64_t n = 1024, blocks = n / kQ8_0BlockElements;
  std::vector<float> x = RandomFloats(n, 93, 2.0f);
  for (int i = 0; i < 32; ++i) x[i] = 0.0f;   // zero block
  for (int i = 32; i < 64; ++i) x[i] = 5.0f;  // every quant 127: the largest sum
  std::vector<uint8_t> q(RowBytes(DType::kQ8_0, n));
  QuantizeRow(DType::kQ8_0, x.data(), q.data(), n);
  const auto* block = reinterpret_cast<const BlockQ8_0*>(q.data());
  for (int8_t v : block[1].quants) ASSERT_EQ(v, 127);
  struct Case { int32_t offset; bool has_min; };
  for (const Case c : {Case{8, false}, Case{16, false}, Case{128, false}, Case{0, true}}) {
    std::vector<int32_t> expected(2 * blocks), scalar(2 * blocks, -1), avx2(2 * blocks, -1);
    for (int64_t b = 0; b < blocks; ++b) {
      int32_t sum = 0;
      for (int8_t v : block[b].quants) sum += v;
      const float scale = HalfToFloat(block[b].scale_f16);
      expected[2 * b] = c.has_min ? std::bit_cast<int32_t>(scale * static_cast<float>(sum)) : -c.offset * sum;
      expected[2 * b + 1] = std::bit_cast<int32_t>(scale);
    }
    Q8_0BlockTermsScalar(c.offset, c.has_min, q.data(), blocks, scalar.data());
    EXPECT_EQ(expected, scalar) << "scalar, offset " << c.offset;
    if (!IsaAvailable(Isa::kAvx2)) {
      testing::SayVariantNotRun("avx2 block terms");
      continue;
    }
    Q8_0BlockTermsAvx2(c.offset, c.has_min, q.data(), blocks, avx2.data());
    EXPECT_EQ(expected, avx2) << "avx2, offset " << c.offset;
  }
}

// F16 keys and values: F16C's rounding against FloatToHalf's, over normal, subnormal, tie,
// overflowing and infinite values, and a length that leaves a scalar tail.
TEST(QuantizeActivationsTest, F16cWritesTheScalarHalves) {
  if (!IsaAvailable(Isa::kAvx2)) GTEST_SKIP() << "avx2 (f16c): not available on this CPU";
  const int64_t n = 4099;
  std::vector<float> x = RandomFloats(n, 92, 3.0f);
  for (int i = 0; i < 64; ++i) x[i] = std::ldexp(static_cast<float>(i + 1), -30);  // subnormal halves
  x[100] = 1.0f + std::ldexp(1.0f, -11);                                         // tie: rounds to even
  x[101] = 1.0f + 3 * std::ldexp(1.0f, -11);                                     // tie: rounds up
  x[102] = 65519.0f;
  x[103] = 65520.0f;  // rounds to infinity
  x[104] = -1e30f;
  x[105] = std::numeric_limits<float>::infinity();
  x[4098] = 1.0f + std::ldexp(1.0f, -11);  // in the tail
  std::vector<uint16_t> scalar(n), f16c(n);
  QuantizeRow(DType::kF16, x.data(), scalar.data(), n);
  QuantizeF16F16c(x.data(), f16c.data(), n);
  EXPECT_EQ(scalar, f16c);
}

}  // namespace
}  // namespace riglm::cpu
