#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "format/gguf.h"
#include "io/mapped_file.h"

namespace riglm::cli {
namespace {

struct TokenizeFlags {
  std::string model_path;
  std::string text;
  std::string text_file;
  bool special = false;
  bool add_bos = false;
  bool ids_only = false;
};

// Shows a piece so that control bytes and spaces are visible on a terminal.
std::string Printable(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

int RunTokenize(const TokenizeFlags& flags) {
  std::string text = flags.text;
  if (!flags.text_file.empty()) {
    std::ifstream in(flags.text_file, std::ios::binary);
    if (!in) return ReportError(NotFound(flags.text_file + ": cannot open"));
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  // Only the vocabulary is needed, so vocabulary-only GGUF files work too.
  auto file = MappedFile::Open(flags.model_path);
  if (!file.ok()) return ReportError(file.status());
  auto gguf = GgufFile::Parse(file->bytes(), file->size(), flags.model_path);
  if (!gguf.ok()) return ReportError(gguf.status());
  auto tokenizer = Tokenizer::FromGguf(*gguf);
  if (!tokenizer.ok()) return ReportError(tokenizer.status());
  EncodeOptions options;
  options.add_bos = flags.add_bos;
  options.parse_special = flags.special;
  const std::vector<int32_t> ids = (*tokenizer)->Encode(text, options);
  if (flags.ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
  }
  for (int32_t id : ids) {
    std::printf("%6d -> '%s'\n", id, Printable((*tokenizer)->TokenToPiece(id, true)).c_str());
  }
  std::fprintf(stderr, "%zu tokens\n", ids.size());
  return 0;
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show how a model's tokenizer splits a text (for debugging)");
  cmd->add_option("-m,--model", flags->model_path, "GGUF model or vocabulary file")->required();
  auto* text = cmd->add_option("text", flags->text, "text to tokenize");
  cmd->add_option("-f,--file", flags->text_file, "read the text from a file, byte for byte")->excludes(text);
  cmd->add_flag("--special", flags->special, "parse special-token texts such as <|im_start|>");
  cmd->add_flag("--add-bos", flags->add_bos, "prepend the BOS token");
  cmd->add_flag("--ids", flags->ids_only, "print only the ids, space-separated on one line");
  cmd->callback([flags, &exit_code] { exit_code = RunTokenize(*flags); });
}

}  // namespace riglm::cli
