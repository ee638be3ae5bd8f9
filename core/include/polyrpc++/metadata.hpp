// Metadata: an ordered list of (key, value) pairs, as gRPC carries them in HTTP/2 headers.
// Keys are lowercase; values of keys ending in "-bin" are raw bytes (base64 on the wire, done by
// the core), other values are printable ASCII.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace polyrpc {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// First value of key, or nullptr.
inline const std::string* FindMetadata(const Metadata& md, std::string_view key) {
  for (const auto& kv : md) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

}  // namespace polyrpc
