// Pieces the subcommands share: loading a model with its tokenizer, and reporting errors.
#pragma once

#include <memory>
#include <string>

#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"
#include "util/status.h"

namespace riglm::cli {

struct LoadedModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

Result<LoadedModel> LoadModel(const std::string& path);

// Prints "riglm: <message>" to stderr and returns the exit code for `status`.
int ReportError(const Status& status);

// Context length to use: the request, or the model's trained context capped at `default_cap`.
int64_t ChooseContext(int64_t requested, const ModelConfig& config, int64_t default_cap = 4096);

}  // namespace riglm::cli
