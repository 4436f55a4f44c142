// riglm: one binary, many subcommands.
#include <CLI/CLI.hpp>

#include <string_view>
#include <vector>

#include "cli/commands.h"

namespace {

// llama.cpp's multi-letter short flags (-ctk q8_0), which CLI11 cannot declare, become their long
// names; their help lists both spellings.
std::vector<char*> TranslateLlamaCppFlags(int argc, char** argv) {
  static char cache_type_k[] = "--cache-type-k", cache_type_v[] = "--cache-type-v", parallel[] = "--parallel";
  std::vector<char*> out(argv, argv + argc);
  for (char*& arg : out) {
    if (std::string_view(arg) == "-ctk") arg = cache_type_k;
    if (std::string_view(arg) == "-ctv") arg = cache_type_v;
    if (std::string_view(arg) == "-np") arg = parallel;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "riglm: a local LLM inference server for multi-GPU home rigs, that also runs well on the CPU alone.\n"
      "Run 'riglm <command> --help' for a command's flags."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("riglm ") + RIGLM_VERSION);
  int exit_code = 0;
  riglm::cli::AddRunCommand(app, exit_code);
  riglm::cli::AddPerplexityCommand(app, exit_code);
  riglm::cli::AddTokenizeCommand(app, exit_code);
  riglm::cli::AddSynthCommand(app, exit_code);
  riglm::cli::AddBenchCommand(app, exit_code);
  riglm::cli::AddQuantizeCommand(app, exit_code);
  riglm::cli::AddPlanCommand(app, exit_code);
  riglm::cli::AddServeCommand(app, exit_code);
  riglm::cli::AddHubCommands(app, exit_code);
  riglm::cli::AddDevicesCommand(app, exit_code);
  std::vector<char*> args = TranslateLlamaCppFlags(argc, argv);
  CLI11_PARSE(app, argc, args.data());
  return exit_code;
}
