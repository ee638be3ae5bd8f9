// Which header names and values may travel as gRPC custom metadata (PROTOCOL-HTTP2.md,
// "Custom-Metadata"), and which names the transport owns.
#pragma once

#include <string_view>

namespace polyrpc {

// Non-empty, only [0-9a-z_.-]: HTTP/2 requires lowercase names, and gRPC narrows the rest.
bool IsValidMetadataKey(std::string_view k);

// Printable ASCII 0x20..0x7E; applies to keys that do not end in "-bin" (those carry any bytes,
// base64-encoded on the wire).
bool IsValidMetadataValue(std::string_view v);

// True for keys ending in "-bin".
bool IsBinaryKey(std::string_view k);

// Pseudo-headers, HTTP/2 connection headers and the grpc-* headers the transport sets itself.
// Applications may not send these as metadata and receivers do not surface them. user-agent is
// deliberately absent: gRPC exposes it as ordinary metadata.
bool IsReservedHeader(std::string_view k);

}  // namespace polyrpc
