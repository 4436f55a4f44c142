#include "model/hf_model_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "loader/composed_source.h"
#include "model/shapes.h"
#include "tensor/quant.h"
#include "util/files.h"
#include "util/strings.h"

namespace riglm {
namespace {

using Json = nlohmann::json;

struct HfArchitecture {
  std::string_view hf_name;
  std::string_view gguf_name;
  bool qkv_bias;
};
constexpr HfArchitecture kArchitectures[] = {
    {"LlamaForCausalLM", "llama", false},
    {"MistralForCausalLM", "llama", false},
    {"Qwen2ForCausalLM", "qwen2", true},
};

// HF tensor name -> GGUF tensor name ("" when riglm has no use for it).
std::string GgufTensorName(const std::string& hf) {
  static const std::pair<std::string_view, std::string_view> kGlobal[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (auto [from, to] : kGlobal) {
    if (hf == from) return std::string(to);
  }
  static const std::pair<std::string_view, std::string_view> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  constexpr std::string_view kPrefix = "model.layers.";
  if (hf.rfind(kPrefix, 0) != 0) return "";
  const size_t dot = hf.find('.', kPrefix.size());
  if (dot == std::string::npos) return "";
  const std::string layer = hf.substr(kPrefix.size(), dot - kPrefix.size());
  if (layer.empty() || !std::all_of(layer.begin(), layer.end(), [](char c) { return c >= '0' && c <= '9'; })) return "";
  const std::string rest = hf.substr(dot + 1);
  for (auto [from, to] : kLayer) {
    if (rest == from) return "blk." + layer + "." + std::string(to);
  }
  return "";
}

template <typename T>
Status ReadConfigValue(const Json& config, const char* key, T* out, bool required, const std::string& where) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) {
    return required ? Corruption(where + " has no \"" + key + "\"") : Status::Ok();
  }
  if constexpr (std::is_same_v<T, double>) {
    if (!it->is_number()) return Corruption(where + ": \"" + key + "\" is not a number");
    *out = it->get<double>();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return Corruption(where + ": \"" + key + "\" is not true or false");
    *out = it->get<bool>();
  } else {
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0 || it->get<uint64_t>() > (uint64_t{1} << 40)) {
      return Corruption(where + ": \"" + key + "\" is not a positive whole number");
    }
    *out = static_cast<T>(it->get<uint64_t>());
  }
  return Status::Ok();
}

// The GGUF metadata for config.json: the keys ModelConfig::FromGguf reads.
Status ConfigToMetadata(const Json& config, const std::string& where, const std::string& model_name, GgufWriter* w,
                        const HfArchitecture** arch_out, bool* tied) {
  if (!config.is_object()) return Corruption(where + " is not a JSON object");
  std::string hf_arch;
  if (auto it = config.find("architectures"); it != config.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    hf_arch = (*it)[0].get<std::string>();
  }
  const HfArchitecture* arch = nullptr;
  for (const HfArchitecture& a : kArchitectures) {
    if (a.hf_name == hf_arch) arch = &a;
  }
  if (arch == nullptr) {
    return Unsupported(where + ": architecture '" + hf_arch + "' is not supported (supported: " +
                       std::string(SupportedHfArchitectures()) + ")");
  }
  *arch_out = arch;
  int64_t embd = 0, ffn = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, context = 4096, vocab = 0;
  double eps = 1e-6, theta = 10000.0;
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "hidden_size", &embd, true, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "intermediate_size", &ffn, true, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "num_hidden_layers", &layers, true, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "num_attention_heads", &heads, true, where));
  kv_heads = heads;
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "num_key_value_heads", &kv_heads, false, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "head_dim", &head_dim, false, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "max_position_embeddings", &context, false, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "vocab_size", &vocab, true, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "rms_norm_eps", &eps, false, where));
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "rope_theta", &theta, false, where));
  *tied = false;
  RIGLM_RETURN_IF_ERROR(ReadConfigValue(config, "tie_word_embeddings", tied, false, where));

  const std::string a(arch->gguf_name);
  w->SetString("general.architecture", a);
  w->SetString("general.name", model_name);
  w->SetUint32(a + ".context_length", static_cast<uint32_t>(context));
  w->SetUint32(a + ".embedding_length", static_cast<uint32_t>(embd));
  w->SetUint32(a + ".feed_forward_length", static_cast<uint32_t>(ffn));
  w->SetUint32(a + ".block_count", static_cast<uint32_t>(layers));
  w->SetUint32(a + ".attention.head_count", static_cast<uint32_t>(heads));
  w->SetUint32(a + ".attention.head_count_kv", static_cast<uint32_t>(kv_heads));
  if (head_dim != 0) {
    w->SetUint32(a + ".attention.key_length", static_cast<uint32_t>(head_dim));
    w->SetUint32(a + ".attention.value_length", static_cast<uint32_t>(head_dim));
  }
  w->SetFloat32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(eps));
  w->SetFloat32(a + ".rope.freq_base", static_cast<float>(theta));
  w->SetUint32(a + ".vocab_size", static_cast<uint32_t>(vocab));
  // Hugging Face checkpoints rotate the two halves of each head (GGUF converters permute q and k
  // of llama models to rotate neighbours instead); the weights are used as they are.
  w->SetString("riglm.rope.style", "neox");

  if (auto it = config.find("rope_scaling"); it != config.end() && it->is_object()) {
    const Json& s = *it;
    std::string type = s.value("rope_type", s.value("type", std::string("default")));
    double factor = s.value("factor", 1.0);
    if (type == "llama3") {
      if (s.value("low_freq_factor", 1.0) != 1.0 || s.value("high_freq_factor", 4.0) != 4.0) {
        return Unsupported(where + ": llama3 rope scaling with low/high frequency factors other than 1 and 4");
      }
      w->SetString(a + ".rope.scaling.type", "llama3");
      w->SetFloat32(a + ".rope.scaling.factor", static_cast<float>(factor));
      w->SetUint32(a + ".rope.scaling.original_context_length", s.value("original_max_position_embeddings", 8192u));
    } else if (type == "linear") {
      w->SetString(a + ".rope.scaling.type", "linear");
      w->SetFloat32(a + ".rope.scaling.factor", static_cast<float>(factor));
    } else if (type != "default") {
      return Unsupported(where + ": rope scaling '" + type + "' is not supported (linear, llama3)");
    }
  }
  return Status::Ok();
}

