#include "fake_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace riglm::testing {

FakeHttpServer::FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("fake HTTP server: cannot listen");
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeHttpServer::~FakeHttpServer() {
  stop_.store(true);
  acceptor_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::thread& t : connections_) t.join();
}

std::string FakeHttpServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void FakeHttpServer::AcceptLoop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

namespace {

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

}  // namespace

void FakeHttpServer::Serve(int fd) {
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    head.append(buffer, static_cast<size_t>(n));
  }
  HttpRequest request;
  size_t line_end = head.find("\r\n");
  if (line_end != std::string::npos) {
    const std::string line = head.substr(0, line_end);
    const size_t a = line.find(' '), b = line.rfind(' ');
    request.method = line.substr(0, a);
    request.path = a != std::string::npos && b > a ? line.substr(a + 1, b - a - 1) : "";
    size_t pos = line_end + 2;
    while (pos < head.size()) {
      const size_t end = head.find("\r\n", pos);
      if (end == std::string::npos || end == pos) break;
      const std::string h = head.substr(pos, end - pos);
      const size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        request.headers[Lower(h.substr(0, colon))] = value;
      }
      pos = end + 2;
    }
    ++requests_;
    const HttpReply reply = handler_(request);
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
    for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
    const int64_t length = reply.declared_length >= 0 ? reply.declared_length : static_cast<int64_t>(reply.body.size());
    out += "Content-Length: " + std::to_string(length) + "\r\nConnection: close\r\n\r\n";
    if (request.method != "HEAD") {
      const size_t body = reply.cut_after >= 0 ? std::min<size_t>(reply.body.size(), reply.cut_after) : reply.body.size();
      out.append(reply.body, 0, body);
    }
    SendAll(fd, out.data(), out.size());
  }
  shutdown(fd, SHUT_RDWR);
  close(fd);
}

HttpReply ServeRange(const std::string& content, const HttpRequest& request, const std::string& etag) {
  HttpReply reply;
  reply.headers = {{"ETag", etag}, {"Accept-Ranges", "bytes"}};
  auto it = request.headers.find("range");
  if (it == request.headers.end()) {
    reply.body = content;
    return reply;
  }
  const std::string& range = it->second;  // bytes=a-b
  const size_t eq = range.find('='), dash = range.find('-');
  const uint64_t first = std::stoull(range.substr(eq + 1, dash - eq - 1));
  uint64_t last = dash + 1 < range.size() ? std::stoull(range.substr(dash + 1)) : content.size() - 1;
  if (first >= content.size()) {
    reply.status = 416;
    return reply;
  }
  last = std::min<uint64_t>(last, content.size() - 1);
  reply.status = 206;
  reply.body = content.substr(first, last - first + 1);
  reply.headers.push_back({"Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
                                                std::to_string(content.size())});
  return reply;
}

}  // namespace riglm::testing
