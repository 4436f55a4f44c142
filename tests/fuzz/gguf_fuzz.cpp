// libFuzzer entry point: arbitrary bytes through the GGUF parser and everything that reads a
// parsed header (model config, vocabulary, tensor binding). Any crash, hang or sanitizer report
// is a bug; errors are the expected outcome for almost every input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "format/gguf.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto gguf = riglm::GgufFile::Parse(std::span<const uint8_t>(data, size), size, "fuzz.gguf");
  if (!gguf.ok()) return 0;
  auto tokenizer = riglm::Tokenizer::FromGguf(*gguf);
  if (tokenizer.ok()) {
    auto ids = (*tokenizer)->Encode("Hello world <s> \xe2\x96\x81 \xff", {.add_bos = true, .parse_special = true});
    (void)(*tokenizer)->Decode(ids, true);
  }
  auto model = riglm::LlamaModel::FromGguf(std::move(gguf).value(), data);
  (void)model;
  return 0;
}
