#include "hub/hub_pull.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "loader/split_gguf.h"
#include "util/strings.h"

namespace riglm {
namespace {

// A split GGUF's part: `stem` names the whole model ("dir/model-of-00003"), `part` counts from 1.
bool SplitPart(const std::string& path, std::string* stem, int* part) {
  std::string prefix;
  int count = 0;
  if (!IsSplitGgufPath(path, &prefix, &count, part)) return false;
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, "-of-%05d", count);
  *stem = prefix + suffix;
  return true;
}

// The quant a GGUF file's name carries: what follows the last '-' or '.' before ".gguf".
std::string QuantOf(const std::string& path) {
  std::string name = BaseName(path), stem;
  int part = 0;
  if (SplitPart(name, &stem, &part)) name = stem.substr(0, stem.size() - 9) + ".gguf";
  name = name.substr(0, name.size() - 5);
  const size_t cut = name.find_last_of("-.");
  return cut == std::string::npos ? name : name.substr(cut + 1);
}

// Does the file name hold `quant` as a whole word (so Q4_K does not match Q4_K_M)?
bool NameHasQuant(const std::string& path, const std::string& quant) {
  const std::string name = ToLower(BaseName(path)), q = ToLower(quant);
  for (size_t at = name.find(q); at != std::string::npos; at = name.find(q, at + 1)) {
    const bool starts = at == 0 || name[at - 1] == '-' || name[at - 1] == '.' || name[at - 1] == '_';
    const char after = at + q.size() < name.size() ? name[at + q.size()] : '.';
    if (starts && (after == '.' || after == '-')) return true;
  }
  // A folder named after the quant (bartowski's split layout: Q4_K_M/model-00001-of-00002.gguf).
  return ToLower(path).rfind(q + "/", 0) == 0;
}

bool IsGguf(const std::string& path) {
  return EndsWith(ToLower(path), ".gguf") && ToLower(BaseName(path)).find("mmproj") == std::string::npos;
}

}  // namespace

bool LooksLikeModelRef(const std::string& text) {
  if (IsUrl(text) || StartsWith(text, "/") || StartsWith(text, "./") || StartsWith(text, "../")) return false;
  const std::string lower = ToLower(text);
  if (EndsWith(lower, ".gguf") || EndsWith(lower, ".safetensors")) return false;  // a file that is missing
  struct stat st {};
  if (::stat(text.c_str(), &st) == 0) return false;
  return ParseModelRef(text).ok();
}

Result<ModelRef> ParseModelRef(const std::string& text) {
  ModelRef ref;
  std::string rest = text;
  for (const char* prefix : {"hf.co/", "huggingface.co/", "https://huggingface.co/"}) {
    if (StartsWith(rest, prefix)) rest = rest.substr(std::strlen(prefix));
  }
  const size_t colon = rest.find(':');
  if (colon != std::string::npos) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (ref.tag.empty() || ref.tag.find("..") != std::string::npos) return InvalidArgument("'" + text + "': empty or bad tag after ':'");
  }
  const size_t at = rest.find('@');
  if (at != std::string::npos) {
    ref.revision = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  ref.repo = rest;
  RIGLM_RETURN_IF_ERROR(CheckRepoId(ref.repo));
  return ref;
}

