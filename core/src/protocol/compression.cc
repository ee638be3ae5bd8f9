#include "protocol/compression.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace polyrpc {
namespace {

constexpr int kZlibWindowBits = 15;
constexpr int kGzipWindowBits = 15 + 16;  // +16 asks zlib for the gzip wrapper

// zlib counts in uInt; feed it in pieces no larger than that.
constexpr size_t kMaxZlibChunk = std::numeric_limits<uInt>::max();

}  // namespace

Compression ParseCompression(std::string_view name) {
  if (name == "identity") return Compression::kIdentity;
  if (name == "deflate") return Compression::kDeflate;
  if (name == "gzip") return Compression::kGzip;
  return Compression::kUnknown;
}

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kIdentity:
      return "identity";
    case Compression::kDeflate:
      return "deflate";
    case Compression::kGzip:
      return "gzip";
    default:
      return "unknown";
  }
}

const char* SupportedEncodingsHeader() { return "identity,deflate,gzip"; }

bool Compress(Compression c, const Slice& in, Slice* out) {
  if (c == Compression::kIdentity) {
    *out = in;
    return true;
  }
  if (c != Compression::kDeflate && c != Compression::kGzip) return false;
  z_stream zs{};
  int window = c == Compression::kGzip ? kGzipWindowBits : kZlibWindowBits;
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return false;
  }
  // deflateBound covers the zlib wrapper; gzip's header/trailer is larger, hence the slack.
  size_t cap = deflateBound(&zs, static_cast<uLong>(in.size())) + 32;
  std::string buf(cap, '\0');
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.next_out = reinterpret_cast<Bytef*>(buf.data());
  size_t in_left = in.size();
  size_t out_left = cap;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (zs.avail_in == 0) {
      zs.avail_in = static_cast<uInt>(std::min(in_left, kMaxZlibChunk));
      in_left -= zs.avail_in;
    }
    if (zs.avail_out == 0) {
      if (out_left == 0) break;  // cannot happen given deflateBound; fail below rather than loop
      zs.avail_out = static_cast<uInt>(std::min(out_left, kMaxZlibChunk));
      out_left -= zs.avail_out;
    }
    rc = deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
  }
  size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return false;
  buf.resize(produced);
  *out = Slice::FromString(std::move(buf));
  return true;
}

bool Decompress(Compression c, const Slice& in, size_t max_out, Slice* out, bool* too_large,
                std::string* err) {
  *too_large = false;
  if (c == Compression::kIdentity) {
    if (in.size() > max_out) {
      *too_large = true;
      *err = "decompressed message larger than max (" + std::to_string(in.size()) + " vs. " +
             std::to_string(max_out) + ")";
      return false;
    }
    *out = in;
    return true;
  }
  if (c != Compression::kDeflate && c != Compression::kGzip) {
    *err = "unsupported compression";
    return false;
  }
  z_stream zs{};
  int window = c == Compression::kGzip ? kGzipWindowBits : kZlibWindowBits;
  if (inflateInit2(&zs, window) != Z_OK) {
    *err = "inflateInit2 failed";
    return false;
  }
  // One byte beyond max_out lets us tell "exactly max_out" from "more than max_out" without
  // holding more than that. Grow geometrically from a guess based on the input.
  const size_t limit = max_out == std::numeric_limits<size_t>::max() ? max_out : max_out + 1;
  // The buffer is a Slice so the result needs no final copy, and grown by hand because
  // std::string may round a resize up past the limit.
  size_t cap = std::min(limit, std::max<size_t>(4096, in.size() * 4));
  uint8_t* buf = nullptr;
  Slice buf_slice = Slice::Allocate(cap, &buf);
  size_t produced = 0;
  const uint8_t* in_next = in.data();
  size_t in_left = in.size();
  int rc = Z_OK;
  bool ok = false;
  for (;;) {
    if (produced == cap) {
      if (cap >= limit) {
        *too_large = true;
        break;
      }
      size_t new_cap = cap > limit / 2 ? limit : cap * 2;
      uint8_t* new_buf = nullptr;
      Slice new_slice = Slice::Allocate(new_cap, &new_buf);
      std::memcpy(new_buf, buf, produced);
      buf = new_buf;
      buf_slice = std::move(new_slice);
      cap = new_cap;
    }
    zs.next_in = const_cast<Bytef*>(in_next);
    zs.avail_in = static_cast<uInt>(std::min(in_left, kMaxZlibChunk));
    zs.next_out = buf + produced;
    zs.avail_out = static_cast<uInt>(std::min(cap - produced, kMaxZlibChunk));
    uInt avail_in_before = zs.avail_in;
    uInt avail_out_before = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    size_t consumed = avail_in_before - zs.avail_in;
    in_next += consumed;
    in_left -= consumed;
    produced += avail_out_before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (in_left != 0) {
        *err = "trailing data after compressed message";
      } else {
        ok = true;
      }
      break;
    }
    if (rc == Z_BUF_ERROR && in_left == 0 && produced < cap) {
      *err = "truncated compressed message";
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      *err = std::string("corrupt compressed message: ") + (zs.msg ? zs.msg : "zlib error");
      break;
    }
    if (rc == Z_OK && in_left == 0 && produced < cap && consumed == 0 &&
        avail_out_before == zs.avail_out) {
      // No progress possible: the stream wants more input that will never come.
      *err = "truncated compressed message";
      break;
    }
  }
  inflateEnd(&zs);
  if (ok && produced > max_out) {
    // The stream ended in the one spare byte.
    ok = false;
    *too_large = true;
  }
  if (*too_large) {
    *err = "decompressed message larger than max (> " + std::to_string(max_out) + ")";
  }
  if (!ok) return false;
  *out = produced == 0 ? Slice() : buf_slice.Sub(0, produced);
  return true;
}

}  // namespace polyrpc
