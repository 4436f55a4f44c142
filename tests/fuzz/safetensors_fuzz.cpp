// libFuzzer entry point: arbitrary bytes through the safetensors header parser. Any crash, hang
// or sanitizer report is a bug; errors are the expected outcome for almost every input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto header = riglm::ParseSafetensorsHeader(std::span<const uint8_t>(data, size), size, "fuzz.safetensors");
  if (header.ok()) {
    for (const riglm::SafetensorsTensor& t : header->tensors) {
      if (t.offset + t.size_bytes > size) __builtin_trap();  // the parser promised these bytes exist
    }
  }
  return 0;
}
