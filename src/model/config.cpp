#include "model/config.h"

#include <cmath>

namespace riglm {

std::string_view SupportedArchitectures() { return "llama, qwen2"; }

namespace {

constexpr int64_t kMaxDimension = int64_t{1} << 20;

// Reads `key` as a positive integer no larger than kMaxDimension.
Status ReadDimension(const GgufFile& file, const std::string& key, int64_t* out) {
  RIGLM_ASSIGN_OR_RETURN(uint64_t value, file.GetUint(key));
  if (value == 0 || value > static_cast<uint64_t>(kMaxDimension)) {
    return Corruption(file.name() + ": metadata '" + key + "' = " + std::to_string(value) + " is out of range");
  }
  *out = static_cast<int64_t>(value);
  return Status::Ok();
}

// Optional keys fall back to the default only when absent; a present key of the wrong type is
// an error, not something to silently ignore.
template <typename T, typename Getter>
Status ReadOptional(const GgufFile& file, const std::string& key, T* out, Getter get) {
  if (file.Find(key) == nullptr) return Status::Ok();
  auto value = (file.*get)(key);
  if (!value.ok()) return value.status();
  *out = static_cast<T>(*value);
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::FromGguf(const GgufFile& file) {
  ModelConfig c;
  RIGLM_ASSIGN_OR_RETURN(c.architecture_name, file.GetString("general.architecture"));
  if (c.architecture_name == "llama") {
    c.architecture = Architecture::kLlama;
    c.rope_style = cpu::RopeStyle::kInterleaved;
  } else if (c.architecture_name == "qwen2") {
    c.architecture = Architecture::kQwen2;
    c.rope_style = cpu::RopeStyle::kNeox;
    c.has_qkv_bias = true;
  } else {
    return Unsupported(file.name() + ": architecture '" + c.architecture_name +
                       "' is not supported (supported: " + std::string(SupportedArchitectures()) + ")");
  }
  if (auto name = file.GetString("general.name"); name.ok()) c.model_name = *name;
  // Set for weights taken as they are from Hugging Face checkpoints, which rotate half-heads.
  if (auto style = file.GetString("riglm.rope.style"); style.ok() && *style == "neox") c.rope_style = cpu::RopeStyle::kNeox;
  const std::string& a = c.architecture_name;
  RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".context_length", &c.context_length));
  RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".embedding_length", &c.embedding_length));
  RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".block_count", &c.block_count));
  RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".feed_forward_length", &c.feed_forward_length));
  RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".attention.head_count", &c.head_count));
  c.head_count_kv = c.head_count;
  if (file.Find(a + ".attention.head_count_kv")) {
    RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".attention.head_count_kv", &c.head_count_kv));
  }
  if (c.block_count > 4096) return Corruption(file.name() + ": block_count " + std::to_string(c.block_count) + " is absurd");
  if (c.head_count % c.head_count_kv != 0) {
    return Corruption(file.name() + ": head_count " + std::to_string(c.head_count) +
                      " is not a multiple of head_count_kv " + std::to_string(c.head_count_kv));
  }
  c.head_dim = c.embedding_length / c.head_count;
  if (file.Find(a + ".attention.key_length")) {
    RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".attention.key_length", &c.head_dim));
    int64_t value_length = c.head_dim;
    RIGLM_RETURN_IF_ERROR(ReadOptional(file, a + ".attention.value_length", &value_length, &GgufFile::GetUint));
    if (value_length != c.head_dim) {
      return Unsupported(file.name() + ": key_length " + std::to_string(c.head_dim) + " differs from value_length " +
                         std::to_string(value_length));
    }
  } else if (c.embedding_length % c.head_count != 0) {
    return Corruption(file.name() + ": embedding_length " + std::to_string(c.embedding_length) +
                      " is not a multiple of head_count " + std::to_string(c.head_count));
  }
  if (c.head_dim % 2 != 0) return Corruption(file.name() + ": head dimension " + std::to_string(c.head_dim) + " is odd");
  c.rope_dims = c.head_dim;
  RIGLM_RETURN_IF_ERROR(ReadOptional(file, a + ".rope.dimension_count", &c.rope_dims, &GgufFile::GetUint));
  if (c.rope_dims <= 0 || c.rope_dims > c.head_dim || c.rope_dims % 2 != 0) {
    return Corruption(file.name() + ": rope.dimension_count " + std::to_string(c.rope_dims) +
                      " must be even and at most the head dimension " + std::to_string(c.head_dim));
  }
  RIGLM_RETURN_IF_ERROR(ReadOptional(file, a + ".rope.freq_base", &c.rope_freq_base, &GgufFile::GetFloat));
  RIGLM_RETURN_IF_ERROR(ReadOptional(file, a + ".attention.layer_norm_rms_epsilon", &c.rms_norm_eps, &GgufFile::GetFloat));
  if (!(c.rope_freq_base > 0.0) || !(c.rms_norm_eps > 0.0) || c.rms_norm_eps > 1.0) {
    return Corruption(file.name() + ": rope.freq_base and the RMS epsilon must be positive");
  }

  std::string scaling = "none";
  RIGLM_RETURN_IF_ERROR(ReadOptional(file, a + ".rope.scaling.type", &scaling, &GgufFile::GetString));
  RIGLM_RETURN_IF_ERROR(ReadOptional(file, a + ".rope.scaling.factor", &c.rope_scaling_factor, &GgufFile::GetFloat));
  RIGLM_RETURN_IF_ERROR(
      ReadOptional(file, a + ".rope.scaling.original_context_length", &c.rope_original_context, &GgufFile::GetUint));
  if (scaling == "none" || c.rope_scaling_factor == 0.0 || c.rope_scaling_factor == 1.0) {
    c.rope_scaling = RopeScaling::kNone;
    c.rope_scaling_factor = 1.0;
  } else if (scaling == "linear") {
    c.rope_scaling = RopeScaling::kLinear;
  } else if (scaling == "llama3") {
    c.rope_scaling = RopeScaling::kLlama3;
  } else {
    return Unsupported(file.name() + ": rope scaling '" + scaling + "' is not supported (none, linear, llama3)");
  }
  if (!(c.rope_scaling_factor > 0.0)) return Corruption(file.name() + ": rope.scaling.factor must be positive");

  if (file.Find(a + ".vocab_size")) {
    RIGLM_RETURN_IF_ERROR(ReadDimension(file, a + ".vocab_size", &c.vocab_size));
  } else {
    RIGLM_ASSIGN_OR_RETURN(const GgufArray* tokens, file.GetArray("tokenizer.ggml.tokens"));
    c.vocab_size = static_cast<int64_t>(tokens->items.size());
  }
  if (c.vocab_size == 0) return Corruption(file.name() + ": the vocabulary is empty");
  return c;
}

