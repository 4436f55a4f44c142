#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"
#include "model/synthetic.h"
#include "util/strings.h"

namespace riglm::cli {
namespace {

struct SynthFlags {
  std::string output;
  std::string preset;
  std::string type = "Q4_K_M";
  ModelShape shape{"custom", "llama", 0, 0, 0, 0, 0, 32000, 4096, false, 10000.0};
  bool tied = false;
  uint64_t seed = 1;
};

int RunSynth(SynthFlags flags) {
  ModelShape shape = flags.shape;
  if (!flags.preset.empty()) {
    auto preset = FindModelShape(flags.preset);
    if (!preset.ok()) return ReportError(preset.status());
    shape = *preset;
  } else {
    shape.tied_output = flags.tied;
  }
  auto recipe = QuantRecipe::Parse(flags.type);
  if (!recipe.ok()) return ReportError(recipe.status());
  auto writer = SyntheticModelWriter(shape, *recipe, flags.seed);
  if (!writer.ok()) return ReportError(writer.status());
  std::fprintf(stderr, "synth: %s, %lld layers, width %lld, %lld/%lld heads, FFN %lld, vocab %lld, %s output, %s: %s\n",
               shape.name.c_str(), static_cast<long long>(shape.layers), static_cast<long long>(shape.embedding),
               static_cast<long long>(shape.heads), static_cast<long long>(shape.kv_heads),
               static_cast<long long>(shape.ffn), static_cast<long long>(shape.vocab),
               shape.tied_output ? "tied" : "untied", recipe->name().c_str(), FormatBytes(writer->TotalBytes()).c_str());
  return WriteGgufWithProgress(*writer, flags.output);
}

}  // namespace

void AddSynthCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<SynthFlags>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write a GGUF with random weights in the shape of a real model (for speed and memory tests)");
  cmd->add_option("-o,--output", flags->output, "file to write")->required();
  std::string presets;
  for (const ModelShape& s : ModelShapePresets()) presets += (presets.empty() ? "" : ", ") + s.name;
  auto* preset = cmd->add_option("--preset", flags->preset, "model shape: " + presets);
  cmd->add_option("--type", flags->type, "weight type or recipe: F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, ...")
      ->capture_default_str();
  cmd->add_option("--arch", flags->shape.architecture, "architecture for a custom shape (llama, qwen2)")->excludes(preset);
  cmd->add_option("--layers", flags->shape.layers, "custom shape: layers")->excludes(preset);
  cmd->add_option("--embd", flags->shape.embedding, "custom shape: width")->excludes(preset);
  cmd->add_option("--heads", flags->shape.heads, "custom shape: attention heads")->excludes(preset);
  cmd->add_option("--kv-heads", flags->shape.kv_heads, "custom shape: KV heads")->excludes(preset);
  cmd->add_option("--ffn", flags->shape.ffn, "custom shape: feed-forward width")->excludes(preset);
  cmd->add_option("--vocab", flags->shape.vocab, "custom shape: vocabulary size")->capture_default_str();
  cmd->add_option("--ctx", flags->shape.context, "custom shape: trained context")->capture_default_str();
  cmd->add_flag("--tied", flags->tied, "custom shape: output matrix shared with the embedding");
  cmd->add_option("--seed", flags->seed, "random seed")->capture_default_str();
  cmd->callback([flags, &exit_code] { exit_code = RunSynth(*flags); });
}

}  // namespace riglm::cli
