#include "fake_hub.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

namespace riglm::testing {
namespace {

std::string Digest(const EVP_MD* md, const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &n, md, nullptr);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(two, sizeof two, "%02x", out[i]);
    hex += two;
  }
  return hex;
}

HttpReply Error(int status, const std::string& code, const std::string& message) {
  HttpReply r;
  r.status = status;
  r.headers = {{"X-Error-Code", code}, {"X-Error-Message", message}, {"Content-Type", "application/json"}};
  r.body = nlohmann::json{{"error", message}}.dump();
  return r;
}

}  // namespace

std::string Sha256Hex(const std::string& bytes) { return Digest(EVP_sha256(), bytes); }
std::string GitBlobId(const std::string& bytes) {
  return Digest(EVP_sha1(), "blob " + std::to_string(bytes.size()) + std::string(1, '\0') + bytes);
}

FakeHub::FakeHub() {
  server_ = std::make_unique<FakeHttpServer>([this](const HttpRequest& r) { return Handle(r); });
}

void FakeHub::AddRepo(const std::string& id, Repo repo) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [path, file] : repo.files) {
    if (file.lfs) cdn_[Sha256Hex(file.content)] = file.content;
  }
  repos_[id] = std::move(repo);
}

HttpReply FakeHub::Serve(const std::string& content, const HttpRequest& request, const std::string& etag) {
  std::string served = content;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!corrupt_.empty() && Sha256Hex(content) == corrupt_) served[served.size() / 2] ^= 0x20;
    auto range = request.headers.find("range");
    if (range != request.headers.end()) {
      range_starts_.push_back(std::stoull(range->second.substr(range->second.find('=') + 1)));
    }
  }
  HttpReply reply = ServeRange(served, request, etag);
  if (reply.body.size() > 1 && cuts_left_.fetch_sub(1) > 0) {
    reply.cut_after = static_cast<int64_t>(reply.body.size() / 2);
  }
  bytes_served_ += reply.cut_after >= 0 ? reply.cut_after : reply.body.size();
  return reply;
}

HttpReply FakeHub::Handle(const HttpRequest& request) {
  std::string path = request.path;
  std::string query;
  if (const size_t q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  const std::string auth = request.headers.count("authorization") ? request.headers.at("authorization") : "";
  if (!auth.empty() && auth != "Bearer hf_good") return Error(401, "", "Invalid credentials in Authorization header");

  if (path.rfind("/cdn/", 0) == 0) {
    std::string content;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cdn_.find(path.substr(5));
      if (it == cdn_.end()) return Error(404, "", "no such object");
      content = it->second;
    }
    return Serve(content, request, "\"" + path.substr(5) + "\"");
  }
  // /api/models/OWNER/REPO/revision/REV  or  /OWNER/REPO/resolve/REV/PATH
  const bool api = path.rfind("/api/models/", 0) == 0;
  std::string rest = api ? path.substr(12) : path.substr(1);
  const size_t s1 = rest.find('/'), s2 = rest.find('/', s1 + 1);
  if (s1 == std::string::npos || s2 == std::string::npos) return Error(404, "", "bad path");
  const std::string id = rest.substr(0, s2);
  rest = rest.substr(s2 + 1);
  Repo repo;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto repo_it = repos_.find(id);
    if (repo_it == repos_.end()) return Error(401, "RepoNotFound", "Repository not found");
    repo = repo_it->second;
  }
  if (api) {
    if (rest != "revision/main" && rest != "revision/" + repo.commit) return Error(404, "RevisionNotFound", "Invalid rev id");
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& [file_path, file] : repo.files) {
      nlohmann::json s = {{"rfilename", file_path}, {"size", file.content.size()}, {"blobId", GitBlobId(file.content)}};
      if (file.lfs) s["lfs"] = {{"sha256", Sha256Hex(file.content)}, {"size", file.content.size()}, {"pointerSize", 134}};
      siblings.push_back(s);
    }
    HttpReply r;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = nlohmann::json{{"id", id}, {"sha", repo.commit}, {"gated", repo.gated ? nlohmann::json("auto") : nlohmann::json(false)},
                            {"siblings", siblings}}.dump();
    return r;
  }
  if (rest.rfind("resolve/", 0) != 0) return Error(404, "", "bad path");
  rest = rest.substr(8);
  const std::string revision = rest.substr(0, rest.find('/'));
  const std::string file_path = rest.substr(rest.find('/') + 1);
  if (revision != "main" && revision != repo.commit) return Error(404, "RevisionNotFound", "Invalid rev id");
  if (repo.gated && auth != "Bearer hf_good") return Error(403, "GatedRepo", "Access to model " + id + " is restricted");
  auto file_it = repo.files.find(file_path);
  if (file_it == repo.files.end()) return Error(404, "EntryNotFound", "Entry not found");
  const File& file = file_it->second;
  if (!file.lfs) {
    HttpReply r = Serve(file.content, request, "\"" + GitBlobId(file.content) + "\"");
    r.headers.push_back({"X-Repo-Commit", repo.commit});
    return r;
  }
  const std::string sha = Sha256Hex(file.content);
  HttpReply r;
  r.status = 302;
  r.headers = {{"Location", "/cdn/" + sha},
               {"X-Repo-Commit", repo.commit},
               {"X-Linked-Etag", "\"" + sha + "\""},
               {"X-Linked-Size", std::to_string(file.content.size())},
               {"ETag", "\"" + GitBlobId(file.content) + "\""}};
  return r;
}

}  // namespace riglm::testing
