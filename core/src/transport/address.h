// Target and listen-address parsing, following gRPC's naming rules, plus sockaddr helpers shared
// by the connector and the listener.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace polyrpc {

struct ParsedTarget {
  enum Kind { kHostPort, kUnix };
  Kind kind = kHostPort;
  // Host name or IP literal, IPv6 without brackets. Empty means "all interfaces" (listen
  // addresses such as ":50051").
  std::string host;
  int port = 0;
  // kUnix only: the socket path as given (absolute or relative).
  std::string path;
  // The default HTTP/2 :authority for a channel to this target: "host:port" as written
  // (IPv6 bracketed), "localhost" for Unix sockets.
  std::string authority;
};

// Accepts "host:port", "dns:host:port", "dns:///host:port", "dns://authority/host:port",
// "ipv4:1.2.3.4:80", "ipv6:[::1]:80", "[::1]:80", "localhost:50051", "unix:/abs/path",
// "unix:relative", "unix:///abs/path", and for listening "0.0.0.0:0", "[::]:50051", ":50051".
// A missing port means 443, as in gRPC. Unknown schemes are not special: "foo:1" is the host
// "foo" and port 1 (gRPC, too, falls back to "dns:///" + target). Returns false with *error set
// on malformed input. Pure function, thread-safe.
bool ParseTarget(std::string_view target, ParsedTarget* out, std::string* error);

// Formats a socket address the way gRPC prints peers: "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000", "unix:/path".
std::string SockaddrToPeer(const struct sockaddr* sa, socklen_t len);

}  // namespace polyrpc
