// Synthetic GGUF models: random weights in the exact shape of a real model, so that speed and
// memory can be measured on big models without downloading them.
#pragma once

#include <cstdint>

#include "format/gguf_writer.h"
#include "model/shapes.h"

namespace riglm {

// A SentencePiece-style vocabulary of `size` tokens: <unk>, <s>, </s>, 256 byte tokens, then
// filler pieces. Adds the tokenizer.ggml.* keys (BOS 1, EOS 2).
void AddSyntheticVocabulary(GgufWriter* writer, int64_t size);

// Metadata and tensors of `shape` quantized by `recipe`; the weights are produced row by row
// while the file is written (deterministic for a seed), so writing needs little memory.
// Tensors whose rows do not fit the recipe's block size fall back to Q8_0 (or F16), as
// llama.cpp's quantizer does.
Result<GgufWriter> SyntheticModelWriter(const ModelShape& shape, const QuantRecipe& recipe, uint64_t seed);

}  // namespace riglm
