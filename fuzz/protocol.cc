// fuzz/protocol: the core's pure protocol functions (core/src/protocol), each with the
// properties it promises checked, not only "does not crash". The first byte picks the function;
// the rest is its input.
//   0 base64      decode; what decodes re-encodes (padded and not) and decodes to the same bytes
//   1 percent     decode(encode(x)) == x; encode's output is printable ASCII without a bare '%'
//   2 timeout     parse; a parsed value formats to a timeout that parses to no less, and the
//                 format of any value parses
//   3 deframer    the message deframer fed in pieces (sizes from the next byte) against a
//                 reference reading of the same bytes: same messages, same flags, same errors
//   4 gzip, 5 deflate, 6 identity  decompression with a 64 KiB limit: what decompresses
//                 recompresses and decompresses to the same bytes; the input itself, compressed,
//                 round-trips; "too large" only when the output would exceed the limit
//   7 metadata    key/value rules, and status codes (ParseStatusCode)
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/base64.h"
#include "protocol/compression.h"
#include "protocol/message_framer.h"
#include "protocol/metadata_rules.h"
#include "protocol/percent.h"
#include "protocol/status_mapping.h"
#include "protocol/timeout.h"

namespace polyrpc::fuzz {
namespace {

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                             \
    }                                                                      \
  } while (0)

void Base64(std::string_view in) {
  std::string out;
  if (!Base64Decode(in, &out)) return;
  for (bool pad : {false, true}) {
    std::string again;
    CHECK(Base64Decode(Base64Encode(out, pad), &again));
    CHECK(again == out);
  }
  // Decoding never yields more than 3 bytes per 4 characters.
  CHECK(out.size() <= (in.size() + 3) / 4 * 3);
}

void Percent(std::string_view in) {
  std::string enc = PercentEncode(in);
  for (size_t i = 0; i < enc.size(); ++i) {
    auto c = static_cast<unsigned char>(enc[i]);
    CHECK(c >= 0x20 && c <= 0x7e);
    if (c == '%') CHECK(i + 2 < enc.size() && isxdigit(enc[i + 1]) && isxdigit(enc[i + 2]));
  }
  CHECK(PercentDecode(enc) == in);
  std::string dec = PercentDecode(in);  // lenient: never fails, never grows
  CHECK(dec.size() <= in.size());
}

void Timeout(std::string_view in) {
  int64_t ns = 0;
  if (ParseGrpcTimeout(in, &ns)) {
    CHECK(ns >= 0);
    int64_t back = 0;
    CHECK(ParseGrpcTimeout(FormatGrpcTimeout(ns), &back));
    // Rounded up to a coarser unit if need be: never earlier.
    CHECK(back >= ns);
  }
  if (in.size() >= 8) {
    int64_t v;
    memcpy(&v, in.data(), 8);
    int64_t back = 0;
    std::string s = FormatGrpcTimeout(v);
    CHECK(s.size() >= 2 && s.size() <= 9);
    CHECK(ParseGrpcTimeout(s, &back));
    CHECK(back >= v || back == INT64_MAX || v <= 0);
  }
}