Result<FileSelection> SelectFiles(const std::string& repo, const std::vector<RepoFile>& files, const std::string& tag) {
  FileSelection sel;
  std::vector<const RepoFile*> ggufs;
  for (const RepoFile& f : files) {
    if (IsGguf(f.path)) ggufs.push_back(&f);
  }
  auto has = [&](const std::string& path) {
    return std::any_of(files.begin(), files.end(), [&](const RepoFile& f) { return f.path == path; });
  };
  if (!ggufs.empty()) {
    std::vector<const RepoFile*> matches;
    if (EndsWith(ToLower(tag), ".gguf")) {
      for (const RepoFile* f : ggufs) {
        if (f->path == tag || BaseName(f->path) == tag) matches.push_back(f);
      }
    } else {
      const std::vector<std::string> wanted = tag.empty() ? std::vector<std::string>{"Q4_K_M", "Q4_0", "Q8_0"} : std::vector<std::string>{tag};
      for (const std::string& q : wanted) {
        for (const RepoFile* f : ggufs) {
          if (NameHasQuant(f->path, q)) matches.push_back(f);
        }
        if (!matches.empty()) break;
      }
      if (matches.empty() && tag.empty()) matches = ggufs;  // one model in some other quant
    }
    // Group split parts into one model each.
    std::map<std::string, std::vector<const RepoFile*>> models;
    for (const RepoFile* f : matches) {
      std::string stem;
      int part = 0;
      models[SplitPart(f->path, &stem, &part) ? stem : f->path].push_back(f);
    }
    if (models.empty()) {
      std::vector<std::string> quants;
      for (const RepoFile* f : ggufs) {
        const std::string q = QuantOf(f->path);
        if (std::find(quants.begin(), quants.end(), q) == quants.end()) quants.push_back(q);
      }
      std::string list;
      for (const std::string& q : quants) list += (list.empty() ? "" : ", ") + q;
      return NotFound(repo + " has no GGUF file for '" + tag + "' (it has: " + list + ")");
    }
    if (models.size() > 1) {
      std::string list;
      for (const auto& [name, parts] : models) list += (list.empty() ? "" : ", ") + parts.front()->path;
      return InvalidArgument(repo + ": several GGUF files match" + (tag.empty() ? "" : " '" + tag + "'") + " (" + list +
                             "); name one as " + repo + ":FILE.gguf or give the quant");
    }
    std::vector<const RepoFile*> parts = models.begin()->second;
    std::sort(parts.begin(), parts.end(), [](const RepoFile* a, const RepoFile* b) { return a->path < b->path; });
    std::string stem;
    int part = 0;
    if (SplitPart(parts.front()->path, &stem, &part)) {
      // A named part pulls the whole set; every part must be listed.
      parts.clear();
      for (const RepoFile* f : ggufs) {
        std::string other;
        int n = 0;
        if (SplitPart(f->path, &other, &n) && other == stem) parts.push_back(f);
      }
      std::sort(parts.begin(), parts.end(), [](const RepoFile* a, const RepoFile* b) { return a->path < b->path; });
      const int count = std::stoi(stem.substr(stem.size() - 5));
      if (static_cast<int>(parts.size()) != count) {
        return Corruption(repo + ": split GGUF " + parts.front()->path + " should have " + std::to_string(count) +
                          " parts, the repository lists " + std::to_string(parts.size()));
      }
    }
    for (const RepoFile* f : parts) sel.files.push_back(*f);
    sel.model_path = sel.files.front().path;
    return sel;
  }
  const bool safetensors = std::any_of(files.begin(), files.end(), [](const RepoFile& f) {
    return f.path.find('/') == std::string::npos && EndsWith(f.path, ".safetensors");
  });
  if (has("config.json") && safetensors) {
    if (!tag.empty()) {
      return InvalidArgument(repo + " is a safetensors repository, which has no quant files; pull it without ':" + tag +
                             "' and quantize while loading with --quant " + tag);
    }
    static const char* kSideFiles[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                       "special_tokens_map.json", "chat_template.jinja", "model.safetensors.index.json"};
    for (const RepoFile& f : files) {
      const bool top = f.path.find('/') == std::string::npos;
      const bool side = std::find_if(std::begin(kSideFiles), std::end(kSideFiles), [&](const char* s) { return f.path == s; }) !=
                        std::end(kSideFiles);
      if (top && (side || EndsWith(f.path, ".safetensors"))) sel.files.push_back(f);
    }
    if (!has("tokenizer.json")) {
      return Unsupported(repo + " has no tokenizer.json (only a SentencePiece tokenizer.model); riglm reads tokenizer.json");
    }
    sel.model_path = "";
    return sel;
  }
  return NotFound(repo + " holds neither GGUF files nor a safetensors model (config.json + *.safetensors)");
}

Result<PulledModel> FindCachedModel(const ModelRef& ref, const HubOptions& options) {
  const HubCache cache(options.cache_dir);
  RIGLM_ASSIGN_OR_RETURN(std::string commit, cache.ResolveRevision(ref.repo, ref.revision));
  for (const CachedSnapshot& s : cache.List()) {
    if (s.repo != ref.repo || s.commit != commit) continue;
    std::vector<RepoFile> files;
    for (const CachedFile& f : s.files) files.push_back({f.path, f.size, "", ""});
    RIGLM_ASSIGN_OR_RETURN(FileSelection sel, SelectFiles(ref.repo, files, ref.tag));
    PulledModel m;
    m.commit = commit;
    m.location = sel.model_path.empty() ? s.dir : s.dir + "/" + sel.model_path;
    for (const RepoFile& f : sel.files) m.bytes += f.size;
    m.files = static_cast<int>(sel.files.size());
    if (!sel.model_path.empty() || std::filesystem::exists(s.dir + "/config.json")) return m;
  }
  return NotFound(ref.ToString() + " is not in the cache " + options.cache_dir);
}

