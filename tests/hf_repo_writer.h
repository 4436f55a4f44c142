// Writes a Hugging Face model folder (config.json, safetensors shards, tokenizer.json,
// tokenizer_config.json) from a llama GGUF, undoing what GGUF converters do (names, reversed
// dims, the q/k row permutation), so tests can run one model from both formats.
#pragma once

#include <string>

#include "format/gguf.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace riglm::testing {

struct HfRepoOptions {
  DType dtype = DType::kF32;  // of the matrices: F32, F16 or BF16
  int shards = 1;             // more than one writes model.safetensors.index.json
};

// generation_config.json lists the last token of the vocabulary as a second end of generation.
// Returns the names of the files written into `dir`.
Result<std::vector<std::string>> WriteHfRepoFromGguf(const GgufFile& gguf, const uint8_t* file_bytes,
                                                      const std::string& dir, const HfRepoOptions& options = {});

}  // namespace riglm::testing