// Tokenizer files travel whole in the metadata; Tokenizer::FromGguf builds from them.
Status AddTokenizerMetadata(const std::string& dir, GgufWriter* w) {
  Result<std::string> tokenizer = ReadTextFile(dir + "/tokenizer.json");
  if (tokenizer.status().code() == StatusCode::kNotFound) return Status::Ok();  // weights alone still load
  RIGLM_RETURN_IF_ERROR(tokenizer.status());
  w->SetString("tokenizer.huggingface.json", std::move(*tokenizer));
  Result<std::string> config = ReadTextFile(dir + "/tokenizer_config.json");
  if (config.ok()) {
    w->SetString("tokenizer.huggingface.config", *config);
    Json doc = Json::parse(*config, nullptr, false);
    if (doc.is_object() && doc.contains("chat_template")) {
      const Json& t = doc["chat_template"];
      if (t.is_string()) {
        w->SetString("tokenizer.chat_template", t.get<std::string>());
      } else if (t.is_array()) {
        for (const Json& entry : t) {
          if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") && entry["template"].is_string()) {
            w->SetString("tokenizer.chat_template", entry["template"].get<std::string>());
          }
        }
      }
    }
  } else if (config.status().code() != StatusCode::kNotFound) {
    return config.status();
  }
  // generation_config.json may end generation on several tokens (Llama 3.1: end_of_text, eom, eot).
  if (Result<std::string> generation = ReadTextFile(dir + "/generation_config.json"); generation.ok()) {
    Json doc = Json::parse(*generation, nullptr, false);
    std::vector<int32_t> ids;
    if (doc.is_object() && doc.contains("eos_token_id")) {
      const Json& eos = doc["eos_token_id"];
      for (const Json& id : eos.is_array() ? eos : Json::array({eos})) {
        if (id.is_number_integer()) ids.push_back(id.get<int32_t>());
      }
    }
    if (!ids.empty()) w->SetInt32Array("tokenizer.ggml.eos_token_ids", ids);
  }
  // Newer repositories keep the template in its own file.
  if (Result<std::string> jinja = ReadTextFile(dir + "/chat_template.jinja"); jinja.ok()) {
    w->SetString("tokenizer.chat_template", std::move(*jinja));
  }
  return Status::Ok();
}

// The shard files, from model.safetensors.index.json or the single model.safetensors.
Result<std::vector<std::string>> ShardNames(const std::string& dir) {
  Result<std::string> index = ReadTextFile(dir + "/model.safetensors.index.json");
  if (index.status().code() == StatusCode::kNotFound) return std::vector<std::string>{"model.safetensors"};
  RIGLM_RETURN_IF_ERROR(index.status());
  Json doc = Json::parse(*index, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object()) {
    return Corruption(dir + "/model.safetensors.index.json has no weight_map object");
  }
  std::set<std::string> names;
  for (auto& [tensor, file] : doc["weight_map"].items()) {
    if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos) {
      return Corruption(dir + "/model.safetensors.index.json: bad shard name for '" + tensor + "'");
    }
    names.insert(file.get<std::string>());
  }
  if (names.empty()) return Corruption(dir + "/model.safetensors.index.json names no shards");
  return std::vector<std::string>(names.begin(), names.end());
}

}  // namespace

