#include "server/client_socket.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace riglm {
namespace {

bool PeerIs(int fd, const std::string& address, int port) {
  sockaddr_storage peer{};
  socklen_t length = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return false;
  if (peer.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
    in_addr want{};
    return ntohs(v4->sin_port) == port && inet_pton(AF_INET, address.c_str(), &want) == 1 &&
           want.s_addr == v4->sin_addr.s_addr;
  }
  if (peer.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    if (ntohs(v6->sin6_port) != port) return false;
    in6_addr want{};
    if (inet_pton(AF_INET6, address.c_str(), &want) == 1) return std::memcmp(&want, &v6->sin6_addr, sizeof(want)) == 0;
    // An IPv4 client of a dual-stack socket appears as ::ffff:a.b.c.d.
    in_addr v4{};
    return inet_pton(AF_INET, address.c_str(), &v4) == 1 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) &&
           std::memcmp(&v4, v6->sin6_addr.s6_addr + 12, 4) == 0;
  }
  return false;
}

}  // namespace

int FindClientSocket(const std::string& address, int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (PeerIs(static_cast<int>(fd), address, port)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool PeerHasGone(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace riglm
