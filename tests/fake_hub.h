// A local stand-in for the Hugging Face Hub, answering the endpoints riglm uses as the real one
// does: /api/models/OWNER/REPO/revision/REV?blobs=true (siblings with blobId, size, lfs.sha256),
// /OWNER/REPO/resolve/REV/PATH (LFS files redirect with 302 to a CDN path, with X-Repo-Commit,
// X-Linked-Etag and X-Linked-Size; small files are served directly with their git id as ETag),
// and X-Error-Code headers (RepoNotFound, GatedRepo, RevisionNotFound) on errors.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fake_http_server.h"

namespace riglm::testing {

std::string Sha256Hex(const std::string& bytes);
std::string GitBlobId(const std::string& bytes);

class FakeHub {
 public:
  struct File {
    std::string content;
    bool lfs = true;
  };
  struct Repo {
    std::string commit;
    std::map<std::string, File> files;
    bool gated = false;  // downloads need the token "hf_good"
  };

  FakeHub();
  std::string endpoint() const { return server_->Url(""); }
  int requests() const { return server_->requests(); }
  void AddRepo(const std::string& id, Repo repo);

  // Faults on the CDN: cut the next `n` transfers after half their bytes; flip one byte.
  void CutNextTransfers(int n) { cuts_left_ = n; }
  void CorruptFile(const std::string& sha256) {
    std::lock_guard<std::mutex> lock(mutex_);
    corrupt_ = sha256;
  }
  // Body bytes the CDN and resolve endpoints have sent, and the Range starts they were asked for.
  uint64_t bytes_served() const { return bytes_served_.load(); }
  std::vector<uint64_t> range_starts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return range_starts_;
  }

 private:
  HttpReply Handle(const HttpRequest& request);
  HttpReply Serve(const std::string& content, const HttpRequest& request, const std::string& etag);

  mutable std::mutex mutex_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, std::string> cdn_;  // sha256 -> content
  std::string corrupt_;
  std::vector<uint64_t> range_starts_;
  std::atomic<int> cuts_left_{0};
  std::atomic<uint64_t> bytes_served_{0};
  std::unique_ptr<FakeHttpServer> server_;
};

}  // namespace riglm::testing
