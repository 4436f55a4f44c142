// CUDA kernels against the CPU reference (float64 dot products of the dequantized weights).
// Built with -DRIGLM_CUDA=ON. Without a GPU (CI) each test says so and skips; with
// RIGLM_REQUIRE_GPU=1 (scripts/gpu-check.sh) a missing GPU fails instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cpu/ops.h"
#include "tensor/quant.h"
#include "cuda/require_gpu.h"
#include "test_support.h"

namespace riglm {
namespace {

// The GPU's product of random `rows` x `cols` weights of `type` with a random vector, against
// float64 of the dequantized weights.
void ExpectMatVecMatchesTheReference(DType type, int64_t rows, int64_t cols) {
  const std::vector<float> x = testing::RandomFloats(cols, 7);
  const std::vector<uint8_t> bytes = testing::EncodeAs(type, testing::RandomFloats(rows * cols, 11));
  auto y = cuda::MatVecOnHost(type, bytes, rows, cols, x);
  ASSERT_TRUE(y.ok()) << DTypeName(type) << ": " << y.status().ToString();
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(type, bytes.data() + r * RowBytes(type, cols), row.data(), cols);
    double want = 0.0, magnitude = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      want += static_cast<double>(row[c]) * x[c];
      magnitude += std::abs(static_cast<double>(row[c]) * x[c]);
    }
    EXPECT_NEAR((*y)[r], want, 1e-4 * magnitude + 1e-6) << DTypeName(type) << " cols " << cols << " row " << r;
  }
}

TEST(CudaKernelsTest, MatVecMatchesTheReferenceForEveryType) {
  REQUIRE_GPU();
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                     DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    ASSERT_TRUE(cuda::MatVecSupports(type));
    ExpectMatVecMatchesTheReference(type, 67, 1024);  // rows not a multiple of the rows per thread block
  }
}

// Rows whose blocks do not fill the warp's tile, and rows not 16-byte aligned (Q8_0 at 96
// columns: 102 bytes), take the byte-wise tile loads.
TEST(CudaKernelsTest, MatVecHandlesShortAndUnalignedRows) {
  REQUIRE_GPU();
  ExpectMatVecMatchesTheReference(DType::kQ8_0, 13, 96);
  ExpectMatVecMatchesTheReference(DType::kQ4_K, 13, 256 * 37);
  ExpectMatVecMatchesTheReference(DType::kQ6_K, 13, 256 * 3);
  ExpectMatVecMatchesTheReference(DType::kF16, 13, 40);
}

TEST(CudaKernelsTest, RmsNormMatchesTheReference) {
  REQUIRE_GPU();
  const int64_t rows = 3, cols = 4096;
  const std::vector<float> x = testing::RandomFloats(rows * cols, 3), weight = testing::RandomFloats(cols, 5);
  auto y = cuda::RmsNormOnHost(x, weight, rows, 1e-5f);
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += static_cast<double>(x[r * cols + c]) * x[r * cols + c];
    const double scale = 1.0 / std::sqrt(sum / cols + 1e-5);
    for (int64_t c = 0; c < cols; c += 97) {
      EXPECT_NEAR((*y)[r * cols + c], x[r * cols + c] * scale * weight[c], 1e-4) << r << "," << c;
    }
  }
}

TEST(CudaKernelsTest, RopeMatchesTheCpuInBothStyles) {
  REQUIRE_GPU();
  const int heads = 4, head_dim = 64, rot_dims = 64;
  const std::vector<float> x = testing::RandomFloats(heads * head_dim, 9);
  std::vector<float> inv_freq(rot_dims / 2);
  for (int i = 0; i < rot_dims / 2; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / rot_dims));
  for (bool neox : {false, true}) {
    for (int64_t position : {int64_t{0}, int64_t{17}, int64_t{40000}}) {
      std::vector<float> want = x;
      testing::RopeOneToken(want.data(), heads, head_dim, rot_dims, position, inv_freq.data(), neox ? cpu::RopeStyle::kNeox : cpu::RopeStyle::kInterleaved);
      auto got = cuda::RopeOnHost(x, heads, head_dim, rot_dims, position, inv_freq, neox);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR((*got)[i], want[i], 1e-5) << "neox " << neox << " pos " << position << " i " << i;
    }
  }
}

