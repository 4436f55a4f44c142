// A small HTTP/1.1 server for tests, over a raw socket so that tests control every byte: status,
// headers, bodies cut short or dropped mid-way. One thread per connection; each response closes
// its connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace riglm::testing {

struct HttpRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // keys lower-case
};

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t declared_length = -1;  // Content-Length to announce (-1: the body's size)
  int64_t cut_after = -1;        // close the connection after this many body bytes (-1: send all)
};

class FakeHttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;
  explicit FakeHttpServer(Handler handler);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  std::string Url(const std::string& path) const;
  int requests() const { return requests_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
};

// Serves `content` honouring a single "bytes=a-b" Range (206 with Content-Range), with an ETag;
// 200 with everything when there is no Range header.
HttpReply ServeRange(const std::string& content, const HttpRequest& request, const std::string& etag = "\"v1\"");

}  // namespace riglm::testing
