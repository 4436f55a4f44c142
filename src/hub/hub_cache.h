// The Hugging Face cache, laid out exactly as huggingface_hub lays it out, so that models pulled
// by Python tools are found here and the reverse:
//   <root>/models--OWNER--REPO/blobs/<sha256 or git oid>      file contents, one per version
//   <root>/models--OWNER--REPO/snapshots/<commit>/<path>     relative symlinks into blobs/
//   <root>/models--OWNER--REPO/refs/<revision>               the commit a branch or tag pointed to
//   <root>/.locks/models--OWNER--REPO/<blob>.lock            held while a blob is written
// The root may be on NFS: blobs are written under a temporary name by one holder of the lock
// at a time and renamed into place when whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace riglm {

// HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::string DefaultHubCacheDir();

struct CachedFile {
  std::string path;  // inside the repository, e.g. "Q4_K_M/model-Q4_K_M-00001-of-00002.gguf"
  uint64_t size = 0;
};

struct CachedSnapshot {
  std::string repo;    // OWNER/REPO
  std::string commit;
  std::vector<std::string> refs;  // revisions that point at this commit ("main")
  std::vector<CachedFile> files;
  std::string dir;     // the snapshot folder
  int64_t modified = 0;  // newest file, seconds since the epoch
};

// An exclusive lock on a file that works across threads, processes and NFS clients (open file
// description locks, which the NFS client carries as POSIX locks). Released by the destructor.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

class HubCache {
 public:
  explicit HubCache(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  std::string RepoDir(const std::string& repo) const;  // <root>/models--OWNER--REPO
  std::string BlobPath(const std::string& repo, const std::string& blob) const;
  std::string LockPath(const std::string& repo, const std::string& blob) const;
  std::string SnapshotDir(const std::string& repo, const std::string& commit) const;

  // The commit `revision` names: itself when it is a 40-digit commit present in the cache, else
  // what refs/<revision> holds. NotFound when the cache has neither.
  Result<std::string> ResolveRevision(const std::string& repo, const std::string& revision) const;
  Status WriteRef(const std::string& repo, const std::string& revision, const std::string& commit) const;
  // Makes snapshots/<commit>/<path> a relative link to the blob (replacing an older link).
  Status LinkSnapshotFile(const std::string& repo, const std::string& commit, const std::string& path,
                          const std::string& blob) const;

  // Every snapshot of every model repository, sorted by repository.
  std::vector<CachedSnapshot> List() const;
  // Removes `paths` of the snapshot (all of it when empty), then blobs no snapshot links to, then
  // the repository when nothing is left. Returns the bytes freed.
  Result<uint64_t> Remove(const std::string& repo, const std::string& commit, const std::vector<std::string>& paths) const;

 private:
  std::string root_;
};

// OWNER/REPO with the characters the Hub allows; InvalidArgument otherwise.
Status CheckRepoId(const std::string& repo);

}  // namespace riglm
