// libFuzzer entry point for the server's request parsers: any bytes as the body of each of the
// four generation endpoints. Parsing must end in a request or a 4xx error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (riglm::ApiKind kind : {riglm::ApiKind::kOpenAiCompletion, riglm::ApiKind::kOpenAiChat,
                              riglm::ApiKind::kOllamaGenerate, riglm::ApiKind::kOllamaChat}) {
    riglm::ApiError error;
    auto parsed = riglm::ParseApiRequest(kind, body, 4096, &error);
    if (!parsed && (error.status < 400 || error.status >= 500 || error.message.empty())) __builtin_trap();
    if (parsed && parsed->generation.max_tokens > 4096) __builtin_trap();
  }
  return 0;
}
