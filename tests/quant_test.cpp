// Known answers for the half-precision conversions and block formats, and round-trip bounds.
#include "tensor/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_support.h"

namespace riglm {
namespace {

TEST(QuantTest, HalfKnownAnswers) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);        // rounds up to infinity
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie rounds to even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  // Every finite half survives a round trip through float.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
}

TEST(QuantTest, BFloat16KnownAnswers) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(0x4049), 3.140625f);
  EXPECT_EQ(FloatToBFloat16(3.14159265f), 0x4049);
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie to even
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
}

TEST(QuantTest, Q8_0KnownAnswer) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16) / 16.0f * 1.27f;  // amax 1.27 at i = 0
  BlockQ8_0 block;
  QuantizeRow(DType::kQ8_0, x.data(), &block, 32);
  EXPECT_EQ(HalfToFloat(block.scale_f16), HalfToFloat(FloatToHalf(0.01f)));
  EXPECT_EQ(block.quants[0], -127);
  EXPECT_EQ(block.quants[16], 0);
  EXPECT_EQ(block.quants[24], 64);  // 0.635 / 0.01 = 63.5 rounds to 64
  std::vector<float> back(32);
  DequantizeRow(DType::kQ8_0, &block, back.data(), 32);
  EXPECT_FLOAT_EQ(back[0], -127 * HalfToFloat(block.scale_f16));
}

TEST(QuantTest, Q4_0KnownAnswer) {
  // Hand-built block: scale 0.5, low nibbles 0..15, high nibbles 15..0.
  BlockQ4_0 block;
  block.scale_f16 = FloatToHalf(0.5f);
  for (int j = 0; j < 16; ++j) block.quants[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  std::vector<float> out(32);
  DequantizeRow(DType::kQ4_0, &block, out.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], (j - 8) * 0.5f);
    EXPECT_EQ(out[j + 16], (7 - j) * 0.5f);
  }
  // Quantizing: the largest magnitude maps to -8 exactly.
  std::vector<float> x = testing::RandomFloats(32, 5, 1.0f);
  x[3] = 2.0f;
  QuantizeRow(DType::kQ4_0, x.data(), &block, 32);
  EXPECT_EQ(HalfToFloat(block.scale_f16), -0.25f);
  EXPECT_EQ(block.quants[3] & 0x0f, 0);
}

TEST(QuantTest, RoundTripErrorIsWithinHalfAStep) {
  const std::vector<float> x = testing::RandomFloats(4096, 77, 3.0f);
  for (DType type : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    std::vector<uint8_t> bytes(RowBytes(type, x.size()));
    QuantizeRow(type, x.data(), bytes.data(), static_cast<int64_t>(x.size()));
    std::vector<float> back(x.size());
    DequantizeRow(type, bytes.data(), back.data(), static_cast<int64_t>(x.size()));
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0.0f;
      for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
      for (size_t i = b; i < b + 32; ++i) {
        double bound = 0.0;
        switch (type) {
          case DType::kF16: bound = std::fabs(x[i]) * std::ldexp(1.0, -11); break;
          case DType::kBF16: bound = std::fabs(x[i]) * std::ldexp(1.0, -8); break;
          case DType::kQ8_0: bound = amax / 127.0 * 0.5 * 1.01 + amax * 1e-3; break;
          // Q4_0 spans -8..7 steps: half a step, or a whole one at the clamped +8 end.
          default: bound = amax / 8.0 * 1.01 + amax * 1e-3; break;
        }
        ASSERT_LE(std::fabs(back[i] - x[i]), bound) << DTypeName(type) << " " << i;
      }
    }
  }
}

TEST(QuantTest, TypeTable) {
  EXPECT_EQ(RowBytes(DType::kQ4_K, 256), 144u);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(DTypeFromName("q4_k"), DType::kQ4_K);
  EXPECT_FALSE(LookupDType(4).has_value());  // removed id
  EXPECT_FALSE(DTypeFromName("Q9_9").has_value());
}

}  // namespace
}  // namespace riglm
