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

}  // namespace riglm::cli
