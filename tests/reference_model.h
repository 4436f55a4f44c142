// A deliberately naive float64 llama/qwen2 forward pass, written from the architecture's
// definition and sharing no code with the engine's forward pass (only the dequantizers), so
// that the engine's logits can be checked against it.
#pragma once

#include <vector>

#include "format/gguf.h"
#include "model/config.h"

namespace riglm::testing {

// Logits [tokens.size(), vocab] for a single sequence starting at position 0.
std::vector<double> ReferenceLogits(const GgufFile& gguf, const uint8_t* file_bytes, const std::vector<int32_t>& tokens);

}  // namespace riglm::testing
