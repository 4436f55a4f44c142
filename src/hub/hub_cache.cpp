#include "hub/hub_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "util/files.h"

namespace riglm {
namespace {

namespace fs = std::filesystem;

bool IsCommitHash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return IoError(path + ": cannot create the folder: " + ec.message());
  return Status::Ok();
}

std::string RepoFolderName(const std::string& repo) {
  std::string name = "models--" + repo;
  for (size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at)) name.replace(at, 1, "--");
  return name;
}

}  // namespace

std::string DefaultHubCacheDir() {
  if (const char* v = std::getenv("HF_HUB_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("HUGGINGFACE_HUB_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("HF_HOME"); v && *v) return std::string(v) + "/hub";
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return std::string(v) + "/huggingface/hub";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/huggingface/hub";
}

Status CheckRepoId(const std::string& repo) {
  const size_t slash = repo.find('/');
  auto valid_part = [](std::string_view part) {
    return !part.empty() && part.size() <= 96 && part != "." && part != ".." &&
           std::all_of(part.begin(), part.end(), [](char c) {
             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
           });
  };
  if (slash == std::string::npos || repo.find('/', slash + 1) != std::string::npos ||
      !valid_part(std::string_view(repo).substr(0, slash)) || !valid_part(std::string_view(repo).substr(slash + 1))) {
    return InvalidArgument("'" + repo + "' is not a Hugging Face repository id (OWNER/NAME)");
  }
  return Status::Ok();
}

Result<FileLock> FileLock::Acquire(const std::string& path) {
  RIGLM_RETURN_IF_ERROR(MakeDirs(fs::path(path).parent_path().string()));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(path + ": " + std::strerror(errno));
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  while (::fcntl(fd, F_OFD_SETLKW, &lock) != 0) {
    if (errno == EINTR) continue;
    const std::string message = path + ": cannot lock: " + std::strerror(errno);
    ::close(fd);
    return IoError(message);
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the description releases its lock
}

std::string HubCache::RepoDir(const std::string& repo) const { return root_ + "/" + RepoFolderName(repo); }
std::string HubCache::BlobPath(const std::string& repo, const std::string& blob) const {
  return RepoDir(repo) + "/blobs/" + blob;
}
std::string HubCache::LockPath(const std::string& repo, const std::string& blob) const {
  return root_ + "/.locks/" + RepoFolderName(repo) + "/" + blob + ".lock";
}
std::string HubCache::SnapshotDir(const std::string& repo, const std::string& commit) const {
  return RepoDir(repo) + "/snapshots/" + commit;
}

Result<std::string> HubCache::ResolveRevision(const std::string& repo, const std::string& revision) const {
  std::error_code ec;
  if (IsCommitHash(revision) && fs::is_directory(SnapshotDir(repo, revision), ec)) return revision;
  Result<std::string> ref = ReadTextFile(RepoDir(repo) + "/refs/" + revision, 4096);
  if (!ref.ok()) {
    if (ref.status().code() == StatusCode::kNotFound) return NotFound(repo + " (revision " + revision + ") is not in the cache " + root_);
    return ref.status();
  }
  std::string commit = *ref;
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == ' ')) commit.pop_back();
  if (!IsCommitHash(commit)) return Corruption(RepoDir(repo) + "/refs/" + revision + " does not hold a commit hash");
  return commit;
}

Status HubCache::WriteRef(const std::string& repo, const std::string& revision, const std::string& commit) const {
  if (revision == commit) return Status::Ok();
  const std::string path = RepoDir(repo) + "/refs/" + revision;
  RIGLM_RETURN_IF_ERROR(MakeDirs(fs::path(path).parent_path().string()));
  return WriteFileAtomically(path, commit);
}

Status HubCache::LinkSnapshotFile(const std::string& repo, const std::string& commit, const std::string& path,
                                  const std::string& blob) const {
  const fs::path link = fs::path(SnapshotDir(repo, commit)) / path;
  RIGLM_RETURN_IF_ERROR(MakeDirs(link.parent_path().string()));
  // From snapshots/<commit>/<dirs...>/file back up to the repository folder.
  std::string target = "../../";
  for (char c : path) {
    if (c == '/') target += "../";
  }
  target += "blobs/" + blob;
  const std::string temp = link.string() + ".link" + UniqueTempSuffix();
  std::error_code ec;
  fs::remove(temp, ec);
  fs::create_symlink(target, temp, ec);
  if (!ec) fs::rename(temp, link, ec);  // atomic, so a concurrent puller never sees no link
  if (ec) return IoError(link.string() + ": cannot link to the blob: " + ec.message());
  return Status::Ok();
}

