// Percent-encoding of grpc-message values (gRPC PROTOCOL-HTTP2.md, "Percent-Encoded").
#pragma once

#include <string>
#include <string_view>

namespace polyrpc {

// Bytes outside 0x20..0x7E, and '%' itself, become %XX with uppercase hex; UTF-8 text is thus
// encoded byte by byte.
std::string PercentEncode(std::string_view in);

// Lenient, as the spec asks of receivers: a '%' not followed by two hex digits is kept literally
// rather than failing the whole status message.
std::string PercentDecode(std::string_view in);

}  // namespace polyrpc
