// Telling whether the client of a request that is still being worked on has gone away, for
// handlers that write nothing until the end (non-streaming completions): cpp-httplib 0.11 does
// not hand a handler its socket, so it is found among this process's sockets by the peer's
// address and port, which identify the live connection while its handler runs.
#pragma once

#include <string>

namespace riglm {

// The connected socket whose peer is `address`:`port` (numeric IPv4 or IPv6), or -1.
int FindClientSocket(const std::string& address, int port);

// True when the peer of connected socket `fd` has shut down or reset the connection.
bool PeerHasGone(int fd);

}  // namespace riglm
