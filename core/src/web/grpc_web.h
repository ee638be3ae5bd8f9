// gRPC-Web (PROTOCOL-WEB.md) pieces shared by the server's HTTP/2 calls and its HTTP/1.1
// connections: content types, the text mode's base64, the trailers frame, CORS headers.
// Protocol code only: no sockets, no loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace polyrpc::web {

enum class Mode : uint8_t { kNone = 0, kBinary = 1, kText = 2 };

// application/grpc-web, application/grpc-web+proto (binary), application/grpc-web-text,
// application/grpc-web-text+proto (base64); parameters after ';' are ignored, case-insensitive.
// kNone for anything else. *other_subtype is set for grpc-web with a subtype other than proto
// ("+json"), which the server refuses (handlers see protobuf bytes).
Mode ParseContentType(std::string_view content_type, bool* other_subtype);

// The text mode's request body: base64 in chunks that may each end in padding, split anywhere
// by the transport. Feed() decodes what forms whole 4-character quanta and keeps the rest.
class Base64StreamDecoder {
 public:
  // Appends the decoded bytes to *out; false on a character outside the alphabet or misplaced
  // padding (the decoder is then unusable).
  bool Feed(const uint8_t* data, size_t len, std::string* out);
  // True when no partial quantum is left (a complete body).
  bool AtQuantumBoundary() const { return pending_.empty(); }

 private:
  std::string pending_;
};

// base64 (padded) of bytes: one text-mode response chunk.
std::string EncodeText(std::string_view bytes);

// The trailers frame: flag byte 0x80, 4-byte big-endian length, then
// "grpc-status: N\r\n", "grpc-message: M\r\n" (M already percent-encoded; omitted when empty)
// and each trailer as "key: value\r\n" (keys lowercase, as HTTP/2 has them).
std::string TrailersFrame(int code, std::string_view message,
                          const std::vector<std::pair<std::string, std::string>>& trailers);

// CORS: every gRPC-Web response to a request with an Origin carries these.
inline constexpr char kExposeHeaders[] =
    "grpc-status,grpc-message,grpc-status-details-bin,grpc-encoding,grpc-accept-encoding";
inline constexpr char kAllowMethods[] = "POST, OPTIONS";
// What a preflight allows when it does not say (Access-Control-Request-Headers absent).
inline constexpr char kDefaultAllowHeaders[] =
    "content-type,x-grpc-web,x-user-agent,grpc-timeout,grpc-encoding,grpc-accept-encoding";
inline constexpr char kMaxAge[] = "86400";

// Appends kExposeHeaders plus the response metadata keys (",k1,k2") that a browser script may
// read: custom metadata is hidden from it otherwise.
std::string ExposeHeaders(const std::vector<std::pair<std::string, std::string>>& metadata);

// What a server call keeps of gRPC-Web: set from the request headers.
struct CallState {
  Mode mode = Mode::kNone;
  bool other_subtype = false;
  std::string content_type;  // the request's, echoed in the response
  std::string origin;        // the request's Origin (CORS), empty without one
  std::string request_headers;  // Access-Control-Request-Headers of a preflight
  Base64StreamDecoder decoder;  // text mode's request body
};

}  // namespace polyrpc::web
