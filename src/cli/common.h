// Pieces the subcommands share: loading a model with its tokenizer, and reporting errors.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "model/kv_cache.h"
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

// -ctk / --cache-type-k and -ctv / --cache-type-v, as llama.cpp names them.
struct KvCacheFlags {
  std::string keys = "f16";
  std::string values = "f16";
};
void AddKvCacheOptions(CLI::App* cmd, KvCacheFlags* flags);
// The types the flags name, checked against the model.
Result<KvCacheTypes> ResolveKvCacheTypes(const KvCacheFlags& flags, const ModelConfig& config);

// Context length to use: the request, or the model's trained context capped at `default_cap`.
int64_t ChooseContext(int64_t requested, const ModelConfig& config, int64_t default_cap = 4096);

}  // namespace riglm::cli