std::vector<CachedSnapshot> HubCache::List() const {
  std::vector<CachedSnapshot> out;
  std::error_code ec;
  for (const fs::directory_entry& repo_entry : fs::directory_iterator(root_, ec)) {
    const std::string folder = repo_entry.path().filename().string();
    if (folder.rfind("models--", 0) != 0 || !repo_entry.is_directory(ec)) continue;
    std::string repo = folder.substr(8);
    const size_t sep = repo.find("--");
    if (sep == std::string::npos) continue;
    repo.replace(sep, 2, "/");
    std::map<std::string, std::vector<std::string>> refs_by_commit;
    for (const fs::directory_entry& ref : fs::recursive_directory_iterator(repo_entry.path() / "refs", ec)) {
      if (!ref.is_regular_file(ec)) continue;
      Result<std::string> commit = ResolveRevision(repo, ref.path().lexically_relative(repo_entry.path() / "refs").string());
      if (commit.ok()) refs_by_commit[*commit].push_back(ref.path().lexically_relative(repo_entry.path() / "refs").string());
    }
    for (const fs::directory_entry& snap : fs::directory_iterator(repo_entry.path() / "snapshots", ec)) {
      CachedSnapshot s;
      s.repo = repo;
      s.commit = snap.path().filename().string();
      s.dir = snap.path().string();
      s.refs = refs_by_commit[s.commit];
      for (const fs::directory_entry& f : fs::recursive_directory_iterator(snap.path(), ec)) {
        std::error_code fec;
        if (!f.is_regular_file(fec)) continue;  // follows the link: dangling links (blob missing) are left out
        s.files.push_back({f.path().lexically_relative(snap.path()).string(), static_cast<uint64_t>(f.file_size(fec))});
        struct stat st {};
        if (::stat(f.path().c_str(), &st) == 0) s.modified = std::max<int64_t>(s.modified, st.st_mtime);
      }
      std::sort(s.files.begin(), s.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
      if (!s.files.empty()) out.push_back(std::move(s));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.repo, a.commit) < std::tie(b.repo, b.commit); });
  return out;
}

Result<uint64_t> HubCache::Remove(const std::string& repo, const std::string& commit, const std::vector<std::string>& paths) const {
  std::error_code ec;
  const fs::path repo_dir = RepoDir(repo);
  const fs::path snapshot = SnapshotDir(repo, commit);
  if (!fs::is_directory(snapshot, ec)) return NotFound(repo + " is not in the cache " + root_);
  if (paths.empty()) {
    fs::remove_all(snapshot, ec);
  } else {
    for (const std::string& p : paths) fs::remove(snapshot / p, ec);
  }
  if (ec) return IoError(snapshot.string() + ": " + ec.message());
  // Blobs still linked from any snapshot stay.
  std::set<std::string> linked;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(repo_dir / "snapshots", ec)) {
    if (e.is_symlink(ec)) linked.insert(fs::path(fs::read_symlink(e.path(), ec)).filename().string());
  }
  uint64_t freed = 0;
  for (const fs::directory_entry& b : fs::directory_iterator(repo_dir / "blobs", ec)) {
    const std::string name = b.path().filename().string();
    if (linked.count(name) || name.find('.') != std::string::npos) continue;  // .incomplete: a pull may be running
    std::error_code bec;
    freed += static_cast<uint64_t>(b.file_size(bec));
    fs::remove(b.path(), bec);
  }
  // Empty snapshot folders, refs to commits no longer here, then the repository itself.
  for (const fs::directory_entry& s : fs::directory_iterator(repo_dir / "snapshots", ec)) {
    bool empty = true;
    for (const fs::directory_entry& f : fs::recursive_directory_iterator(s.path(), ec)) {
      if (!f.is_directory(ec)) empty = false;
    }
    if (empty) fs::remove_all(s.path(), ec);
  }
  if (fs::is_empty(repo_dir / "snapshots", ec)) {
    fs::remove_all(repo_dir, ec);
    fs::remove_all(fs::path(root_) / ".locks" / RepoFolderName(repo), ec);
  } else {
    for (const fs::directory_entry& ref : fs::recursive_directory_iterator(repo_dir / "refs", ec)) {
      if (!ref.is_regular_file(ec)) continue;
      Result<std::string> target = ReadTextFile(ref.path().string(), 4096);
      if (target.ok() && !fs::exists(repo_dir / "snapshots" / *target, ec)) fs::remove(ref.path(), ec);
    }
  }
  return freed;
}

}  // namespace riglm
