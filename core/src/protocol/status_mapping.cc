#include "protocol/status_mapping.h"

#include <limits>

namespace polyrpc {

StatusCode StatusFromHttp2Error(uint32_t h2_error) {
  switch (h2_error) {
    case 0x0:  // NO_ERROR
    case 0x1:  // PROTOCOL_ERROR
    case 0x2:  // INTERNAL_ERROR
    case 0x3:  // FLOW_CONTROL_ERROR
    case 0x4:  // SETTINGS_TIMEOUT
    case 0x6:  // FRAME_SIZE_ERROR
    case 0x9:  // COMPRESSION_ERROR
    case 0xa:  // CONNECT_ERROR
      return StatusCode::INTERNAL;
    case 0x7:  // REFUSED_STREAM: the server never processed it, so a retry is safe.
      return StatusCode::UNAVAILABLE;
    case 0x8:  // CANCEL
      return StatusCode::CANCELLED;
    case 0xb:  // ENHANCE_YOUR_CALM
      return StatusCode::RESOURCE_EXHAUSTED;
    case 0xc:  // INADEQUATE_SECURITY
      return StatusCode::PERMISSION_DENIED;
    default:  // includes STREAM_CLOSED (0x5) and codes unknown to us
      return StatusCode::INTERNAL;
  }
}

StatusCode StatusFromHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return StatusCode::INTERNAL;
    case 401:
      return StatusCode::UNAUTHENTICATED;
    case 403:
      return StatusCode::PERMISSION_DENIED;
    case 404:
      return StatusCode::UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return StatusCode::UNAVAILABLE;
    default:
      return StatusCode::UNKNOWN;
  }
}

bool ParseStatusCode(std::string_view v, int* out) {
  if (v.empty()) return false;
  int64_t value = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
    if (value > std::numeric_limits<int>::max()) return false;
  }
  *out = static_cast<int>(value);
  return true;
}

}  // namespace polyrpc
