// Message compression for grpc-encoding: identity, deflate (zlib format) and gzip, as grpc
// implements them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "polyrpc++/slice.hpp"

namespace polyrpc {

enum class Compression { kIdentity, kDeflate, kGzip, kUnknown };

// "identity", "deflate", "gzip"; anything else is kUnknown (the caller answers UNIMPLEMENTED).
Compression ParseCompression(std::string_view name);
// "identity", "deflate", "gzip", "unknown".
const char* CompressionName(Compression c);
// The grpc-accept-encoding value we advertise: "identity,deflate,gzip".
const char* SupportedEncodingsHeader();

// Compresses in into *out. gzip uses zlib windowBits 31, deflate the zlib wrapper (windowBits 15),
// matching grpc's "deflate" (which is zlib, not raw deflate). kIdentity shares in's buffer.
// Returns false for kUnknown or a zlib failure.
bool Compress(Compression c, const Slice& in, Slice* out);

// Decompresses in into *out. Fails (returns false, *err set) on corrupt or truncated input, on
// trailing bytes after the stream, or when the output would exceed max_out bytes; in that last
// case *too_large is true so the caller can answer RESOURCE_EXHAUSTED. Inflates in steps and
// never allocates more than max_out+1 bytes of output, so a small "zip bomb" cannot exhaust
// memory. kIdentity shares in's buffer (still subject to max_out).
bool Decompress(Compression c, const Slice& in, size_t max_out, Slice* out, bool* too_large,
                std::string* err);

}  // namespace polyrpc
