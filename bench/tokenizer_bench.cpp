// Encode throughput (MB/s) of a SentencePiece and a byte-level BPE vocabulary on 1 MB of English
// and 1 MB of mixed-script text. Usage: tokenizer_bench [SHARED_DIR]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "format/gguf.h"
#include "io/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace {

constexpr size_t kTextBytes = 1 << 20;

std::string RepeatTo(const std::string& unit, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += unit;
  // Cut at a character boundary so the text stays valid UTF-8.
  size_t cut = bytes;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
  out.resize(cut);
  return out;
}

std::string EnglishText() {
  std::ifstream f("/usr/share/common-licenses/GPL-3");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string unit = ss.str();
  if (unit.empty()) {
    unit = "The quick brown fox jumps over the lazy dog, while 42 engineers watch the tokens stream by.\n";
  }
  return RepeatTo(unit, kTextBytes);
}

std::string MixedText() {
  const std::string unit =
      "Hello, world! Ceci est un test. Привет, мир! Γειά σου κόσμε. 你好，世界！这是一个测试。"
      "こんにちは世界、テストです。안녕하세요 세계. مرحبا بالعالم. שלום עולם. नमस्ते दुनिया। "
      "Emoji: 🚀🔥👍🏽 — math: ∑x² ≤ ∞; code: for (int i = 0; i < n; ++i) { sum += a[i]; }\n"
      "Numbers 1234567 3.14159 2026-11-27, tabs\tand  double  spaces.\n";
  return RepeatTo(unit, kTextBytes);
}

void Measure(const std::string& shared, const std::string& vocab, const char* label, const std::string& text) {
  const std::string path = shared + "/tokenizer-tests/" + vocab;
  auto file = riglm::MappedFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", file.status().ToString().c_str());
    return;
  }
  auto gguf = riglm::GgufFile::Parse(file->bytes(), file->size(), path);
  auto tokenizer = riglm::Tokenizer::FromGguf(*gguf);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str());
    return;
  }
  double best = 1e9;
  size_t tokens = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    tokens = (*tokenizer)->Encode(text, {}).size();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::printf("| %-32s | %-13s | %8zu | %8.2f |\n", vocab.c_str(), label, tokens, text.size() / best / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string shared = argc > 1 ? argv[1] : "../shared";
  const std::string english = EnglishText(), mixed = MixedText();
  std::printf("| vocabulary                       | text (1 MB)   |   tokens |     MB/s |\n");
  std::printf("|----------------------------------|---------------|---------:|---------:|\n");
  for (const char* vocab : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    Measure(shared, vocab, "English", english);
    Measure(shared, vocab, "mixed-script", mixed);
  }
  return 0;
}
