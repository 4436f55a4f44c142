// A GGUF file assembled from the tensors of other sources: the metadata given, each tensor's
// bytes read from where they lie (a safetensors shard, a part of a split GGUF) and converted
// row by row when its type changes. The loader streams it like any GGUF, so no merged or
// converted file is ever written.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/gguf_writer.h"
#include "io/byte_source.h"

namespace riglm {

struct ComposedTensor {
  std::string name;
  DType type = DType::kF32;     // as presented
  std::vector<uint64_t> dims;   // GGUF order, dims[0] innermost
  int source = 0;               // index into the sources
  uint64_t source_offset = 0;   // of the first byte in that source
  DType source_type = DType::kF32;  // rows are dequantized from this and quantized to `type` when they differ
};

// `metadata` holds the metadata only (its tensors are ignored). Checks each source range.
Result<std::unique_ptr<ByteSource>> ComposeGguf(std::string name, const GgufWriter& metadata,
                                                std::vector<ComposedTensor> tensors,
                                                std::vector<std::unique_ptr<ByteSource>> sources);

}  // namespace riglm
