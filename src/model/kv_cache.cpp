#include "model/kv_cache.h"

namespace riglm {

KvCache::KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer,
                 int64_t num_layers)
    : context_length_(context_length),
      num_sequences_(num_sequences),
      first_layer_(first_layer),
      num_layers_(num_layers < 0 ? config.block_count - first_layer : num_layers),
      kv_width_(config.kv_width()) {
  const uint64_t total = static_cast<uint64_t>(num_sequences_) * num_layers_ * context_length_ * kv_width_;
  keys_.assign(total, 0.0f);
  values_.assign(total, 0.0f);
}

}  // namespace riglm
