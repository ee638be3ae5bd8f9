#include "transport/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

namespace polyrpc {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool ParsePort(std::string_view s, int* port, std::string* error) {
  if (s.empty() || s.size() > 5) {
    *error = "invalid port '" + std::string(s) + "'";
    return false;
  }
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      *error = "invalid port '" + std::string(s) + "'";
      return false;
    }
    v = v * 10 + (c - '0');
  }
  if (v > 65535) {
    *error = "port out of range: " + std::string(s);
    return false;
  }
  *port = v;
  return true;
}

// Splits "host:port", "[v6]:port", "[v6]", "host" or an unbracketed IPv6 literal.
bool ParseHostPort(std::string_view hp, ParsedTarget* out, std::string* error) {
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!hp.empty() && hp[0] == '[') {
    size_t close = hp.find(']');
    if (close == std::string_view::npos) {
      *error = "missing ']' in '" + std::string(hp) + "'";
      return false;
    }
    host = hp.substr(1, close - 1);
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        *error = "unexpected text after ']' in '" + std::string(hp) + "'";
        return false;
      }
      port = rest.substr(1);
      has_port = true;
    }
    if (host.empty()) {
      *error = "empty IPv6 address in '" + std::string(hp) + "'";
      return false;
    }
  } else {
    size_t colon = hp.find(':');
    if (colon != std::string_view::npos && hp.find(':', colon + 1) != std::string_view::npos) {
      host = hp;  // unbracketed IPv6 literal: no room for a port
    } else if (colon != std::string_view::npos) {
      host = hp.substr(0, colon);
      port = hp.substr(colon + 1);
      has_port = true;
    } else {
      host = hp;
    }
  }
  if (host.find_first_of("/ \t") != std::string_view::npos) {
    *error = "invalid host '" + std::string(host) + "'";
    return false;
  }
  out->kind = ParsedTarget::kHostPort;
  out->host = std::string(host);
  out->port = 443;
  if (has_port && !ParsePort(port, &out->port, error)) return false;
  bool v6 = out->host.find(':') != std::string::npos;
  out->authority = (v6 ? "[" + out->host + "]" : out->host) + ":" + std::to_string(out->port);
  return true;
}

}  // namespace

bool ParseTarget(std::string_view target, ParsedTarget* out, std::string* error) {
  *out = ParsedTarget();
  if (target.empty()) {
    *error = "empty target";
    return false;
  }
  if (StartsWith(target, "unix:")) {
    std::string_view path = target.substr(5);
    if (StartsWith(path, "//")) {
      // unix:///abs/path; a non-empty authority (unix://host/path) is not allowed.
      path = path.substr(2);
      if (!StartsWith(path, "/")) {
        *error = "unix target must be unix:///absolute/path, got '" + std::string(target) + "'";
        return false;
      }
    }
    if (path.empty()) {
      *error = "empty unix socket path";
      return false;
    }
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      *error = "unix socket path too long";
      return false;
    }
    out->kind = ParsedTarget::kUnix;
    out->path = std::string(path);
    out->authority = "localhost";
    return true;
  }
  if (StartsWith(target, "unix-abstract:")) {
    std::string_view name = target.substr(14);
    if (name.size() + 1 > sizeof(sockaddr_un{}.sun_path)) {
      *error = "unix-abstract name too long";
      return false;
    }
    out->kind = ParsedTarget::kUnixAbstract;
    out->path = std::string(name);
    out->authority = "localhost";
    return true;
  }
  std::string_view hp = target;
  bool literal_required = false;
  if (StartsWith(target, "dns:")) {
    hp = target.substr(4);
    if (StartsWith(hp, "//")) {
      // dns://[authority]/host:port: the DNS server authority is ignored.
      size_t slash = hp.find('/', 2);
      if (slash == std::string_view::npos) {
        *error = "malformed dns target '" + std::string(target) + "'";
        return false;
      }
      hp = hp.substr(slash + 1);
    }
  } else if (StartsWith(target, "ipv4:") || StartsWith(target, "ipv6:")) {
    hp = target.substr(5);
    literal_required = true;
    if (hp.find(',') != std::string_view::npos) {
      *error = "address lists are not supported: '" + std::string(target) + "'";
      return false;
    }
  }
  if (hp.empty()) {
    *error = "missing host in '" + std::string(target) + "'";
    return false;
  }
  if (!ParseHostPort(hp, out, error)) return false;
  if (literal_required) {
    unsigned char buf[16];
    int family = StartsWith(target, "ipv4:") ? AF_INET : AF_INET6;
    if (inet_pton(family, out->host.c_str(), buf) != 1) {
      *error = "'" + out->host + "' is not an " + (family == AF_INET ? "IPv4" : "IPv6") +
               " address";
      return false;
    }
  }
  return true;
}

