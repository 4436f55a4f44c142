#include "model/kv_cache.h"

#include <cstring>
#include <new>

#include "tensor/quant.h"

namespace riglm {

KvCache::KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer,
                 int64_t num_layers, DType type)
    : context_length_(context_length),
      num_sequences_(num_sequences),
      first_layer_(first_layer),
      num_layers_(num_layers < 0 ? config.block_count - first_layer : num_layers),
      kv_width_(config.kv_width()),
      type_(type == DType::kF32 ? DType::kF32 : DType::kF16),
      element_bytes_(type_ == DType::kF32 ? 4 : 2) {
  bytes_per_cache_ = static_cast<uint64_t>(num_sequences_) * num_layers_ * context_length_ * kv_width_ * element_bytes_;
  keys_ = AllocateLarge(bytes_per_cache_);
  values_ = AllocateLarge(bytes_per_cache_);
  if (keys_ == nullptr || values_ == nullptr) throw std::bad_alloc();
  std::memset(keys_.get(), 0, bytes_per_cache_);
  std::memset(values_.get(), 0, bytes_per_cache_);
}

void KvCache::Store(int seq, int64_t layer, int64_t position, const float* key, const float* value) {
  const uint64_t at = Offset(seq, layer) + static_cast<uint64_t>(position) * kv_width_ * element_bytes_;
  QuantizeRow(type_, key, keys_.get() + at, kv_width_);
  QuantizeRow(type_, value, values_.get() + at, kv_width_);
}

}  // namespace riglm
