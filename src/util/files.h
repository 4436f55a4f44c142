// Whole-file reads and writes for small files (configs, JSON, test fixtures).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "util/status.h"

namespace riglm {

// NotFound when the file does not exist; IoError for other failures. Refuses files over `max_bytes`.
Result<std::string> ReadTextFile(const std::string& path, uint64_t max_bytes = uint64_t{256} << 20);
// ".<host>.<pid>.<n>": a name part no other thread, process or NFS client uses at the same time.
std::string UniqueTempSuffix();
// Writes to a temporary name beside `path`, then renames it over `path`: readers see the old or
// the new content, never a part.
Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes);
inline Status WriteFileAtomically(const std::string& path, std::string_view text) {
  return WriteFileAtomically(path, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace riglm