bool SplitHostPort(std::string_view hp, int default_port, std::string* host, int* port,
                   std::string* error) {
  ParsedTarget t;
  if (hp.empty()) {
    *error = "empty address";
    return false;
  }
  if (!ParseHostPort(hp, &t, error)) return false;
  // ParseHostPort defaults to 443; tell an explicit ":443" from none.
  bool has_port = hp.back() != ']' && hp.rfind(':') != std::string_view::npos &&
                  (hp[0] == '[' || hp.find(':') == hp.rfind(':'));
  *host = t.host;
  *port = has_port ? t.port : default_port;
  return true;
}

bool MakeIpAddress(const std::string& host, int port, ResolvedAddress* out) {
  *out = ResolvedAddress();
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    out->len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    out->len = sizeof(sockaddr_in6);
  } else {
    return false;
  }
  out->name = SockaddrToPeer(out->sa(), out->len);
  return true;
}

bool ParseResolvedAddress(std::string_view s, ResolvedAddress* out, std::string* error) {
  *out = ResolvedAddress();
  if (StartsWith(s, "unix:") || StartsWith(s, "unix-abstract:")) {
    ParsedTarget t;
    if (!ParseTarget(s, &t, error)) return false;
    auto* un = reinterpret_cast<sockaddr_un*>(&out->storage);
    un->sun_family = AF_UNIX;
    if (t.kind == ParsedTarget::kUnix) {
      std::memcpy(un->sun_path, t.path.data(), t.path.size());
      out->len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + t.path.size() + 1);
      out->name = "unix:" + t.path;
    } else {
      // Abstract namespace: a NUL byte, then the name; the length says where it ends.
      std::memcpy(un->sun_path + 1, t.path.data(), t.path.size());
      out->len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + t.path.size());
      out->name = "unix-abstract:" + t.path;
    }
    return true;
  }
  std::string_view hp = s;
  int family = AF_UNSPEC;
  if (StartsWith(s, "ipv4:")) {
    hp = s.substr(5);
    family = AF_INET;
  } else if (StartsWith(s, "ipv6:")) {
    hp = s.substr(5);
    family = AF_INET6;
  }
  std::string host;
  int port = 0;
  if (!SplitHostPort(hp, 443, &host, &port, error)) return false;
  if (!MakeIpAddress(host, port, out) ||
      (family != AF_UNSPEC && out->sa()->sa_family != family)) {
    *error = "'" + std::string(s) + "' is not an " +
             (family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "IP") + " address";
    return false;
  }
  return true;
}

bool SplitTargetUri(std::string_view target, TargetUri* out) {
  *out = TargetUri();
  size_t colon = target.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(target[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = target[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '.' && c != '-') return false;
  }
  out->scheme = std::string(target.substr(0, colon));
  std::string_view rest = target.substr(colon + 1);
  if (StartsWith(rest, "//")) {
    out->has_authority = true;
    rest = rest.substr(2);
    size_t slash = rest.find('/');
    out->authority = std::string(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  out->endpoint = std::string(rest);
  return true;
}

std::string SockaddrToPeer(const struct sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN] = {0};
  switch (sa->sa_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
      inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
      return std::string("ipv4:") + buf + ":" + std::to_string(ntohs(in->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
      inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      return std::string("ipv6:[") + buf + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
      size_t max = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
      if (max > 0 && un->sun_path[0] == '\0') {
        return "unix-abstract:" + std::string(un->sun_path + 1, max - 1);
      }
      return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, max));
    }
    default:
      return "unknown:";
  }
}

}  // namespace polyrpc
