#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"
#include "format/gguf.h"
#include "io/mapped_file.h"
#include "model/requantize.h"

namespace riglm::cli {
namespace {

struct QuantizeFlags {
  std::string input;
  std::string output;
  std::string type;
};

int RunQuantize(const QuantizeFlags& flags) {
  auto recipe = QuantRecipe::Parse(flags.type);
  if (!recipe.ok()) return ReportError(recipe.status());
  if (flags.input == flags.output) return ReportError(InvalidArgument("the output must be another file than the input"));
  auto file = MappedFile::Open(flags.input);
  if (!file.ok()) return ReportError(file.status());
  auto gguf = GgufFile::Parse(file->bytes(), file->size(), flags.input);
  if (!gguf.ok()) return ReportError(gguf.status());
  auto writer = RequantizeWriter(*gguf, file->data(), *recipe);
  if (!writer.ok()) return ReportError(writer.status());
  return WriteGgufWithProgress(*writer, flags.output);
}

}  // namespace

void AddQuantizeCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<QuantizeFlags>();
  CLI::App* cmd = app.add_subcommand("quantize", "Re-encode a GGUF model's weights to another type (e.g. F32 to Q8_0)");
  cmd->add_option("input", flags->input, "source GGUF file")->required();
  cmd->add_option("output", flags->output, "GGUF file to write")->required();
  cmd->add_option("type", flags->type, "weight type or recipe: Q8_0, Q4_K_M, Q4_0, F16, ...")->required();
  cmd->callback([flags, &exit_code] { exit_code = RunQuantize(*flags); });
}

}  // namespace riglm::cli
