// The block decoders the CUDA kernels run (backend/cuda/weight_blocks.h), compiled for the host:
// every supported type against the reference dequantizer, so a wrong GPU decoder fails on a
// machine without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cuda/weight_blocks.h"
#include "tensor/quant.h"
#include "test_support.h"

namespace riglm {
namespace {

constexpr DType kBlockTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,   DType::kQ4_0,
                                 DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kQ2_K,
                                 DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Each element of every block, decoded through Visit, in row order.
std::vector<float> VisitRow(DType type, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(n, std::numeric_limits<float>::quiet_NaN());
  auto decode = [&]<DType kType>() {
    using B = cuda::WeightBlock<kType>;
    EXPECT_EQ(B::kElements, static_cast<int>(GetDTypeInfo(kType).block_elements)) << DTypeName(kType);
    EXPECT_EQ(B::kBytes, static_cast<int>(GetDTypeInfo(kType).block_bytes)) << DTypeName(kType);
    for (int64_t block = 0; block < n / B::kElements; ++block) {
      B::Visit(bytes.data() + block * B::kBytes, [&](int i, float value) {
        ASSERT_TRUE(i >= 0 && i < B::kElements);
        out[block * B::kElements + i] = value;
      });
    }
    return true;
  };
  const bool known = cuda::WithWeightBlock(type, decode, false);
  EXPECT_TRUE(known) << DTypeName(type);
  return out;
}

TEST(WeightBlocksTest, EveryTypeDecodesAsTheReferenceDequantizer) {
  const int64_t n = 4096;
  for (DType type : kBlockTypes) {
    // Weights with a spread of magnitudes and signs, so scales, minima and high bits all vary.
    std::vector<float> w = testing::RandomFloats(n, 21);
    for (int64_t i = 0; i < n; ++i) w[i] *= 1.0f + static_cast<float>(i % 97) / 8.0f;
    const std::vector<uint8_t> bytes = testing::EncodeAs(type, w);
    std::vector<float> want(n);
    DequantizeRow(type, bytes.data(), want.data(), n);
    const std::vector<float> got = VisitRow(type, bytes, n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-6 * std::abs(want[i]) + 1e-30) << DTypeName(type) << " element " << i;
    }
  }
}

TEST(WeightBlocksTest, HalvesDecodeAsTheReferenceForEveryBitPattern) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(bits), static_cast<uint8_t>(bits >> 8)};
    const float want = HalfToFloat(static_cast<uint16_t>(bits)), got = cuda::HalfAt(bytes);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << bits;
    } else {
      ASSERT_EQ(got, want) << bits;
    }
  }
}

TEST(WeightBlocksTest, Iq4NlLevelsAreTheFormatTable) {
  for (int i = 0; i < 16; ++i) EXPECT_EQ(cuda::Iq4NlLevel(i), kIq4NlValues[i]) << i;
}

TEST(WeightBlocksTest, TypesWithoutADecoderAreRefused) {
  EXPECT_FALSE(cuda::WithWeightBlock(DType::kQ8_K, []<DType>() { return true; }, false));
  EXPECT_FALSE(cuda::WithWeightBlock(DType::kIQ2_XXS, []<DType>() { return true; }, false));
}

}  // namespace
}  // namespace riglm
