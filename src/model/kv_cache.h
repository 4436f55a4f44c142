// Key/value cache for a fixed number of sequences, each up to `context_length` positions.
// Stored as F16 by default (half the memory of F32, what llama.cpp uses), or F32.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "tensor/dtype.h"
#include "util/large_buffer.h"

namespace riglm {

class KvCache {
 public:
  // Caches layers [first_layer, first_layer + num_layers) of a model. REQUIRES: type is F16 or F32.
  KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer = 0,
          int64_t num_layers = -1, DType type = DType::kF16);

  int64_t context_length() const { return context_length_; }
  int num_sequences() const { return num_sequences_; }
  int64_t kv_width() const { return kv_width_; }
  DType type() const { return type_; }
  uint64_t size_bytes() const { return 2 * bytes_per_cache_; }

  // Rows of kv_width elements of type(), one per position, for one sequence and model layer.
  const void* keys(int seq, int64_t layer) const { return keys_.get() + Offset(seq, layer); }
  const void* values(int seq, int64_t layer) const { return values_.get() + Offset(seq, layer); }
  // Writes one position's key and value (kv_width floats each), converting to type().
  void Store(int seq, int64_t layer, int64_t position, const float* key, const float* value);

 private:
  uint64_t Offset(int seq, int64_t layer) const {
    return ((static_cast<uint64_t>(seq) * num_layers_ + (layer - first_layer_)) * context_length_ * kv_width_) *
           element_bytes_;
  }
  int64_t context_length_;
  int num_sequences_;
  int64_t first_layer_;
  int64_t num_layers_;
  int64_t kv_width_;
  DType type_;
  uint64_t element_bytes_;
  uint64_t bytes_per_cache_;
  LargeBuffer keys_;    // [seq, layer, position, kv_width]
  LargeBuffer values_;  // same layout
};

}  // namespace riglm
