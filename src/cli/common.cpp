#include "cli/common.h"

#include <cstdio>

namespace riglm::cli {

Result<LoadedModel> LoadModel(const std::string& path) {
  LoadedModel loaded;
  RIGLM_ASSIGN_OR_RETURN(loaded.model, LlamaModel::Load(path));
  RIGLM_ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::FromGguf(loaded.model->gguf()));
  if (loaded.tokenizer->vocab().size() != loaded.model->config().vocab_size) {
    return Corruption(path + ": vocabulary size differs from the output head");
  }
  return loaded;
}

int ReportError(const Status& status) {
  std::fprintf(stderr, "riglm: %s\n", status.ToString().c_str());
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return 2;
    default: return 1;
  }
}

int64_t ChooseContext(int64_t requested, const ModelConfig& config, int64_t default_cap) {
  if (requested > 0) return requested;
  return std::min(config.context_length, default_cap);
}

void AddKvCacheOptions(CLI::App* cmd, KvCacheFlags* flags) {
  cmd->add_option("--cache-type-k", flags->keys, "(-ctk) KV cache type for keys: f16, q8_0 or f32")
      ->capture_default_str();
  cmd->add_option("--cache-type-v", flags->values, "(-ctv) KV cache type for values: f16, q8_0 or f32")
      ->capture_default_str();
}

Result<KvCacheTypes> ResolveKvCacheTypes(const KvCacheFlags& flags, const ModelConfig& config) {
  KvCacheTypes types;
  RIGLM_ASSIGN_OR_RETURN(types.keys, ParseKvCacheType(flags.keys));
  RIGLM_ASSIGN_OR_RETURN(types.values, ParseKvCacheType(flags.values));
  RIGLM_RETURN_IF_ERROR(CheckKvCacheTypes(config, types));
  return types;
}

}  // namespace riglm::cli
