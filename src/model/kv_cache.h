// Key/value cache for a fixed number of sequences, each up to `context_length` positions.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace riglm {

class KvCache {
 public:
  // Caches layers [first_layer, first_layer + num_layers) of a model.
  KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer = 0,
          int64_t num_layers = -1);

  int64_t context_length() const { return context_length_; }
  int num_sequences() const { return num_sequences_; }
  int64_t kv_width() const { return kv_width_; }
  uint64_t size_bytes() const { return (keys_.size() + values_.size()) * sizeof(float); }

  // [context_length, kv_width] f32 rows for one sequence and model layer.
  float* keys(int seq, int64_t layer) { return keys_.data() + Offset(seq, layer); }
  float* values(int seq, int64_t layer) { return values_.data() + Offset(seq, layer); }

 private:
  uint64_t Offset(int seq, int64_t layer) const {
    return (static_cast<uint64_t>(seq) * num_layers_ + (layer - first_layer_)) * context_length_ * kv_width_;
  }
  int64_t context_length_;
  int num_sequences_;
  int64_t first_layer_;
  int64_t num_layers_;
  int64_t kv_width_;
  std::vector<float> keys_;    // [seq, layer, position, kv_width]
  std::vector<float> values_;  // same layout
};

}  // namespace riglm
