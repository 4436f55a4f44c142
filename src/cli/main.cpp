// riglm: one binary, many subcommands.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

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
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
