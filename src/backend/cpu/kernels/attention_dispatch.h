// The ISA-neutral part of the vector attention kernels: which instantiation runs for a cache's
// key and value types, and heads taken at most `max_heads` at a time. Included by each ISA's
// kernel file, so the templates are compiled with that file's instruction set.
#pragma once

#include <algorithm>

#include "backend/cpu/ops.h"

namespace riglm::cpu {

// fn.template operator()<kKey, kValue>() for a cache's key and value types (F16, Q8_0, else F32).
template <typename Fn>
void WithKvTypes(DType key_type, DType value_type, const Fn& fn) {
  auto with_key = [&]<DType kKey>() {
    switch (value_type) {
      case DType::kF16: return fn.template operator()<kKey, DType::kF16>();
      case DType::kQ8_0: return fn.template operator()<kKey, DType::kQ8_0>();
      default: return fn.template operator()<kKey, DType::kF32>();
    }
  };
  switch (key_type) {
    case DType::kF16: return with_key.template operator()<DType::kF16>();
    case DType::kQ8_0: return with_key.template operator()<DType::kQ8_0>();
    default: return with_key.template operator()<DType::kF32>();
  }
}

// attend.template operator()<kKey, kValue>(q, heads, out) for each group of at most
// `max_heads` heads, kKey and kValue being the cache's types.
template <typename Attend>
void AttendHeadGroups(const float* q, int num_heads, const KvView& keys, const KvView& values, int head_dim,
                      int max_heads, float* out, const Attend& attend) {
  for (int h0 = 0; h0 < num_heads; h0 += max_heads) {
    const int n = std::min(max_heads, num_heads - h0);
    const float* qh = q + h0 * head_dim;
    float* oh = out + h0 * head_dim;
    WithKvTypes(keys.type, values.type,
                [&]<DType kKey, DType kValue>() { attend.template operator()<kKey, kValue>(qh, n, oh); });
  }
}

}  // namespace riglm::cpu