TEST(CudaKernelsTest, SwiGluMatchesTheCpu) {
  REQUIRE_GPU();
  const std::vector<float> gate = testing::RandomFloats(5000, 1, 6.0f), up = testing::RandomFloats(5000, 2);
  std::vector<float> want(gate.size());
  cpu::SwiGluScalar(gate.data(), up.data(), static_cast<int64_t>(gate.size()), want.data());
  auto got = cuda::SwiGluOnHost(gate, up);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (size_t i = 0; i < gate.size(); i += 7) EXPECT_NEAR((*got)[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << i;
}

// A random F16 KV cache of `num_keys` rows of `row` halves.
struct HalfCache {
  std::vector<uint16_t> keys, values;
  HalfCache(int64_t num_keys, int64_t row) : keys(num_keys * row), values(num_keys * row) {
    const std::vector<float> k = testing::RandomFloats(keys.size(), 4), v = testing::RandomFloats(values.size(), 5);
    for (size_t i = 0; i < k.size(); ++i) {
      keys[i] = FloatToHalf(k[i]);
      values[i] = FloatToHalf(v[i]);
    }
  }
};

// `got` (heads x head_dim) against the CPU's attention of each head of `q` over the first
// `num_keys` rows of the cache.
void ExpectAttentionMatchesTheCpu(const float* got, const float* q, const HalfCache& cache, int64_t num_keys, int heads,
                                  int kv_heads, int head_dim, float scale, const std::string& what) {
  const uint64_t row_bytes = static_cast<uint64_t>(kv_heads) * head_dim * 2;
  for (int h = 0; h < heads; ++h) {
    const int kvh = h / (heads / kv_heads);
    const cpu::KvView keys{reinterpret_cast<const uint8_t*>(cache.keys.data() + kvh * head_dim), DType::kF16, row_bytes};
    const cpu::KvView values{reinterpret_cast<const uint8_t*>(cache.values.data() + kvh * head_dim), DType::kF16, row_bytes};
    std::vector<float> want(head_dim);
    cpu::AttendOneHeadScalar(q + h * head_dim, keys, values, num_keys, head_dim, scale, want.data());
    for (int d = 0; d < head_dim; ++d) ASSERT_NEAR(got[h * head_dim + d], want[d], 1e-4) << what << ", head " << h << " dim " << d;
  }
}

// Grouped-query attention of one token (the decode step's: split-K, the position read on the
// device) against the CPU: any number of shares, more shares than keys included.
TEST(CudaKernelsTest, DecodeAttentionMatchesTheCpu) {
  REQUIRE_GPU();
  const int heads = 8, kv_heads = 2, head_dim = 64;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int64_t num_keys : {int64_t{1}, int64_t{5}, int64_t{300}, int64_t{2049}}) {
    const HalfCache cache(num_keys, kv_heads * head_dim);
    const std::vector<float> q = testing::RandomFloats(heads * head_dim, 3);
    for (int splits : {1, 3, 16}) {
      auto got = cuda::AttendDecodeOnHost(q, cache.keys, cache.values, num_keys, heads, kv_heads, head_dim, scale, splits);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ExpectAttentionMatchesTheCpu(got->data(), q.data(), cache, num_keys, heads, kv_heads, head_dim, scale,
                                   std::to_string(num_keys) + " keys, " + std::to_string(splits) + " splits");
    }
  }
}

// A prompt's causal attention, query by query against the CPU over the keys up to its position;
// head_dim 128 and 80 (not a multiple of the warp) both.
TEST(CudaKernelsTest, PromptAttentionMatchesTheCpu) {
  REQUIRE_GPU();
  const int heads = 8, kv_heads = 2;
  for (int head_dim : {128, 80}) {
    const int64_t first = 37, rows = 21;
    const HalfCache cache(first + rows, kv_heads * head_dim);
    const std::vector<float> q = testing::RandomFloats(rows * heads * head_dim, 3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    auto got = cuda::AttendPromptOnHost(q, cache.keys, cache.values, first, rows, heads, kv_heads, head_dim, scale);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t at = r * heads * head_dim;
      ExpectAttentionMatchesTheCpu(got->data() + at, q.data() + at, cache, first + r + 1, heads, kv_heads, head_dim, scale,
                                   "dim " + std::to_string(head_dim) + " row " + std::to_string(r));
    }
  }
}

// Prompt products through cuBLAS: F16 weights and activations with float sums, against float64.
TEST(CudaKernelsTest, MatMulRowsMatchesTheReference) {
  REQUIRE_GPU();
  const int64_t rows = 96, cols = 512, n = 7;
  const std::vector<float> x = testing::RandomFloats(n * cols, 17);
  for (DType type : {DType::kF16, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kQ5_0}) {
    const std::vector<uint8_t> bytes = testing::EncodeAs(type, testing::RandomFloats(rows * cols, 19));
    auto y = cuda::MatMulRowsOnHost(type, bytes, rows, cols, x, n);
    ASSERT_TRUE(y.ok()) << DTypeName(type) << ": " << y.status().ToString();
    std::vector<float> w(cols);
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(type, bytes.data() + r * RowBytes(type, cols), w.data(), cols);
      for (int64_t t = 0; t < n; ++t) {
        double want = 0.0, magnitude = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
          want += static_cast<double>(w[c]) * x[t * cols + c];
          magnitude += std::abs(static_cast<double>(w[c]) * x[t * cols + c]);
        }
        // Both operands rounded to F16: about 2^-11 of each product.
        ASSERT_NEAR((*y)[t * rows + r], want, 2e-3 * magnitude + 1e-5) << DTypeName(type) << " row " << r << " token " << t;
      }
    }
  }
}

TEST(CudaKernelsTest, GatheredRowsAreTheDequantizedRows) {
  REQUIRE_GPU();
  const int64_t rows = 9, cols = 512;
  const std::vector<int32_t> ids = {3, 0, 8, 3};
  for (DType type : {DType::kF16, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kIQ4_NL}) {
    const std::vector<uint8_t> bytes = testing::EncodeAs(type, testing::RandomFloats(rows * cols, 13));
    auto got = cuda::GatherRowsOnHost(type, bytes, cols, ids);
    ASSERT_TRUE(got.ok()) << DTypeName(type) << ": " << got.status().ToString();
    std::vector<float> want(cols);
    for (size_t i = 0; i < ids.size(); ++i) {
      DequantizeRow(type, bytes.data() + ids[i] * RowBytes(type, cols), want.data(), cols);
      for (int64_t c = 0; c < cols; ++c) ASSERT_FLOAT_EQ((*got)[i * cols + c], want[c]) << DTypeName(type) << " " << i << "," << c;
    }
  }
}

TEST(CudaKernelsTest, UnsupportedTypesAndRaggedRowsAreRefused) {
  REQUIRE_GPU();
  EXPECT_FALSE(cuda::MatVecSupports(DType::kQ8_K));
  const std::vector<float> x(48, 1.0f);
  const std::vector<uint8_t> bytes(2 * 34 * 2, 0);
  EXPECT_EQ(cuda::MatVecOnHost(DType::kQ8_0, bytes, 2, 48, x).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace riglm