std::string_view SupportedHfArchitectures() { return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"; }

bool IsHfModelDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && ::stat((path + "/config.json").c_str(), &st) == 0;
}

Result<std::unique_ptr<ByteSource>> OpenHfModel(const std::string& dir, const HfModelOptions& options) {
  const std::string config_path = dir + "/config.json";
  RIGLM_ASSIGN_OR_RETURN(std::string config_text, ReadTextFile(config_path));
  Json config = Json::parse(config_text, nullptr, false);
  if (config.is_discarded()) return Corruption(config_path + " is not valid JSON");

  // Snapshots of the Hub cache are named by commit; the repository folder above names the model.
  std::string model_name = BaseName(dir);
  if (model_name.size() == 40 && dir.find("/snapshots/") != std::string::npos) {
    const std::string repo_dir = BaseName(dir.substr(0, dir.find("/snapshots/")));
    if (repo_dir.rfind("models--", 0) == 0) model_name = repo_dir.substr(repo_dir.rfind("--") + 2);
  }
  GgufWriter metadata;
  const HfArchitecture* arch = nullptr;
  bool tied = false;
  RIGLM_RETURN_IF_ERROR(ConfigToMetadata(config, config_path, model_name, &metadata, &arch, &tied));
  RIGLM_RETURN_IF_ERROR(AddTokenizerMetadata(dir, &metadata));

  std::optional<QuantRecipe> recipe;
  if (!options.quant.empty()) {
    RIGLM_ASSIGN_OR_RETURN(QuantRecipe r, QuantRecipe::Parse(options.quant));
    recipe = std::move(r);
  }

  RIGLM_ASSIGN_OR_RETURN(std::vector<std::string> shard_names, ShardNames(dir));
  std::vector<std::unique_ptr<ByteSource>> shards;
  std::vector<ComposedTensor> tensors;
  const int64_t num_layers = config["num_hidden_layers"].get<int64_t>();
  for (const std::string& shard_name : shard_names) {
    Result<std::unique_ptr<ByteSource>> shard = options.open_shard ? options.open_shard(shard_name)
                                                                   : OpenFileSource(dir + "/" + shard_name, options.source);
    if (!shard.ok() && shard.status().code() == StatusCode::kNotFound) {
      return NotFound(dir + ": shard " + shard_name + " is missing (incomplete download? run riglm pull again)");
    }
    RIGLM_RETURN_IF_ERROR(shard.status());
    RIGLM_ASSIGN_OR_RETURN(SafetensorsHeader header, ReadSafetensorsHeader(**shard));
    for (const SafetensorsTensor& st : header.tensors) {
      std::string gguf_name = GgufTensorName(st.name);
      if (gguf_name.empty() || (tied && gguf_name == "output.weight")) continue;  // rotary_emb.inv_freq and the like
      const std::string where = shard_name + ": tensor '" + st.name + "'";
      if (st.type != DType::kF32 && st.type != DType::kF16 && st.type != DType::kBF16) {
        return Unsupported(where + " has dtype " + std::string(SafetensorsDTypeName(st.type)) + "; weights must be F32, F16 or BF16");
      }
      if (st.shape.empty() || st.shape.size() > 2) return Corruption(where + " has shape " + ShapeString(st.shape) + "; expected 1 or 2 dimensions");
      ComposedTensor t;
      t.name = gguf_name;
      t.dims.assign(st.shape.rbegin(), st.shape.rend());
      t.source = static_cast<int>(shards.size());
      t.source_offset = st.offset;
      t.source_type = st.type;
      if (st.shape.size() == 1) {
        t.type = DType::kF32;
      } else if (recipe) {
        int64_t layer = -1;
        std::string short_name = gguf_name;
        if (gguf_name.rfind("blk.", 0) == 0) {
          layer = std::stoll(gguf_name.substr(4));
          short_name = gguf_name.substr(gguf_name.find('.', 4) + 1);
        }
        t.type = recipe->TypeForMatrix(short_name, layer, num_layers, static_cast<int64_t>(t.dims[0]));
      } else {
        t.type = st.type;
      }
      tensors.push_back(std::move(t));
    }
    shards.push_back(std::move(*shard));
  }
  return ComposeGguf(dir, metadata, std::move(tensors), std::move(shards));
}

}  // namespace riglm
