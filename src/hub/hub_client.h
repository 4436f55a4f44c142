// Talking to the Hugging Face Hub (or anything that answers like it at HF_ENDPOINT): repository
// listings, and downloads into the shared cache that resume, verify and tolerate other
// processes pulling the same files.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hub/hub_cache.h"
#include "io/byte_source.h"

namespace riglm {

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string token;      // HF_TOKEN, else the token file `huggingface-cli login` wrote
  std::string cache_dir;  // DefaultHubCacheDir()
  bool offline = false;   // HF_HUB_OFFLINE: use the cache only
  int parallel = 4;       // files downloaded at once
  SourceOptions source;   // retries and timeouts of each download
  const std::atomic<bool>* cancel = nullptr;
  // Bytes of this pull so far and in all (files already cached count as done).
  std::function<void(uint64_t done, uint64_t total)> progress;

  static HubOptions FromEnvironment();
};

struct RepoFile {
  std::string path;    // inside the repository
  uint64_t size = 0;
  std::string blob;    // the cache's blob name: the sha256 for LFS files, else the git object id
  std::string sha256;  // LFS files only
};

struct RepoInfo {
  std::string repo;
  std::string commit;
  std::vector<RepoFile> files;
  bool gated = false;  // downloads need a token of an account that accepted the terms
};

// GET <endpoint>/api/models/<repo>/revision/<revision>?blobs=true. Missing, private or gated
// repositories, bad tokens and unknown revisions each get their own message.
Result<RepoInfo> FetchRepoInfo(const HubOptions& options, const std::string& repo, const std::string& revision);

// Downloads one file into the cache (unless its blob is already there) and links it into the
// commit's snapshot. Holds the blob's lock while writing; resumes a partial download left by an
// earlier run; checks the sha256 (LFS) or git object id of the bytes. `on_bytes` sees each piece
// written (and the bytes of a resumed part at once).
Status DownloadRepoFile(const HubOptions& options, const std::string& repo, const std::string& commit,
                        const RepoFile& file, const std::function<void(uint64_t)>& on_bytes);

}  // namespace riglm
