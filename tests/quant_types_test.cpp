// Known answers for every block format: random block bytes decoded element by element from the
// format's description (a formulation independent of the row decoders), plus quantize ->
// dequantize round trips within each format's step size.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "tensor/quant.h"
#include "test_support.h"

namespace riglm {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
  for (auto& b : out) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    b = static_cast<uint8_t>(s >> 32);
  }
  return out;
}

void SetHalf(uint8_t* at, float v) {
  const uint16_t h = FloatToHalf(v);
  std::memcpy(at, &h, 2);
}
float GetHalf(const uint8_t* at) {
  uint16_t h;
  std::memcpy(&h, at, 2);
  return HalfToFloat(h);
}

struct KnownAnswerCase {
  DType type;
  std::vector<size_t> half_offsets;                       // where sane f16 scales go
  std::function<float(const uint8_t*, int)> element;      // element e of one block
};

std::vector<KnownAnswerCase> Cases() {
  auto nibble = [](const uint8_t* q, int e) { return e < 16 ? q[e] & 15 : q[e - 16] >> 4; };
  auto bit = [](const uint8_t* bytes, int e) { return (bytes[e / 8] >> (e % 8)) & 1; };
  return {
      {DType::kQ4_1, {0, 2}, [=](const uint8_t* b, int e) { return GetHalf(b) * nibble(b + 4, e) + GetHalf(b + 2); }},
      {DType::kQ5_0, {0}, [=](const uint8_t* b, int e) { return GetHalf(b) * ((nibble(b + 6, e) | bit(b + 2, e) << 4) - 16); }},
      {DType::kQ5_1, {0, 2}, [=](const uint8_t* b, int e) {
         return GetHalf(b) * (nibble(b + 8, e) | bit(b + 4, e) << 4) + GetHalf(b + 2);
       }},
      {DType::kIQ4_NL, {0}, [=](const uint8_t* b, int e) { return GetHalf(b) * kIq4NlValues[nibble(b + 2, e)]; }},
      {DType::kQ2_K, {80, 82}, [](const uint8_t* b, int e) {
         const int q = (b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
         const uint8_t s = b[e / 16];
         return GetHalf(b + 80) * (s & 15) * q - GetHalf(b + 82) * (s >> 4);
       }},
      {DType::kQ3_K, {108}, [](const uint8_t* b, int e) {
         const int low = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
         const int high = (b[e % 32] >> (e / 32)) & 1;
         int8_t scales[16];
         UnpackQ3KScales(b + 96, scales);
         return GetHalf(b + 108) * scales[e / 16] * (low - (high ? 0 : 4));
       }},
      {DType::kQ4_K, {0, 2}, [](const uint8_t* b, int e) {
         const uint8_t byte = b[16 + 32 * (e / 64) + e % 32];
         const int q = (e % 64) < 32 ? byte & 15 : byte >> 4;
         uint8_t sc, m;
         UnpackScaleMinK4(e / 32, b + 4, &sc, &m);
         return GetHalf(b) * sc * q - GetHalf(b + 2) * m;
       }},
      {DType::kQ5_K, {0, 2}, [](const uint8_t* b, int e) {
         const uint8_t byte = b[48 + 32 * (e / 64) + e % 32];
         const int q = ((e % 64) < 32 ? byte & 15 : byte >> 4) | ((b[16 + e % 32] >> (e / 32)) & 1) << 4;
         uint8_t sc, m;
         UnpackScaleMinK4(e / 32, b + 4, &sc, &m);
         return GetHalf(b) * sc * q - GetHalf(b + 2) * m;
       }},
      {DType::kQ6_K, {208}, [](const uint8_t* b, int e) {
         const int half = e / 128, group = (e % 128) / 32, l = e % 32;
         const uint8_t low = b[64 * half + l + 32 * (group % 2)];
         const int q = ((group < 2 ? low & 15 : low >> 4) | ((b[128 + 32 * half + l] >> (2 * group)) & 3) << 4) - 32;
         return GetHalf(b + 208) * static_cast<int8_t>(b[192 + e / 16]) * q;
       }},
  };
}

TEST(QuantTypesTest, EveryFormatDecodesAsSpecified) {
  for (const KnownAnswerCase& c : Cases()) {
    SCOPED_TRACE(std::string(DTypeName(c.type)));
    const DTypeInfo& info = GetDTypeInfo(c.type);
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      std::vector<uint8_t> block = RandomBytes(info.block_bytes, seed);
      for (size_t at : c.half_offsets) SetHalf(block.data() + at, 0.01f * static_cast<float>(seed % 7 + 1));
      std::vector<float> got(info.block_elements);
      DequantizeRow(c.type, block.data(), got.data(), info.block_elements);
      for (int e = 0; e < static_cast<int>(info.block_elements); ++e) {
        ASSERT_NEAR(got[e], c.element(block.data(), e), 1e-6f * (1.0f + std::fabs(got[e]))) << "element " << e;
      }
    }
  }
}

TEST(QuantTypesTest, RoundTripsStayWithinTheStep) {
  const std::vector<float> x = testing::RandomFloats(4096, 5, 1.0f);
  // Largest error allowed, as a fraction of the largest magnitude in the row: half a quant step
  // plus what quantizing the sub-block scales themselves (to 4, 6 or 8 bits) adds.
  const std::vector<std::pair<DType, double>> bounds = {
      {DType::kQ4_1, 1.0 / 15}, {DType::kQ5_0, 1.0 / 16}, {DType::kQ5_1, 1.0 / 31}, {DType::kIQ4_NL, 0.13},
      {DType::kQ2_K, 0.5},      {DType::kQ3_K, 0.3},     {DType::kQ4_K, 0.1},      {DType::kQ5_K, 0.05},
      {DType::kQ6_K, 0.04},     {DType::kQ8_K, 1.0 / 127},
  };
  for (auto [type, bound] : bounds) {
    SCOPED_TRACE(std::string(DTypeName(type)));
    std::vector<uint8_t> bytes(RowBytes(type, x.size()));
    QuantizeRow(type, x.data(), bytes.data(), static_cast<int64_t>(x.size()));
    std::vector<float> back(x.size());
    DequantizeRow(type, bytes.data(), back.data(), static_cast<int64_t>(x.size()));
    double max_err = 0.0, sq_err = 0.0, sq = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      max_err = std::max(max_err, std::fabs(static_cast<double>(back[i]) - x[i]));
      sq_err += (back[i] - x[i]) * (back[i] - x[i]);
      sq += x[i] * x[i];
    }
    EXPECT_LT(max_err, bound);
    EXPECT_LT(std::sqrt(sq_err / sq), bound);  // and the typical error is well below the worst
  }
}

TEST(QuantTypesTest, Q8_KSumsMatchItsQuants) {
  const std::vector<float> x = testing::RandomFloats(512, 9, 3.0f);
  std::vector<BlockQ8_K> blocks(2);
  QuantizeRow(DType::kQ8_K, x.data(), blocks.data(), 512);
  for (const BlockQ8_K& b : blocks) {
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b.quants[16 * j + l];
      EXPECT_EQ(b.sums[j], sum);
    }
  }
}

}  // namespace
}  // namespace riglm
