#include "hub/hub_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <memory>

#include <nlohmann/json.hpp>

#include "util/files.h"
#include "util/strings.h"

namespace riglm {
namespace {

using Json = nlohmann::json;

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string error_code;     // X-Error-Code
  std::string error_message;  // X-Error-Message
  std::string transport_error;
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > (size_t{64} << 20)) return 0;  // listings are small
  body->append(data, size * count);
  return size * count;
}

size_t ReadHubHeader(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  const std::string_view line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    const std::string key = ToLower(line.substr(0, colon));
    std::string value(line.substr(colon + 1));
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    if (key == "x-error-code") r->error_code = value;
    if (key == "x-error-message") r->error_message = value;
  }
  return size * count;
}

HttpResponse HttpGet(const std::string& url, const HubOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpResponse r;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  if (!options.token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + options.token).c_str());
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h.get(), CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, ReadHubHeader);
  curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT, options.source.connect_timeout_s);
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_USERAGENT, "riglm/" RIGLM_VERSION);
  const CURLcode code = curl_easy_perform(h.get());
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) r.transport_error = error[0] ? error : curl_easy_strerror(code);
  return r;
}

std::string Escape(const std::string& text, bool keep_slashes) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slashes && c == '/')) {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// What the Hub's error means for the user, from its status and X-Error-Code.
Status HubError(const HttpResponse& r, const HubOptions& options, const std::string& repo, const std::string& revision) {
  const std::string page = options.endpoint + "/" + repo;
  if (r.status == 0) return Unavailable(options.endpoint + " cannot be reached: " + r.transport_error);
  if (r.error_code == "GatedRepo" || (r.status == 403 && r.error_message.find("gated") != std::string::npos)) {
    return IoError(repo + " is gated: accept its terms at " + page +
                   (options.token.empty() ? ", then set HF_TOKEN to a token of that account" : " with the account of your HF_TOKEN"));
  }
  if (r.error_code == "RevisionNotFound") return NotFound(repo + " has no revision '" + revision + "'");
  if (r.error_code == "RepoNotFound" || r.status == 404) {
    return NotFound(repo + " was not found on " + options.endpoint +
                    (options.token.empty() ? " (if it is private, set HF_TOKEN)" : " (or your HF_TOKEN cannot see it)"));
  }
  if (r.status == 401) {
    return IoError(options.token.empty() ? repo + " needs a token: set HF_TOKEN"
                                         : "the Hub refused HF_TOKEN (invalid or expired token): " + r.error_message);
  }
  if (r.status == 403) return IoError("the Hub denied access to " + repo + ": " + r.error_message);
  if (r.status == 429 || r.status >= 500) {
    return Unavailable(options.endpoint + " answered HTTP " + std::to_string(r.status) + "; try again later");
  }
  return IoError(options.endpoint + ": unexpected HTTP " + std::to_string(r.status) + " for " + repo);
}

bool IsHex(const std::string& s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), md, nullptr); }
  void Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string HexFinal() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &n);
    return HexString(out, n);
  }
  static std::string HexString(const unsigned char* bytes, unsigned int n) {
    static const char* kHex = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += kHex[bytes[i] >> 4];
      s += kHex[bytes[i] & 15];
    }
    return s;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// The digest the Hub publishes for a file: sha256 of the content for LFS files, the git blob id
// (sha1 of "blob <size>\0" + content) for the others.
Digest StartDigest(const RepoFile& file) {
  if (!file.sha256.empty()) return Digest(EVP_sha256());
  Digest d(EVP_sha1());
  const std::string prefix = "blob " + std::to_string(file.size);
  d.Update(prefix.data(), prefix.size() + 1);  // with the terminating NUL
  return d;
}

Status WriteAll(int fd, const uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return IoError(path + ": " + std::strerror(errno));
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

HubOptions HubOptions::FromEnvironment() {
  HubOptions o;
  if (const char* v = std::getenv("HF_ENDPOINT"); v && *v) o.endpoint = v;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (const char* v = std::getenv("HF_TOKEN"); v && *v) {
    o.token = v;
  } else if (const char* v = std::getenv("HUGGING_FACE_HUB_TOKEN"); v && *v) {
    o.token = v;
  } else {
    std::string path;
    if (const char* p = std::getenv("HF_TOKEN_PATH"); p && *p) {
      path = p;
    } else if (const char* home = std::getenv("HF_HOME"); home && *home) {
      path = std::string(home) + "/token";
    } else if (const char* user = std::getenv("HOME"); user && *user) {
      path = std::string(user) + "/.cache/huggingface/token";
    }
    if (Result<std::string> t = ReadTextFile(path, 4096); t.ok()) {
      o.token = *t;
      while (!o.token.empty() && std::isspace(static_cast<unsigned char>(o.token.back()))) o.token.pop_back();
    }
  }
  o.cache_dir = DefaultHubCacheDir();
  if (const char* v = std::getenv("HF_HUB_OFFLINE"); v && *v && std::string(v) != "0" && ToLower(v) != "false") o.offline = true;
  return o;
}

Result<RepoInfo> FetchRepoInfo(const HubOptions& options, const std::string& repo, const std::string& revision) {
  RIGLM_RETURN_IF_ERROR(CheckRepoId(repo));
  const std::string url = options.endpoint + "/api/models/" + repo + "/revision/" + Escape(revision, false) + "?blobs=true";
  HttpResponse r;
  for (int attempt = 0;; ++attempt) {
    r = HttpGet(url, options);
    const bool transient = r.status == 0 || r.status == 429 || r.status >= 500;
    if (!transient || attempt >= options.source.max_retries) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(options.source.retry_base_ms << std::min(attempt, 5)));
  }
  if (r.status != 200) return HubError(r, options, repo, revision);
  Json doc = Json::parse(r.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Corruption(url + ": the Hub's answer is not a JSON object");
  RepoInfo info;
  info.repo = repo;
  info.commit = doc.value("sha", "");
  if (!IsHex(info.commit, 40)) return Corruption(url + ": the answer has no commit hash (\"sha\")");
  info.gated = doc.contains("gated") && !(doc["gated"].is_boolean() && !doc["gated"].get<bool>());
  for (const Json& s : doc.value("siblings", Json::array())) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    RepoFile f;
    f.path = s["rfilename"].get<std::string>();
    if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos) {
      return Corruption(url + ": unsafe file name '" + f.path + "'");
    }
    f.size = s.value("size", uint64_t{0});
    f.blob = s.value("blobId", "");
    if (s.contains("lfs") && s["lfs"].is_object()) {
      f.sha256 = s["lfs"].value("sha256", "");
      f.size = s["lfs"].value("size", f.size);
      f.blob = f.sha256;
    }
    if (!IsHex(f.blob, f.sha256.empty() ? 40 : 64)) return Corruption(url + ": no usable blob id for '" + f.path + "'");
    info.files.push_back(std::move(f));
  }
  return info;
}

