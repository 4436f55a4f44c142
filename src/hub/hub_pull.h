// Models by name: "OWNER/REPO[:QUANT or FILE]" (also with an hf.co/ prefix, as Ollama writes
// them) resolved to files in the Hugging Face cache, pulling what is missing.
#pragma once

#include <string>
#include <vector>

#include "hub/hub_client.h"

namespace riglm {

struct ModelRef {
  std::string repo;    // OWNER/REPO
  std::string tag;     // a quant ("Q4_K_M") or a file name ending in .gguf; empty: the default
  std::string revision = "main";
  std::string ToString() const { return tag.empty() ? repo : repo + ":" + tag; }
};

// True for text shaped like a model reference (not a URL, not an existing path).
bool LooksLikeModelRef(const std::string& text);
Result<ModelRef> ParseModelRef(const std::string& text);

// The files of a repository a reference needs, and which one riglm loads.
struct FileSelection {
  std::vector<RepoFile> files;
  std::string model_path;  // relative to the snapshot: the (first) GGUF file, or "" for the folder
};
// GGUF repositories: the file of the requested quant (default Q4_K_M, or the only one), with
// every part of a split GGUF. Safetensors repositories: config, tokenizer files and all shards.
Result<FileSelection> SelectFiles(const std::string& repo, const std::vector<RepoFile>& files, const std::string& tag);

struct PulledModel {
  std::string location;  // what to load: a GGUF file or a safetensors folder in the cache
  std::string commit;
  uint64_t bytes = 0;    // of the selected files
  int files = 0;
};

// Fetches the listing, downloads the selected files (in parallel, resumable, verified) and
// records the revision. With options.offline, only the cache is consulted.
Result<PulledModel> PullModel(const ModelRef& ref, const HubOptions& options);
// The model in the cache without any network access; NotFound when a file is missing.
Result<PulledModel> FindCachedModel(const ModelRef& ref, const HubOptions& options);

// What the cache holds, as names that load it: "OWNER/REPO:QUANT" for each GGUF model (split
// parts counted once), "OWNER/REPO" for a safetensors folder; "@commit" when no branch points there.
struct CachedModel {
  std::string name;
  std::string repo, commit;
  std::string file;      // GGUF: the file (first part) in the repository
  std::string location;  // what to load
  std::string format;    // "gguf" or "safetensors"
  uint64_t bytes = 0;
  int64_t modified = 0;
};
std::vector<CachedModel> ListCachedModels(const HubCache& cache);
// Removes what `ref` names (the whole snapshot without a tag); returns the bytes freed.
Result<uint64_t> RemoveCachedModel(const HubCache& cache, const ModelRef& ref);

}  // namespace riglm
