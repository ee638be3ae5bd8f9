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
  if (!k.empty() && k[0] == ':') return true;  // pseudo-headers
  // gRPC's own headers and HTTP/1 connection-level ones, dispatched on the length (one or two
  // comparisons instead of fifteen: this runs for every metadata entry of every call).
  // clang-format off
  switch (k.size()) {
    case 2: return k == "te";
    case 4: return k == "host";
    case 7: return k == "upgrade";
    case 10: return k == "connection" || k == "keep-alive";
    case 11: return k == "grpc-status";
    case 12: return k == "content-type" || k == "grpc-message" || k == "grpc-timeout";
    case 13: return k == "grpc-encoding";
    case 16: return k == "proxy-connection";
    case 17: return k == "transfer-encoding";
    case 20: return k == "grpc-accept-encoding";
    case 22: return k == "grpc-retry-pushback-ms";
    case 26: return k == "grpc-previous-rpc-attempts";
    default: return false;
  }
  // clang-format on
}

}  // namespace polyrpc