void Deframe(const uint8_t* data, size_t size) {
  if (size < 1) return;
  uint8_t piece = data[0];  // piece sizes: 1 + (piece >> k) for the k-th piece, cycling
  ++data;
  --size;
  const size_t max = 4096;
  // Reference: read prefixes and bodies from the whole buffer at once.
  struct Ref {
    std::string bytes;
    bool compressed;
  };
  std::vector<Ref> want;
  MessageDeframer::Result want_result = MessageDeframer::Result::kOk;
  size_t pos = 0;
  bool partial = false;
  while (pos < size) {
    if (size - pos < 5) {
      partial = true;
      break;
    }
    uint8_t flags = data[pos];
    uint32_t len = (uint32_t{data[pos + 1]} << 24) | (uint32_t{data[pos + 2]} << 16) |
                   (uint32_t{data[pos + 3]} << 8) | data[pos + 4];
    if (flags & ~1u) {
      want_result = MessageDeframer::Result::kBadFlags;
      break;
    }
    if (len > max) {
      want_result = MessageDeframer::Result::kTooLarge;
      break;
    }
    if (size - pos - 5 < len) {
      partial = true;
      break;
    }
    want.push_back({std::string(reinterpret_cast<const char*>(data + pos + 5), len), flags == 1});
    pos += 5 + len;
  }

  MessageDeframer d(max);
  std::vector<MessageDeframer::Message> got;
  MessageDeframer::Result result = MessageDeframer::Result::kOk;
  std::string error;
  size_t off = 0;
  for (int k = 0; off < size; k = (k + 1) % 8) {
    size_t n = std::min<size_t>(size - off, 1 + (piece >> k));
    result = d.Feed(data + off, n, &got, &error);
    off += n;
    if (result != MessageDeframer::Result::kOk) break;
  }
  CHECK(result == want_result);
  CHECK(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].compressed == want[i].compressed);
    CHECK(got[i].payload.size() == want[i].bytes.size());
    CHECK(got[i].payload.empty() ||
          memcmp(got[i].payload.data(), want[i].bytes.data(), want[i].bytes.size()) == 0);
  }
  if (result == MessageDeframer::Result::kOk) {
    CHECK(d.InMiddleOfMessage() == partial);
    d.DropPartial();
    CHECK(!d.InMiddleOfMessage());
  } else {
    CHECK(!error.empty());
    std::string again;
    std::vector<MessageDeframer::Message> more;
    CHECK(d.Feed(data, size, &more, &again) == result && again == error && more.empty());
  }
}

void Decompression(Compression c, const uint8_t* data, size_t size) {
  const size_t max = 64 << 10;
  Slice in = Slice::Copy(data, size);
  Slice out;
  bool too_large = false;
  std::string err;
  bool ok = Decompress(c, in, max, &out, &too_large, &err);
  if (ok) {
    CHECK(out.size() <= max);
    Slice re, back;
    CHECK(Compress(c, out, &re));
    CHECK(Decompress(c, re, max, &back, &too_large, &err));
    CHECK(back.size() == out.size());
    CHECK(out.empty() || memcmp(back.data(), out.data(), out.size()) == 0);
  } else {
    CHECK(!err.empty());
    if (too_large) {
      // It really is larger: with a limit far above the input's expansion it decompresses, or
      // fails for another reason, but never fits in max.
      Slice big;
      bool big_too_large = false;
      std::string big_err;
      if (Decompress(c, in, size_t{64} << 20, &big, &big_too_large, &big_err)) {
        CHECK(big.size() > max);
      }
    }
  }
  // The input as a message: compressed, it must come back whole.
  Slice packed, unpacked;
  CHECK(Compress(c, in, &packed));
  if (size <= max) {
    CHECK(Decompress(c, packed, max, &unpacked, &too_large, &err));
    CHECK(unpacked.size() == size);
    CHECK(size == 0 || memcmp(unpacked.data(), data, size) == 0);
  }
}

void Metadata(std::string_view in) {
  // Key and value split at the first NUL.
  size_t nul = in.find('\0');
  std::string_view key = in.substr(0, nul);
  std::string_view value = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  if (IsValidMetadataKey(key)) {
    for (char c : key) CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.');
    CHECK(!key.empty());
  }
  bool printable = true;
  for (char c : value) printable = printable && c >= 0x20 && c <= 0x7e;
  CHECK(IsValidMetadataValue(value) == printable);
  CHECK(IsBinaryKey(key) == (key.size() >= 4 && key.substr(key.size() - 4) == "-bin"));
  (void)IsReservedHeader(key);
  int code = -1;
  if (ParseStatusCode(key, &code)) {
    CHECK(!key.empty() && code >= 0);
    CHECK(std::to_string(code).size() <= key.size());
  }
}

}  // namespace
}  // namespace polyrpc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polyrpc;
  using namespace polyrpc::fuzz;
  if (size < 1) return 0;
  const uint8_t which = data[0];
  ++data;
  --size;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  switch (which % 8) {
    case 0: Base64(text); break;
    case 1: Percent(text); break;
    case 2: Timeout(text); break;
    case 3: Deframe(data, size); break;
    case 4: Decompression(Compression::kGzip, data, size); break;
    case 5: Decompression(Compression::kDeflate, data, size); break;
    case 6: Decompression(Compression::kIdentity, data, size); break;
    case 7: Metadata(text); break;
  }
  return 0;
}
