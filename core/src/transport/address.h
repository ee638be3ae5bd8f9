// Target and listen-address parsing, following gRPC's naming rules, plus sockaddr helpers shared
// by the connector and the listener.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace polyrpc {

struct ParsedTarget {
  enum Kind { kHostPort, kUnix, kUnixAbstract };
  Kind kind = kHostPort;
  // Host name or IP literal, IPv6 without brackets. Empty means "all interfaces" (listen
  // addresses such as ":50051").
  std::string host;
  int port = 0;
  // kUnix: the socket path as given (absolute or relative); kUnixAbstract: the name in the
  // abstract namespace (without the leading NUL byte).
  std::string path;
  // The default HTTP/2 :authority for a channel to this target: "host:port" as written
  // (IPv6 bracketed), "localhost" for Unix sockets.
  std::string authority;
};

// Accepts "host:port", "dns:host:port", "dns:///host:port", "dns://authority/host:port",
// "ipv4:1.2.3.4:80", "ipv6:[::1]:80", "[::1]:80", "localhost:50051", "unix:/abs/path",
// "unix:relative", "unix:///abs/path", "unix-abstract:name", and for listening "0.0.0.0:0",
// "[::]:50051", ":50051". One address: channels parse address lists with ParseTargetUri.
// A missing port means 443, as in gRPC. Unknown schemes are not special: "foo:1" is the host
// "foo" and port 1 (gRPC, too, falls back to "dns:///" + target). Returns false with *error set
// on malformed input. Pure function, thread-safe.
bool ParseTarget(std::string_view target, ParsedTarget* out, std::string* error);

// One address a channel can connect to, and its name as gRPC prints peers.
struct ResolvedAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string name;  // "ipv4:127.0.0.1:50051", "ipv6:[::1]:50051", "unix:/path", ...
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// An address in one of gRPC's URI forms: "ipv4:1.2.3.4:80", "ipv6:[::1]:80", "unix:/path",
// "unix:///path", "unix-abstract:name", or a bare IP literal with its port ("1.2.3.4:80",
// "[::1]:80"; a missing port means 443). No name lookup. Pure function, thread-safe.
bool ParseResolvedAddress(std::string_view s, ResolvedAddress* out, std::string* error);
// The sockaddr form of an IP literal (no brackets) and port; false if host is not one.
bool MakeIpAddress(const std::string& host, int port, ResolvedAddress* out);

// A channel target split the way gRPC's naming document does: scheme:[//authority/]endpoint.
// "localhost:50051" has the scheme "localhost" here; the channel decides what an unknown
// scheme means (gRPC: the whole target is then a DNS name, "dns:///" + target).
struct TargetUri {
  std::string scheme;
  std::string authority;  // between "//" and the next "/", if there was "//"
  bool has_authority = false;
  std::string endpoint;   // the rest, without the "/" that ends the authority
};
// False if target does not start with a URI scheme ([A-Za-z][A-Za-z0-9+.-]*:).
bool SplitTargetUri(std::string_view target, TargetUri* out);
// "host:port" or "[v6]:port" (or no port: default_port) split into host and port. Pure.
bool SplitHostPort(std::string_view hp, int default_port, std::string* host, int* port,
                   std::string* error);

// Formats a socket address the way gRPC prints peers: "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000", "unix:/path".
std::string SockaddrToPeer(const struct sockaddr* sa, socklen_t len);

}  // namespace polyrpc
