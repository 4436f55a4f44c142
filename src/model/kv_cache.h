// Key/value cache for a fixed number of sequences, each up to `context_length` positions.
// F16 by default (half the memory of F32, what llama.cpp uses); Q8_0 halves it again, for
// heads whose width is a multiple of 32. Keys and values may differ (like llama.cpp's -ctk/-ctv).
#pragma once

#include <cstdint>

#include "backend/cpu/ops.h"
#include "model/config.h"
#include "tensor/dtype.h"
#include "util/large_buffer.h"
#include "util/status.h"

namespace riglm {

struct KvCacheTypes {
  DType keys = DType::kF16;
  DType values = DType::kF16;
};

// OK when the model's heads can be cached in these types; else says which types can.
Status CheckKvCacheTypes(const ModelConfig& config, KvCacheTypes types);
// "f16", "f32", "q8_0" (any case) to a type; an error names the accepted ones.
Result<DType> ParseKvCacheType(std::string_view name);

class KvCache {
 public:
  // Caches layers [first_layer, first_layer + num_layers) of a model.
  // REQUIRES: CheckKvCacheTypes(config, types).ok().
  KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer = 0,
          int64_t num_layers = -1, KvCacheTypes types = {});

  int64_t context_length() const { return context_length_; }
  int num_sequences() const { return num_sequences_; }
  int64_t kv_width() const { return kv_width_; }
  KvCacheTypes types() const { return types_; }
  uint64_t size_bytes() const { return key_bytes_ + value_bytes_; }
  // Bytes one position takes in one layer, keys and values together.
  static uint64_t BytesPerPosition(const ModelConfig& config, KvCacheTypes types);

  // The rows of one KV head, for one sequence and model layer.
  cpu::KvView keys(int seq, int64_t layer, int64_t kv_head) const;
  cpu::KvView values(int seq, int64_t layer, int64_t kv_head) const;
  // Writes one position's key and value (kv_width floats each), converting to the cache types.
  void Store(int seq, int64_t layer, int64_t position, const float* key, const float* value);

 private:
  uint64_t RowIndex(int seq, int64_t layer, int64_t position) const {
    return (static_cast<uint64_t>(seq) * num_layers_ + (layer - first_layer_)) * context_length_ + position;
  }
  int64_t context_length_;
  int num_sequences_;
  int64_t first_layer_;
  int64_t num_layers_;
  int64_t kv_width_;
  int64_t head_dim_;
  KvCacheTypes types_;
  uint64_t key_row_bytes_, value_row_bytes_;
  uint64_t key_bytes_, value_bytes_;
  LargeBuffer keys_;    // [seq, layer, position] rows of kv_width elements
  LargeBuffer values_;  // same layout
};

}  // namespace riglm
