// Base64 for "-bin" metadata values. gRPC sends them unpadded but must accept padded input too.
#pragma once

#include <string>
#include <string_view>

namespace polyrpc {

// Standard alphabet (RFC 4648 section 4); pad=false omits trailing '='.
std::string Base64Encode(std::string_view in, bool pad);

// Accepts padded and unpadded input. Returns false (and leaves *out unspecified) on characters
// outside the alphabet, misplaced '=' or an impossible length.
bool Base64Decode(std::string_view in, std::string* out);

}  // namespace polyrpc
