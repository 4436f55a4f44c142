// A GGUF header read from any byte source, without its tensor data: what planning a model
// needs, and the map the streaming loader follows.
#pragma once

#include "format/gguf.h"
#include "io/byte_source.h"

namespace riglm {

// Reads 16 MiB first and more (up to 1 GiB) while the header runs longer.
Result<GgufFile> ReadGgufHeader(ByteSource& source);

}  // namespace riglm