Status DownloadRepoFile(const HubOptions& options, const std::string& repo, const std::string& commit,
                        const RepoFile& file, const std::function<void(uint64_t)>& on_bytes) {
  namespace fs = std::filesystem;
  const HubCache cache(options.cache_dir);
  const std::string blob_path = cache.BlobPath(repo, file.blob);
  std::error_code ec;
  fs::create_directories(fs::path(blob_path).parent_path(), ec);
  if (ec) return IoError(fs::path(blob_path).parent_path().string() + ": " + ec.message());
  // One writer per blob across threads, processes and machines sharing the cache.
  RIGLM_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(cache.LockPath(repo, file.blob)));
  struct stat st {};
  if (::stat(blob_path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == file.size) {
    if (on_bytes) on_bytes(file.size);  // someone (maybe Python) already has it
    return cache.LinkSnapshotFile(repo, commit, file.path, file.blob);
  }

  const std::string partial = blob_path + ".incomplete";
  const int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(partial + ": " + std::strerror(errno));
  auto fail = [&](Status s, bool discard) {
    ::close(fd);
    if (discard) ::unlink(partial.c_str());
    return s;
  };
  Digest digest = StartDigest(file);
  // Resume: the bytes an earlier, interrupted run left count once hashed again.
  uint64_t have = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (have > file.size) {
    if (::ftruncate(fd, 0) != 0) return fail(IoError(partial + ": " + std::strerror(errno)), true);
    have = 0;
  }
  std::vector<uint8_t> chunk(std::min<uint64_t>(uint64_t{8} << 20, std::max<uint64_t>(file.size, 1)));
  for (uint64_t at = 0; at < have;) {
    const ssize_t n = ::pread(fd, chunk.data(), std::min<uint64_t>(chunk.size(), have - at), static_cast<off_t>(at));
    if (n <= 0) return fail(IoError(partial + ": " + std::strerror(errno)), true);
    digest.Update(chunk.data(), static_cast<size_t>(n));
    at += static_cast<uint64_t>(n);
  }
  if (::lseek(fd, static_cast<off_t>(have), SEEK_SET) < 0) return fail(IoError(partial + ": " + std::strerror(errno)), false);
  if (on_bytes && have > 0) on_bytes(have);

  if (have < file.size) {
    const std::string url = options.endpoint + "/" + repo + "/resolve/" + commit + "/" + Escape(file.path, true);
    SourceOptions source_options = options.source;
    source_options.bearer_token = options.token;
    Result<std::unique_ptr<ByteSource>> source = OpenHttpSource(url, source_options);
    if (!source.ok()) return fail(source.status(), false);
    if ((*source)->size() != file.size) {
      return fail(Corruption(url + ": the server sends " + std::to_string((*source)->size()) + " bytes, the Hub lists " +
                             std::to_string(file.size)),
                  false);
    }
    for (uint64_t at = have; at < file.size;) {
      if (options.cancel && options.cancel->load()) return fail(Cancelled("download of " + file.path + " interrupted; pull again to resume"), false);
      const size_t n = std::min<uint64_t>(chunk.size(), file.size - at);
      // A failed read keeps what is on disk, so the next pull resumes from there.
      if (Status s = (*source)->ReadAt(at, std::span(chunk.data(), n)); !s.ok()) return fail(s, false);
      if (Status s = WriteAll(fd, chunk.data(), n, partial); !s.ok()) return fail(s, false);
      digest.Update(chunk.data(), n);
      at += n;
      if (on_bytes) on_bytes(n);
    }
  }
  if (::fsync(fd) != 0) return fail(IoError(partial + ": " + std::strerror(errno)), false);
  ::close(fd);
  const std::string got = digest.HexFinal();
  const std::string& want = file.sha256.empty() ? file.blob : file.sha256;
  if (ToLower(got) != ToLower(want)) {
    ::unlink(partial.c_str());
    return Corruption(repo + "/" + file.path + ": the download is corrupt (" + (file.sha256.empty() ? "git id " : "sha256 ") +
                      got + ", the Hub says " + want + "); it was deleted, pull again");
  }
  if (std::rename(partial.c_str(), blob_path.c_str()) != 0) return IoError(blob_path + ": " + std::strerror(errno));
  return cache.LinkSnapshotFile(repo, commit, file.path, file.blob);
}

}  // namespace riglm
