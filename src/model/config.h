// Hyperparameters of a llama-family model, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "format/gguf.h"
#include "util/status.h"

namespace riglm {

enum class Architecture { kLlama, kQwen2 };

enum class RopeScaling { kNone, kLinear, kLlama3 };

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  std::string architecture_name;  // as in general.architecture
  std::string model_name;         // general.name when present
  int64_t context_length = 0;     // trained context
  int64_t embedding_length = 0;   // width of the residual stream
  int64_t block_count = 0;
  int64_t feed_forward_length = 0;
  int64_t head_count = 0;
  int64_t head_count_kv = 0;
  int64_t head_dim = 0;
  int64_t rope_dims = 0;          // leading dims of each head that RoPE rotates
  double rope_freq_base = 10000.0;
  RopeScaling rope_scaling = RopeScaling::kNone;
  double rope_scaling_factor = 1.0;
  int64_t rope_original_context = 0;
  double rms_norm_eps = 1e-5;
  int64_t vocab_size = 0;
  cpu::RopeStyle rope_style = cpu::RopeStyle::kInterleaved;
  bool has_qkv_bias = false;

  int64_t q_width() const { return head_count * head_dim; }
  int64_t kv_width() const { return head_count_kv * head_dim; }

  // Reads and checks the hyperparameters. An unsupported architecture gives an error that lists
  // the supported ones; inconsistent values (heads not dividing, zero sizes) are Corruption.
  static Result<ModelConfig> FromGguf(const GgufFile& file);

  // RoPE inverse frequencies per rotated pair, with scaling applied. `freq_factors`, from a
  // rope_freqs tensor when the file has one, divides the frequencies (Llama 3.1 style).
  std::vector<float> RopeInverseFrequencies(const std::vector<float>& freq_factors) const;
};

std::string_view SupportedArchitectures();  // "llama, qwen2"

}  // namespace riglm
