// Split GGUF files (llama.cpp's gguf-split: "model-00001-of-00003.gguf", ...): the parts read
// as one GGUF, the metadata of the first part and the tensors of all of them.
#pragma once

#include <memory>
#include <string>

#include "io/byte_source.h"

namespace riglm {

// True for the path of a split GGUF part ("-NNNNN-of-MMMMM.gguf", any case); gives the path
// before the numbers, the number of parts and this part's number (from 1).
bool IsSplitGgufPath(const std::string& path, std::string* prefix = nullptr, int* count = nullptr,
                     int* part = nullptr);

// Opens every part (naming any that is missing) and checks that they belong together.
Result<std::unique_ptr<ByteSource>> OpenSplitGguf(const std::string& any_part, const SourceOptions& options = {});

}  // namespace riglm
