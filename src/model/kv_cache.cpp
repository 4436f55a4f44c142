#include "model/kv_cache.h"

#include <cstring>
#include <new>

#include "tensor/quant.h"
#include "util/strings.h"

namespace riglm {

Status CheckKvCacheTypes(const ModelConfig& config, KvCacheTypes types) {
  for (DType type : {types.keys, types.values}) {
    if (!cpu::KvTypeSupported(type, config.head_dim)) {
      return InvalidArgument("a " + std::string(DTypeName(type)) + " KV cache needs heads of a multiple of 32 " +
                             "elements; this model's are " + std::to_string(config.head_dim) + " (use f16 or f32)");
    }
  }
  return Status::Ok();
}

Result<DType> ParseKvCacheType(std::string_view name) {
  const std::string lower = ToLower(name);
  if (lower == "f16") return DType::kF16;
  if (lower == "f32") return DType::kF32;
  if (lower == "q8_0") return DType::kQ8_0;
  return InvalidArgument("unknown KV cache type '" + std::string(name) + "' (f16, q8_0 or f32)");
}

uint64_t KvCache::BytesPerPosition(const ModelConfig& config, KvCacheTypes types) {
  return RowBytes(types.keys, config.kv_width()) + RowBytes(types.values, config.kv_width());
}

KvCache::KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer,
                 int64_t num_layers, KvCacheTypes types)
    : context_length_(context_length),
      num_sequences_(num_sequences),
      first_layer_(first_layer),
      num_layers_(num_layers < 0 ? config.block_count - first_layer : num_layers),
      kv_width_(config.kv_width()),
      head_dim_(config.head_dim),
      types_(types),
      key_row_bytes_(RowBytes(types.keys, kv_width_)),
      value_row_bytes_(RowBytes(types.values, kv_width_)) {
  const uint64_t rows = static_cast<uint64_t>(num_sequences_) * num_layers_ * context_length_;
  key_bytes_ = rows * key_row_bytes_;
  value_bytes_ = rows * value_row_bytes_;
  keys_ = AllocateLarge(key_bytes_);
  values_ = AllocateLarge(value_bytes_);
  if (keys_ == nullptr || values_ == nullptr) throw std::bad_alloc();
  std::memset(keys_.get(), 0, key_bytes_);
  std::memset(values_.get(), 0, value_bytes_);
}

cpu::KvView KvCache::keys(int seq, int64_t layer, int64_t kv_head) const {
  return {keys_.get() + RowIndex(seq, layer, 0) * key_row_bytes_ + RowBytes(types_.keys, kv_head * head_dim_),
          types_.keys, key_row_bytes_};
}

cpu::KvView KvCache::values(int seq, int64_t layer, int64_t kv_head) const {
  return {values_.get() + RowIndex(seq, layer, 0) * value_row_bytes_ + RowBytes(types_.values, kv_head * head_dim_),
          types_.values, value_row_bytes_};
}

void KvCache::Store(int seq, int64_t layer, int64_t position, const float* key, const float* value) {
  QuantizeRow(types_.keys, key, keys_.get() + RowIndex(seq, layer, position) * key_row_bytes_, kv_width_);
  QuantizeRow(types_.values, value, values_.get() + RowIndex(seq, layer, position) * value_row_bytes_, kv_width_);
}

}  // namespace riglm