Result<PulledModel> PullModel(const ModelRef& ref, const HubOptions& options) {
  if (options.offline) {
    Result<PulledModel> cached = FindCachedModel(ref, options);
    if (!cached.ok() && cached.status().code() == StatusCode::kNotFound) {
      return NotFound(cached.status().message() + ", and HF_HUB_OFFLINE / --offline forbids downloading it");
    }
    return cached;
  }
  RIGLM_ASSIGN_OR_RETURN(RepoInfo info, FetchRepoInfo(options, ref.repo, ref.revision));
  RIGLM_ASSIGN_OR_RETURN(FileSelection sel, SelectFiles(ref.repo, info.files, ref.tag));
  const std::string terms = "accept its terms at " + options.endpoint + "/" + ref.repo;
  if (info.gated && options.token.empty()) return IoError(ref.repo + " is gated: " + terms + ", then set HF_TOKEN to a token of that account");
  PulledModel m;
  m.commit = info.commit;
  m.files = static_cast<int>(sel.files.size());
  for (const RepoFile& f : sel.files) m.bytes += f.size;

  // Several files at once: a 1 GbE link is filled by one stream, but the Hub's CDN often gives
  // each connection less.
  std::mutex mutex;
  uint64_t done = 0;
  size_t next = 0;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      size_t index;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next >= sel.files.size() || !first_error.ok()) return;
        index = next++;
      }
      Status s = DownloadRepoFile(options, ref.repo, info.commit, sel.files[index], [&](uint64_t n) {
        std::lock_guard<std::mutex> lock(mutex);
        done += n;
        if (options.progress) options.progress(done, m.bytes);
      });
      if (!s.ok() && info.gated && s.message().find("access denied") != std::string::npos) {
        s = IoError(ref.repo + " is gated and the account of HF_TOKEN has no access yet: " + terms);
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mutex);
        if (first_error.ok()) first_error = s;
      }
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, std::min<int>(options.parallel, static_cast<int>(sel.files.size()))); ++i) workers.emplace_back(worker);
  for (std::thread& t : workers) t.join();
  RIGLM_RETURN_IF_ERROR(first_error);
  const HubCache cache(options.cache_dir);
  RIGLM_RETURN_IF_ERROR(cache.WriteRef(ref.repo, ref.revision, info.commit));
  const std::string snapshot = cache.SnapshotDir(ref.repo, info.commit);
  m.location = sel.model_path.empty() ? snapshot : snapshot + "/" + sel.model_path;
  return m;
}

std::vector<CachedModel> ListCachedModels(const HubCache& cache) {
  std::vector<CachedModel> out;
  for (const CachedSnapshot& s : cache.List()) {
    const bool main = std::find(s.refs.begin(), s.refs.end(), "main") != s.refs.end();
    const std::string repo = main ? s.repo : s.repo + "@" + s.commit;
    std::map<std::string, CachedModel> ggufs;  // by tag
    std::map<std::string, int> tag_uses;
    bool has_config = false, has_safetensors = false;
    uint64_t folder_bytes = 0;
    for (const CachedFile& f : s.files) {
      has_config |= f.path == "config.json";
      has_safetensors |= f.path.find('/') == std::string::npos && EndsWith(f.path, ".safetensors");
      folder_bytes += f.size;
      if (!IsGguf(f.path)) continue;
      std::string stem;
      int part = 0;
      const bool split = SplitPart(f.path, &stem, &part);
      const std::string key = split ? stem : f.path;
      CachedModel& m = ggufs[key];
      if (m.file.empty() || !split || part == 1) {
        m.file = f.path;
        m.location = s.dir + "/" + f.path;
      }
      m.bytes += f.size;
    }
    for (auto& [key, m] : ggufs) ++tag_uses[QuantOf(m.file)];
    for (auto& [key, m] : ggufs) {
      const std::string quant = QuantOf(m.file);
      m.repo = s.repo;
      m.commit = s.commit;
      m.modified = s.modified;
      m.format = "gguf";
      m.name = repo + ":" + (tag_uses[quant] == 1 ? quant : BaseName(m.file));
      out.push_back(m);
    }
    if (has_config && has_safetensors) {
      CachedModel m;
      m.name = repo;
      m.repo = s.repo;
      m.commit = s.commit;
      m.location = s.dir;
      m.bytes = folder_bytes;
      m.modified = s.modified;
      m.format = "safetensors";
      out.push_back(m);
    }
  }
  return out;
}

Result<uint64_t> RemoveCachedModel(const HubCache& cache, const ModelRef& ref) {
  RIGLM_ASSIGN_OR_RETURN(std::string commit, cache.ResolveRevision(ref.repo, ref.revision));
  if (ref.tag.empty()) return cache.Remove(ref.repo, commit, {});
  for (const CachedSnapshot& s : cache.List()) {
    if (s.repo != ref.repo || s.commit != commit) continue;
    std::vector<RepoFile> files;
    for (const CachedFile& f : s.files) files.push_back({f.path, f.size, "", ""});
    RIGLM_ASSIGN_OR_RETURN(FileSelection sel, SelectFiles(ref.repo, files, ref.tag));
    std::vector<std::string> paths;
    for (const RepoFile& f : sel.files) paths.push_back(f.path);
    return cache.Remove(ref.repo, commit, paths);
  }
  return NotFound(ref.ToString() + " is not in the cache " + cache.root());
}

}  // namespace riglm
