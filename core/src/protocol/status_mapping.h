// How transport-level failures become gRPC status codes, for calls that end without a
// grpc-status trailer (gRPC's PROTOCOL-HTTP2.md and http-grpc-status-mapping.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "polyrpc++/status.hpp"

namespace polyrpc {

// The status for a stream reset with RST_STREAM/GOAWAY error code h2_error (RFC 9113 section 7).
StatusCode StatusFromHttp2Error(uint32_t h2_error);

// The status for a response whose HTTP :status is not 200 and carries no grpc-status.
StatusCode StatusFromHttpStatus(int http_status);

// Parses a grpc-status header value: one or more decimal digits, no sign or spaces. Values that
// do not fit in an int fail too. The caller maps codes outside 0..16 to UNKNOWN.
bool ParseStatusCode(std::string_view v, int* out);

}  // namespace polyrpc
