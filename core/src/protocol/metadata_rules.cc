#include "protocol/metadata_rules.h"

namespace polyrpc {

bool IsValidMetadataKey(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidMetadataValue(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7E) return false;
  }
  return true;
}

bool IsBinaryKey(std::string_view k) { return k.size() >= 4 && k.substr(k.size() - 4) == "-bin"; }

bool IsReservedHeader(std::string_view k) {
  static constexpr std::string_view kReserved[] = {
      "content-type",
      "te",
      "host",
      "connection",
      "grpc-status",
      "grpc-message",
      "grpc-timeout",
      "grpc-encoding",
      "grpc-accept-encoding",
      "grpc-previous-rpc-attempts",
      "grpc-retry-pushback-ms",
      "transfer-encoding",
      "upgrade",
      "keep-alive",
      "proxy-connection",
  };
  if (!k.empty() && k[0] == ':') return true;
  for (std::string_view r : kReserved) {
    if (k == r) return true;
  }
  return false;
}

}  // namespace polyrpc
