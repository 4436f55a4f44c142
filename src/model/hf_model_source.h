// A Hugging Face model folder (config.json, safetensors shards, tokenizer files) presented as
// the GGUF file it would convert to: metadata from config.json, the tokenizer files carried
// whole, tensors renamed to GGUF's names and converted (or quantized, with a recipe) row by row
// as the loader reads them. Everything downstream (planner, loader, devices, server) then treats
// a safetensors repository like any GGUF, with no intermediate file and bounded host memory.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "io/byte_source.h"

namespace riglm {

// Opens one shard of the repository by its file name ("model-00001-of-00004.safetensors").
using ShardOpener = std::function<Result<std::unique_ptr<ByteSource>>(const std::string& file_name)>;

struct HfModelOptions {
  std::string quant;     // a QuantRecipe name ("Q8_0", "Q4_K_M"); empty keeps the repository's types
  SourceOptions source;  // for the shards when `open_shard` is not given
  ShardOpener open_shard;  // default: the files in the folder
};

// True when `path` is a folder holding config.json.
bool IsHfModelDir(const std::string& path);

// Reads config.json, the shard index and every shard's header, and checks each tensor the
// architecture needs against the config. Unsupported architectures, missing shards or tensors,
// dtype or shape mismatches: errors that name the file and the tensor.
Result<std::unique_ptr<ByteSource>> OpenHfModel(const std::string& dir, const HfModelOptions& options = {});

// The Hugging Face architectures riglm runs: "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM".
std::string_view SupportedHfArchitectures();

}  // namespace riglm
