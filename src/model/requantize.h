// Re-encodes a GGUF model's weight matrices to another type (riglm quantize), streaming row by
// row from the source file so that memory stays small.
#pragma once

#include <string>

#include "format/gguf_writer.h"
#include "model/shapes.h"

namespace riglm {

// A writer holding `source`'s metadata and tensors, with each matrix re-encoded as `recipe`
// chooses (vectors stay as they are). `source_bytes` must outlive the writer.
Result<GgufWriter> RequantizeWriter(const GgufFile& source, const uint8_t* source_bytes, const QuantRecipe& recipe);

}  // namespace riglm
