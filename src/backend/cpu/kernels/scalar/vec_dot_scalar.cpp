// Portable dot products: the fallback on CPUs without AVX2, and a second opinion in tests.
#include "backend/cpu/vec_dot.h"
#include "tensor/quant.h"

namespace riglm::cpu {
namespace {

float DotF32(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float DotF16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += HalfToFloat(a[i]) * b[i];
  return sum;
}

float DotBF16(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += BFloat16ToFloat(a[i]) * b[i];
  return sum;
}

float DotQ8_0(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t blk = 0; blk < n / kQ8_0BlockElements; ++blk) {
    int32_t acc = 0;
    for (int j = 0; j < kQ8_0BlockElements; ++j) acc += a[blk].quants[j] * b[blk].quants[j];
    sum += HalfToFloat(a[blk].scale_f16) * HalfToFloat(b[blk].scale_f16) * static_cast<float>(acc);
  }
  return sum;
}

float DotQ4_0(int64_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0.0f;
  for (int64_t blk = 0; blk < n / kQ4_0BlockElements; ++blk) {
    int32_t acc = 0;
    for (int j = 0; j < kQ4_0BlockElements / 2; ++j) {
      acc += ((a[blk].quants[j] & 0x0f) - 8) * b[blk].quants[j];
      acc += ((a[blk].quants[j] >> 4) - 8) * b[blk].quants[j + 16];
    }
    sum += HalfToFloat(a[blk].scale_f16) * HalfToFloat(b[blk].scale_f16) * static_cast<float>(acc);
  }
  return sum;
}

}  // namespace

VecDotFn ScalarVecDot(DType weight_type) {
  switch (weight_type) {
    case DType::kF32: return DotF32;
    case DType::kF16: return DotF16;
    case DType::kBF16: return DotBF16;
    case DType::kQ8_0: return DotQ8_0;
    case DType::kQ4_0: return DotQ4_0;
    default: return nullptr;
  }
}

}  // namespace riglm::cpu
