// riglm pull / list / rm: the Hugging Face cache from the command line.
#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "cli/common.h"
#include "hub/hub_pull.h"
#include "util/strings.h"

namespace riglm::cli {
namespace {

struct PullFlags {
  std::string model;
  std::string revision;
};

int RunPull(const PullFlags& flags) {
  auto ref = ParseModelRef(flags.model);
  if (!ref.ok()) return ReportError(ref.status());
  if (!flags.revision.empty()) ref->revision = flags.revision;
  HubOptions options = HubOptions::FromEnvironment();
  if (options.offline) return ReportError(InvalidArgument("HF_HUB_OFFLINE is set: pulling needs the network"));
  auto pulled = PullWithProgress(*ref, options);
  if (!pulled.ok()) return ReportError(pulled.status());
  std::printf("%s: %d file%s, %s, revision %s\n%s\n", ref->ToString().c_str(), pulled->files, pulled->files == 1 ? "" : "s",
              FormatBytes(pulled->bytes).c_str(), pulled->commit.substr(0, 12).c_str(), pulled->location.c_str());
  return 0;
}

std::string FormatTime(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm {};
  localtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &tm);
  return text;
}

int RunList() {
  const HubCache cache(HubOptions::FromEnvironment().cache_dir);
  std::vector<CachedModel> models = ListCachedModels(cache);
  if (models.empty()) {
    std::printf("no models in %s (riglm pull OWNER/REPO[:QUANT] adds one)\n", cache.root().c_str());
    return 0;
  }
  size_t width = 4;
  for (const CachedModel& m : models) width = std::max(width, m.name.size());
  std::printf("%-*s  %-11s  %10s  %-8s  %s\n", static_cast<int>(width), "NAME", "FORMAT", "SIZE", "REVISION", "MODIFIED");
  for (const CachedModel& m : models) {
    std::printf("%-*s  %-11s  %10s  %-8s  %s\n", static_cast<int>(width), m.name.c_str(), m.format.c_str(),
                FormatBytes(m.bytes).c_str(), m.commit.substr(0, 8).c_str(), FormatTime(m.modified).c_str());
  }
  return 0;
}

int RunRemove(const std::vector<std::string>& names) {
  const HubCache cache(HubOptions::FromEnvironment().cache_dir);
  int failures = 0;
  for (const std::string& name : names) {
    auto ref = ParseModelRef(name);
    Result<uint64_t> freed = ref.status();
    if (ref.ok()) freed = RemoveCachedModel(cache, *ref);
    if (!freed.ok()) {
      ReportError(freed.status());
      ++failures;
      continue;
    }
    std::printf("removed %s (%s freed)\n", name.c_str(), FormatBytes(*freed).c_str());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void AddHubCommands(CLI::App& app, int& exit_code) {
  auto pull = std::make_shared<PullFlags>();
  CLI::App* cmd = app.add_subcommand("pull", "Download a model from Hugging Face into the shared cache");
  cmd->footer(
      "MODEL is OWNER/REPO[:QUANT|:FILE.gguf] (an hf.co/ prefix is accepted). For a GGUF repository it picks\n"
      "the file of that quant (default Q4_K_M), with every part of a split GGUF; for a safetensors repository\n"
      "it takes config, tokenizer and all shards. Downloads resume where they stopped and are checked\n"
      "against the Hub's sha256.\n"
      "Environment: HF_ENDPOINT (mirror), HF_TOKEN (gated and private models; else the token file of\n"
      "huggingface-cli login), HF_HOME / HF_HUB_CACHE (the cache, shared with Python tools; it may be on NFS).");
  cmd->add_option("model", pull->model, "OWNER/REPO[:QUANT|:FILE]")->required();
  cmd->add_option("--revision", pull->revision, "branch, tag or commit (default main)");
  cmd->callback([pull, &exit_code] { exit_code = RunPull(*pull); });

  CLI::App* list = app.add_subcommand("list", "List the models in the Hugging Face cache");
  list->alias("ls");
  list->callback([&exit_code] { exit_code = RunList(); });

  auto names = std::make_shared<std::vector<std::string>>();
  CLI::App* rm = app.add_subcommand("rm", "Remove models from the Hugging Face cache (OWNER/REPO removes all its files)");
  rm->add_option("model", *names, "OWNER/REPO[:QUANT|:FILE] as riglm list shows them")->required();
  rm->callback([names, &exit_code] { exit_code = RunRemove(*names); });
}

}  // namespace riglm::cli
