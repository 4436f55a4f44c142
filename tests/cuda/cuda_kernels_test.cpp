// CUDA kernels against the CPU reference (float64 dot products of the dequantized weights).
// Built with -DRIGLM_CUDA=ON. Without a GPU (CI) each test says so and skips; with
// RIGLM_REQUIRE_GPU=1 (scripts/gpu-check.sh) a missing GPU fails instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_runtime.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace riglm {
namespace {

bool HaveGpu() {
  static const Result<CudaRuntimeInfo> probe = ProbeCudaRuntime();
  return probe.ok();
}

#define REQUIRE_GPU()                                                                          \
  do {                                                                                         \
    if (!HaveGpu()) {                                                                          \
      const char* require = std::getenv("RIGLM_REQUIRE_GPU");                                  \
      if (require && std::string(require) == "1") FAIL() << ProbeCudaRuntime().status().ToString(); \
      GTEST_SKIP() << "no GPU: " << ProbeCudaRuntime().status().ToString();                    \
    }                                                                                          \
  } while (0)

TEST(CudaKernelsTest, MatVecMatchesTheReferenceForEveryType) {
  REQUIRE_GPU();
  const int64_t rows = 67, cols = 1024;  // rows not a multiple of the rows per thread block
  const std::vector<float> x = testing::RandomFloats(cols, 7);
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
    ASSERT_TRUE(cuda::MatVecSupports(type));
    const std::vector<float> w = testing::RandomFloats(rows * cols, 11);
    const std::vector<uint8_t> bytes = testing::EncodeAs(type, w);
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
      EXPECT_NEAR((*y)[r], want, 1e-4 * magnitude + 1e-6) << DTypeName(type) << " row " << r;
    }
  }
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

TEST(CudaKernelsTest, UnsupportedTypesAndRaggedRowsAreRefused) {
  REQUIRE_GPU();
  EXPECT_FALSE(cuda::MatVecSupports(DType::kQ2_K));
  const std::vector<float> x(48, 1.0f);
  const std::vector<uint8_t> bytes(2 * 34 * 2, 0);
  EXPECT_EQ(cuda::MatVecOnHost(DType::kQ8_0, bytes, 2, 48, x).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace riglm
