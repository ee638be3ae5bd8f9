// The grpc-timeout header: TimeoutValue (1..8 ASCII digits) followed by a unit
// (H hours, M minutes, S seconds, m millis, u micros, n nanos), per PROTOCOL-HTTP2.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace polyrpc {

// Returns false on anything but 1..8 digits plus a known unit. Values too large for int64
// nanoseconds (e.g. "99999999H") saturate to INT64_MAX, which is "no practical deadline".
bool ParseGrpcTimeout(std::string_view v, int64_t* out_ns);

// Uses the finest unit whose value fits in 8 digits and rounds up, so the peer never sees a
// deadline earlier than ours. ns <= 0 becomes "1n" (already expired, but still a legal value);
// anything beyond 99999999 hours is clamped to "99999999H".
std::string FormatGrpcTimeout(int64_t ns);

}  // namespace polyrpc
