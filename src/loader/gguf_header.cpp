#include "loader/gguf_header.h"

#include <algorithm>
#include <vector>

namespace riglm {

Result<GgufFile> ReadGgufHeader(ByteSource& source) {
  constexpr uint64_t kFirst = 16u << 20, kMax = 1u << 30;
  for (uint64_t want = kFirst;; want *= 4) {
    const uint64_t n = std::min(want, source.size());
    std::vector<uint8_t> bytes(n);
    RIGLM_RETURN_IF_ERROR(source.ReadAt(0, bytes));
    Result<GgufFile> parsed = GgufFile::Parse(bytes, source.size(), source.name());
    // Unavailable: the header continues past what was read.
    if (parsed.ok() || parsed.status().code() != StatusCode::kUnavailable || n == source.size()) return parsed;
    if (want >= kMax) return Corruption(source.name() + ": the GGUF header is larger than 1 GiB");
  }
}

}  // namespace riglm
