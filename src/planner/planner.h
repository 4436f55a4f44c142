// Which layers go on which device. Inputs: the bytes of every layer (from the actual tensor
// types), the KV cache for context x parallel sequences, scratch buffers, and each device's
// usable memory, bandwidth and link. Output: a contiguous layer range per device (a pipeline),
// the memory each will use, the predicted generation speed (one stream, bandwidth model) and the
// bytes that cross links per token; or, when nothing fits, a message that says what would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "device/device.h"
#include "format/gguf.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace riglm {

struct ModelCost {
  std::string name;
  int64_t layers = 0;
  int64_t embedding = 0;
  int64_t ffn = 0;
  int64_t q_width = 0;
  int64_t kv_width = 0;
  int64_t vocab = 0;
  uint64_t parameters = 0;
  std::vector<uint64_t> layer_bytes;  // weights of blk.N.*
  uint64_t embedding_bytes = 0;       // token_embd
  uint64_t output_bytes = 0;          // output + output_norm (+ rope_freqs); the embedding if tied
  bool tied_output = false;
  uint64_t kv_bytes_per_position_per_layer = 0;  // keys + values at the chosen cache types

  uint64_t weight_bytes() const;
};

// From a parsed header (the tensor data need not be present).
ModelCost ModelCostFromGguf(const GgufFile& gguf, const ModelConfig& config, KvCacheTypes kv_types);

struct PlanOptions {
  int64_t context = 4096;  // per sequence
  int parallel = 1;        // sequences decoded together
  int64_t batch = 512;     // tokens per prompt-processing step (scratch buffers)
  std::vector<double> tensor_split;  // manual split: proportions of layers per device, or empty
};

struct DevicePlan {
  DeviceInfo device;
  int64_t first_layer = -1;  // -1 when the device holds no layers
  int64_t end_layer = -1;    // one past the last
  bool has_embedding = false;
  bool has_output = false;
  uint64_t weight_bytes = 0;
  uint64_t kv_bytes = 0;
  uint64_t scratch_bytes = 0;
  uint64_t total_bytes = 0;
  uint64_t link_bytes_per_token = 0;  // arriving at or leaving this device per generated token
  int64_t num_layers() const { return first_layer < 0 ? 0 : end_layer - first_layer; }
};

struct Plan {
  bool fits = false;
  std::string message;
  PlanOptions options;
  std::vector<DevicePlan> devices;
  double predicted_tokens_per_s = 0.0;
  double predicted_load_seconds = 0.0;  // at link speed, devices filling in parallel
  uint64_t link_bytes_per_token = 0;
};

Plan MakePlan(const ModelCost& model, const std::vector<DeviceInfo>& devices, const PlanOptions& options);

std::string FormatPlan(const ModelCost& model, const Plan& plan);  // a readable table
nlohmann::ordered_json PlanToJson(const Plan& plan);

}  // namespace riglm
