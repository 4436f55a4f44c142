// Subcommands of the riglm binary. Each Add*Command registers its flags and its action on the
// app; the action's exit code is stored in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace riglm::cli {

void AddRunCommand(CLI::App& app, int& exit_code);
void AddPerplexityCommand(CLI::App& app, int& exit_code);
void AddTokenizeCommand(CLI::App& app, int& exit_code);
void AddSynthCommand(CLI::App& app, int& exit_code);
void AddBenchCommand(CLI::App& app, int& exit_code);
void AddQuantizeCommand(CLI::App& app, int& exit_code);
void AddPlanCommand(CLI::App& app, int& exit_code);
void AddServeCommand(CLI::App& app, int& exit_code);
void AddHubCommands(CLI::App& app, int& exit_code);  // pull, list, rm
void AddDevicesCommand(CLI::App& app, int& exit_code);

}  // namespace riglm::cli