std::vector<float> ModelConfig::RopeInverseFrequencies(const std::vector<float>& freq_factors) const {
  const int64_t pairs = rope_dims / 2;
  std::vector<float> inv_freq(pairs);
  for (int64_t i = 0; i < pairs; ++i) {
    double f = std::pow(rope_freq_base, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dims));
    if (static_cast<int64_t>(freq_factors.size()) == pairs) {
      f /= freq_factors[i];
    } else if (rope_scaling == RopeScaling::kLinear) {
      f /= rope_scaling_factor;
    } else if (rope_scaling == RopeScaling::kLlama3) {
      // Meta's published rule: long wavelengths are slowed by the factor, short ones kept, and
      // those in between blended smoothly.
      constexpr double kLowFreqFactor = 1.0, kHighFreqFactor = 4.0;
      const double original = rope_original_context > 0 ? static_cast<double>(rope_original_context) : 8192.0;
      const double wavelength = 2.0 * M_PI / f;
      const double low_freq_wavelength = original / kLowFreqFactor;
      const double high_freq_wavelength = original / kHighFreqFactor;
      if (wavelength > low_freq_wavelength) {
        f /= rope_scaling_factor;
      } else if (wavelength >= high_freq_wavelength) {
        const double smooth = (original / wavelength - kLowFreqFactor) / (kHighFreqFactor - kLowFreqFactor);
        f = (1.0 - smooth) * f / rope_scaling_factor + smooth * f;
      }
    }
    inv_freq[i] = static_cast<float>(f);
  }
  return inv_freq;
}

}  // namespace riglm
