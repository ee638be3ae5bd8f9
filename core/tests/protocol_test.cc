// Unit tests for the pure gRPC wire-protocol pieces in core/src/protocol.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "polyrpc++/status.hpp"
#include "protocol/base64.h"
#include "protocol/compression.h"
#include "protocol/message_framer.h"
#include "protocol/metadata_rules.h"
#include "protocol/percent.h"
#include "protocol/status_mapping.h"
#include "protocol/timeout.h"

namespace polyrpc {
namespace {

// ---------------------------------------------------------------------------------------------
// Base64

TEST(ProtocolBase64, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode("", true), "");
  EXPECT_EQ(Base64Encode("f", true), "Zg==");
  EXPECT_EQ(Base64Encode("fo", true), "Zm8=");
  EXPECT_EQ(Base64Encode("foo", true), "Zm9v");
  EXPECT_EQ(Base64Encode("foob", true), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba", true), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar", true), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("f", false), "Zg");
  EXPECT_EQ(Base64Encode("fo", false), "Zm8");
  EXPECT_EQ(Base64Encode("foobar", false), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff\xbf", 3), true), "+/+/");
}

TEST(ProtocolBase64, DecodesPaddedAndUnpadded) {
  std::string out;
  ASSERT_TRUE(Base64Decode("Zm9vYg==", &out));
  EXPECT_EQ(out, "foob");
  ASSERT_TRUE(Base64Decode("Zm9vYg", &out));
  EXPECT_EQ(out, "foob");
  ASSERT_TRUE(Base64Decode("Zm9vYmE=", &out));
  EXPECT_EQ(out, "fooba");
  ASSERT_TRUE(Base64Decode("Zm9vYmE", &out));
  EXPECT_EQ(out, "fooba");
  ASSERT_TRUE(Base64Decode("", &out));
  EXPECT_EQ(out, "");
}

TEST(ProtocolBase64, RoundTripsAllByteValuesAndLengths) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 1) {
    std::string in = all.substr(0, n);
    for (bool pad : {true, false}) {
      std::string out;
      ASSERT_TRUE(Base64Decode(Base64Encode(in, pad), &out)) << n << " pad=" << pad;
      ASSERT_EQ(out, in) << n << " pad=" << pad;
    }
  }
}

TEST(ProtocolBase64, RejectsInvalidInput) {
  std::string out;
  EXPECT_FALSE(Base64Decode("Zm9v!", &out));      // bad char
  EXPECT_FALSE(Base64Decode("Zm 9v", &out));      // whitespace is not tolerated
  EXPECT_FALSE(Base64Decode("Z", &out));          // impossible length
  EXPECT_FALSE(Base64Decode("Zm9vY", &out));      // 5 chars: impossible length
  EXPECT_FALSE(Base64Decode("Zg=", &out));        // padded but not 4-aligned
  EXPECT_FALSE(Base64Decode("Z===", &out));       // too much padding
  EXPECT_FALSE(Base64Decode("Zg==Zg==", &out));   // padding in the middle
  EXPECT_FALSE(Base64Decode("Zm9v-_", &out));     // URL-safe alphabet is not ours
}

// ---------------------------------------------------------------------------------------------
// Percent encoding (grpc-message)

TEST(ProtocolPercent, EncodesPerGrpcSpec) {
  EXPECT_EQ(PercentEncode("hello world ~!"), "hello world ~!");
  EXPECT_EQ(PercentEncode("100%"), "100%25");
  EXPECT_EQ(PercentEncode("a\nb\tc"), "a%0Ab%09c");
  EXPECT_EQ(PercentEncode(std::string("\x00\x7f", 2)), "%00%7F");
  // UTF-8 "héllo ☺" is encoded byte by byte with uppercase hex.
  EXPECT_EQ(PercentEncode("h\xc3\xa9llo \xe2\x98\xba"), "h%C3%A9llo %E2%98%BA");
}

TEST(ProtocolPercent, DecodesAndRoundTrips) {
  EXPECT_EQ(PercentDecode("h%C3%A9llo"), "h\xc3\xa9llo");
  EXPECT_EQ(PercentDecode("h%c3%a9llo"), "h\xc3\xa9llo");  // lowercase hex accepted
  EXPECT_EQ(PercentDecode("100%25"), "100%");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(PercentDecode(PercentEncode(all)), all);
}

TEST(ProtocolPercent, KeepsInvalidSequencesLiterally) {
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%4"), "%4");
  EXPECT_EQ(PercentDecode("%zz ok"), "%zz ok");
  EXPECT_EQ(PercentDecode("%%41"), "%A");
  EXPECT_EQ(PercentDecode("a%4g"), "a%4g");
}

// ---------------------------------------------------------------------------------------------
// grpc-timeout

TEST(ProtocolTimeout, ParsesEveryUnit) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseGrpcTimeout("1H", &ns));
  EXPECT_EQ(ns, int64_t{3600} * 1000000000);
  ASSERT_TRUE(ParseGrpcTimeout("2M", &ns));
  EXPECT_EQ(ns, int64_t{120} * 1000000000);
  ASSERT_TRUE(ParseGrpcTimeout("3S", &ns));
  EXPECT_EQ(ns, int64_t{3} * 1000000000);
  ASSERT_TRUE(ParseGrpcTimeout("4m", &ns));
  EXPECT_EQ(ns, 4000000);
  ASSERT_TRUE(ParseGrpcTimeout("5u", &ns));
  EXPECT_EQ(ns, 5000);
  ASSERT_TRUE(ParseGrpcTimeout("6n", &ns));
  EXPECT_EQ(ns, 6);
  ASSERT_TRUE(ParseGrpcTimeout("0n", &ns));
  EXPECT_EQ(ns, 0);
  ASSERT_TRUE(ParseGrpcTimeout("99999999S", &ns));
  EXPECT_EQ(ns, int64_t{99999999} * 1000000000);
  ASSERT_TRUE(ParseGrpcTimeout("00000012m", &ns));
  EXPECT_EQ(ns, 12000000);
}

TEST(ProtocolTimeout, SaturatesHugeValues) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseGrpcTimeout("99999999H", &ns));
  EXPECT_EQ(ns, std::numeric_limits<int64_t>::max());
}

TEST(ProtocolTimeout, RejectsMalformed) {
  int64_t ns = 0;
  EXPECT_FALSE(ParseGrpcTimeout("", &ns));
  EXPECT_FALSE(ParseGrpcTimeout("S", &ns));           // no digits
  EXPECT_FALSE(ParseGrpcTimeout("10", &ns));          // no unit
  EXPECT_FALSE(ParseGrpcTimeout("123456789S", &ns));  // 9 digits
  EXPECT_FALSE(ParseGrpcTimeout("-1S", &ns));
  EXPECT_FALSE(ParseGrpcTimeout("+1S", &ns));
  EXPECT_FALSE(ParseGrpcTimeout("1s", &ns));          // unit letters are case-sensitive
  EXPECT_FALSE(ParseGrpcTimeout("1h", &ns));
  EXPECT_FALSE(ParseGrpcTimeout("1 S", &ns));
  EXPECT_FALSE(ParseGrpcTimeout("1.5S", &ns));
  EXPECT_FALSE(ParseGrpcTimeout("1X", &ns));
}

TEST(ProtocolTimeout, FormatsFinestUnitRoundingUp) {
  EXPECT_EQ(FormatGrpcTimeout(0), "1n");
  EXPECT_EQ(FormatGrpcTimeout(-5), "1n");
  EXPECT_EQ(FormatGrpcTimeout(1), "1n");
  EXPECT_EQ(FormatGrpcTimeout(99999999), "99999999n");
  EXPECT_EQ(FormatGrpcTimeout(100000000), "100000u");
  EXPECT_EQ(FormatGrpcTimeout(100000001), "100001u");  // rounded up, never down
  EXPECT_EQ(FormatGrpcTimeout(int64_t{99999999} * 1000), "99999999u");
  EXPECT_EQ(FormatGrpcTimeout(int64_t{99999999} * 1000 + 1), "100000m");
  EXPECT_EQ(FormatGrpcTimeout(int64_t{3600} * 1000000000), "3600000m");
  EXPECT_EQ(FormatGrpcTimeout(int64_t{200000} * 1000000000), "200000S");
  EXPECT_EQ(FormatGrpcTimeout(int64_t{100000000} * 1000000000), "1666667M");
  EXPECT_EQ(FormatGrpcTimeout(std::numeric_limits<int64_t>::max()), "2562048H");
}

TEST(ProtocolTimeout, FormatThenParseNeverShortens) {
  for (int64_t ns : {int64_t{1}, int64_t{999}, int64_t{123456789}, int64_t{987654321012},
                     int64_t{5} * 3600 * 1000000000 + 7}) {
    std::string s = FormatGrpcTimeout(ns);
    EXPECT_LE(s.size(), 9u) << s;
    int64_t back = 0;
    ASSERT_TRUE(ParseGrpcTimeout(s, &back)) << s;
    EXPECT_GE(back, ns) << s;
  }
}

// ---------------------------------------------------------------------------------------------
// Status mapping and names

TEST(ProtocolStatusMapping, Http2ErrorCodes) {
  EXPECT_EQ(StatusFromHttp2Error(0x0), StatusCode::INTERNAL);  // NO_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0x1), StatusCode::INTERNAL);  // PROTOCOL_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0x2), StatusCode::INTERNAL);  // INTERNAL_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0x3), StatusCode::INTERNAL);  // FLOW_CONTROL_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0x4), StatusCode::INTERNAL);  // SETTINGS_TIMEOUT
  EXPECT_EQ(StatusFromHttp2Error(0x6), StatusCode::INTERNAL);  // FRAME_SIZE_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0x7), StatusCode::UNAVAILABLE);         // REFUSED_STREAM
  EXPECT_EQ(StatusFromHttp2Error(0x8), StatusCode::CANCELLED);           // CANCEL
  EXPECT_EQ(StatusFromHttp2Error(0x9), StatusCode::INTERNAL);            // COMPRESSION_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0xa), StatusCode::INTERNAL);            // CONNECT_ERROR
  EXPECT_EQ(StatusFromHttp2Error(0xb), StatusCode::RESOURCE_EXHAUSTED);  // ENHANCE_YOUR_CALM
  EXPECT_EQ(StatusFromHttp2Error(0xc), StatusCode::PERMISSION_DENIED);   // INADEQUATE_SECURITY
  EXPECT_EQ(StatusFromHttp2Error(0x5), StatusCode::INTERNAL);  // STREAM_CLOSED
  EXPECT_EQ(StatusFromHttp2Error(0xff), StatusCode::INTERNAL);
}

TEST(ProtocolStatusMapping, HttpStatusCodes) {
  EXPECT_EQ(StatusFromHttpStatus(400), StatusCode::INTERNAL);
  EXPECT_EQ(StatusFromHttpStatus(401), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(StatusFromHttpStatus(403), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(StatusFromHttpStatus(404), StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(StatusFromHttpStatus(429), StatusCode::UNAVAILABLE);
  EXPECT_EQ(StatusFromHttpStatus(502), StatusCode::UNAVAILABLE);
  EXPECT_EQ(StatusFromHttpStatus(503), StatusCode::UNAVAILABLE);
  EXPECT_EQ(StatusFromHttpStatus(504), StatusCode::UNAVAILABLE);
  EXPECT_EQ(StatusFromHttpStatus(500), StatusCode::UNKNOWN);
  EXPECT_EQ(StatusFromHttpStatus(302), StatusCode::UNKNOWN);
  EXPECT_EQ(StatusFromHttpStatus(200), StatusCode::UNKNOWN);
}

TEST(ProtocolStatusMapping, ParsesGrpcStatusHeader) {
  int code = -1;
  ASSERT_TRUE(ParseStatusCode("0", &code));
  EXPECT_EQ(code, 0);
  ASSERT_TRUE(ParseStatusCode("16", &code));
  EXPECT_EQ(code, 16);
  ASSERT_TRUE(ParseStatusCode("200", &code));  // out of range codes parse; caller maps to UNKNOWN
  EXPECT_EQ(code, 200);
  EXPECT_FALSE(ParseStatusCode("", &code));
  EXPECT_FALSE(ParseStatusCode("-1", &code));
  EXPECT_FALSE(ParseStatusCode("+1", &code));
  EXPECT_FALSE(ParseStatusCode(" 1", &code));
  EXPECT_FALSE(ParseStatusCode("1a", &code));
  EXPECT_FALSE(ParseStatusCode("99999999999999999999", &code));
}

TEST(ProtocolStatus, NamesAndToString) {
  EXPECT_STREQ(StatusCodeName(StatusCode::OK), "OK");
  EXPECT_STREQ(StatusCodeName(StatusCode::CANCELLED), "CANCELLED");
  EXPECT_STREQ(StatusCodeName(StatusCode::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  EXPECT_STREQ(StatusCodeName(StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(StatusCodeName(StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_STREQ(StatusCodeName(static_cast<StatusCode>(17)), "UNKNOWN");
  EXPECT_STREQ(StatusCodeName(static_cast<StatusCode>(-1)), "UNKNOWN");
  EXPECT_EQ(Status().ToString(), "OK");
  EXPECT_EQ(Status(StatusCode::NOT_FOUND, "no such thing").ToString(), "NOT_FOUND: no such thing");
  EXPECT_EQ(Status(StatusCode::INTERNAL, "").ToString(), "INTERNAL");
}

// ---------------------------------------------------------------------------------------------
// Metadata rules

TEST(ProtocolMetadata, KeyValidation) {
  EXPECT_TRUE(IsValidMetadataKey("x-custom"));
  EXPECT_TRUE(IsValidMetadataKey("a.b_c-0"));
  EXPECT_TRUE(IsValidMetadataKey("trace-bin"));
  EXPECT_FALSE(IsValidMetadataKey(""));
  EXPECT_FALSE(IsValidMetadataKey("X-Custom"));  // uppercase not allowed in HTTP/2
  EXPECT_FALSE(IsValidMetadataKey("a b"));
  EXPECT_FALSE(IsValidMetadataKey("a:b"));
  EXPECT_FALSE(IsValidMetadataKey("caf\xc3\xa9"));
}

TEST(ProtocolMetadata, ValueValidation) {
  EXPECT_TRUE(IsValidMetadataValue(""));
  EXPECT_TRUE(IsValidMetadataValue("hello world ~"));
  EXPECT_FALSE(IsValidMetadataValue("a\nb"));
  EXPECT_FALSE(IsValidMetadataValue("tab\t"));
  EXPECT_FALSE(IsValidMetadataValue("\x7f"));
  EXPECT_FALSE(IsValidMetadataValue("caf\xc3\xa9"));
}

TEST(ProtocolMetadata, BinaryAndReservedKeys) {
  EXPECT_TRUE(IsBinaryKey("trace-bin"));
  EXPECT_TRUE(IsBinaryKey("-bin"));
  EXPECT_FALSE(IsBinaryKey("bin"));
  EXPECT_FALSE(IsBinaryKey("trace-bin-x"));
  EXPECT_FALSE(IsBinaryKey("tracebin"));

  for (const char* k : {":path", ":authority", ":status", "content-type", "te", "host",
                        "connection", "grpc-status", "grpc-message", "grpc-timeout",
                        "grpc-encoding", "grpc-accept-encoding", "grpc-previous-rpc-attempts",
                        "grpc-retry-pushback-ms", "transfer-encoding", "upgrade", "keep-alive",
                        "proxy-connection"}) {
    EXPECT_TRUE(IsReservedHeader(k)) << k;
  }
  EXPECT_FALSE(IsReservedHeader("user-agent"));  // visible metadata in gRPC
  EXPECT_FALSE(IsReservedHeader("x-custom"));
  EXPECT_FALSE(IsReservedHeader("grpc-status-details-bin"));
  EXPECT_FALSE(IsReservedHeader("tea"));
  // Same lengths as reserved names, different bytes.
  for (const char* k : {"tx", "hosT", "upgrad3", "connectiom", "grpc-statuz", "content-typo",
                        "grpc-encodinh", "grpc-accept-encodinf", "", "x"}) {
    EXPECT_FALSE(IsReservedHeader(k)) << k;
  }
}

// ---------------------------------------------------------------------------------------------
// Compression

std::string TestPayload() {
  std::string s;
  for (int i = 0; i < 5000; ++i) s += "message " + std::to_string(i % 97) + "; ";
  return s;
}

TEST(ProtocolCompression, Names) {
  EXPECT_EQ(ParseCompression("identity"), Compression::kIdentity);
  EXPECT_EQ(ParseCompression("deflate"), Compression::kDeflate);
  EXPECT_EQ(ParseCompression("gzip"), Compression::kGzip);
  EXPECT_EQ(ParseCompression("snappy"), Compression::kUnknown);
  EXPECT_EQ(ParseCompression("GZIP"), Compression::kUnknown);
  EXPECT_EQ(ParseCompression(""), Compression::kUnknown);
  EXPECT_STREQ(CompressionName(Compression::kIdentity), "identity");
  EXPECT_STREQ(CompressionName(Compression::kDeflate), "deflate");
  EXPECT_STREQ(CompressionName(Compression::kGzip), "gzip");
  EXPECT_STREQ(CompressionName(Compression::kUnknown), "unknown");
  EXPECT_STREQ(SupportedEncodingsHeader(), "identity,deflate,gzip");
}

TEST(ProtocolCompression, GzipRoundTripAndHeader) {
  std::string payload = TestPayload();
  Slice compressed;
  ASSERT_TRUE(Compress(Compression::kGzip, Slice::Copy(payload), &compressed));
  ASSERT_GE(compressed.size(), 18u);
  EXPECT_LT(compressed.size(), payload.size());
  EXPECT_EQ(compressed.data()[0], 0x1f);
  EXPECT_EQ(compressed.data()[1], 0x8b);
  Slice back;
  bool too_large = true;
  std::string err;
  ASSERT_TRUE(Decompress(Compression::kGzip, compressed, payload.size(), &back, &too_large, &err))
      << err;
  EXPECT_FALSE(too_large);
  EXPECT_EQ(back.view(), payload);
}

TEST(ProtocolCompression, DeflateRoundTripAndZlibHeader) {
  std::string payload = TestPayload();
  Slice compressed;
  ASSERT_TRUE(Compress(Compression::kDeflate, Slice::Copy(payload), &compressed));
  ASSERT_GE(compressed.size(), 6u);
  EXPECT_LT(compressed.size(), payload.size());
  // zlib header: CMF 0x78 (deflate, 32K window), and CMF*256+FLG divisible by 31.
  EXPECT_EQ(compressed.data()[0], 0x78);
  EXPECT_EQ((compressed.data()[0] * 256 + compressed.data()[1]) % 31, 0);
  Slice back;
  bool too_large = true;
  std::string err;
  ASSERT_TRUE(Decompress(Compression::kDeflate, compressed, 1 << 20, &back, &too_large, &err))
      << err;
  EXPECT_EQ(back.view(), payload);
}

TEST(ProtocolCompression, EmptyPayloadRoundTrips) {
  for (Compression c : {Compression::kGzip, Compression::kDeflate}) {
    Slice compressed;
    ASSERT_TRUE(Compress(c, Slice(), &compressed));
    EXPECT_FALSE(compressed.empty());
    Slice back = Slice::Copy("junk", 4);
    bool too_large = false;
    std::string err;
    ASSERT_TRUE(Decompress(c, compressed, 0, &back, &too_large, &err)) << err;
    EXPECT_TRUE(back.empty());
  }
}

TEST(ProtocolCompression, IdentityPassesThroughAndUnknownFails) {
  Slice in = Slice::Copy("abc", 3);
  Slice out;
  ASSERT_TRUE(Compress(Compression::kIdentity, in, &out));
  EXPECT_EQ(out.data(), in.data());  // shared, not copied
  EXPECT_FALSE(Compress(Compression::kUnknown, in, &out));
  bool too_large = false;
  std::string err;
  EXPECT_FALSE(Decompress(Compression::kUnknown, in, 100, &out, &too_large, &err));
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(Decompress(Compression::kIdentity, in, 2, &out, &too_large, &err));
  EXPECT_TRUE(too_large);
}

TEST(ProtocolCompression, DecompressEnforcesLimit) {
  std::string zeros(10 * 1024 * 1024, '\0');
  for (Compression c : {Compression::kGzip, Compression::kDeflate}) {
    Slice compressed;
    ASSERT_TRUE(Compress(c, Slice::Copy(zeros), &compressed));
    EXPECT_LT(compressed.size(), 100u * 1024);
    Slice out;
    bool too_large = false;
    std::string err;
    EXPECT_FALSE(Decompress(c, compressed, 1024 * 1024, &out, &too_large, &err));
    EXPECT_TRUE(too_large);
    EXPECT_FALSE(err.empty());
  }
}

TEST(ProtocolCompression, DecompressLimitIsInclusive) {
  std::string payload = TestPayload();
  Slice compressed;
  ASSERT_TRUE(Compress(Compression::kGzip, Slice::Copy(payload), &compressed));
  Slice out;
  bool too_large = false;
  std::string err;
  ASSERT_TRUE(Decompress(Compression::kGzip, compressed, payload.size(), &out, &too_large, &err));
  EXPECT_EQ(out.size(), payload.size());
  EXPECT_FALSE(
      Decompress(Compression::kGzip, compressed, payload.size() - 1, &out, &too_large, &err));
  EXPECT_TRUE(too_large);
}

TEST(ProtocolCompression, DecompressRejectsCorruptTruncatedAndTrailing) {
  std::string payload = TestPayload();
  Slice compressed;
  ASSERT_TRUE(Compress(Compression::kGzip, Slice::Copy(payload), &compressed));
  bool too_large = true;
  std::string err;
  Slice out;

  std::string garbage = "this is not gzip data at all";
  EXPECT_FALSE(Decompress(Compression::kGzip, Slice::Copy(garbage), 1 << 20, &out, &too_large,
                          &err));
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(err.empty());

  err.clear();
  Slice truncated = compressed.Sub(0, compressed.size() / 2);
  EXPECT_FALSE(Decompress(Compression::kGzip, truncated, 1 << 20, &out, &too_large, &err));
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(err.empty());

  err.clear();
  std::string with_trailer = compressed.ToString() + "xx";
  EXPECT_FALSE(Decompress(Compression::kGzip, Slice::Copy(with_trailer), 1 << 20, &out,
                          &too_large, &err));
  EXPECT_FALSE(too_large);
  EXPECT_FALSE(err.empty());

  err.clear();
  EXPECT_FALSE(Decompress(Compression::kGzip, Slice(), 1 << 20, &out, &too_large, &err));
  EXPECT_FALSE(err.empty());

  // gzip data is not valid zlib ("deflate") data.
  err.clear();
  EXPECT_FALSE(Decompress(Compression::kDeflate, compressed, 1 << 20, &out, &too_large, &err));
  EXPECT_FALSE(err.empty());
}

// ---------------------------------------------------------------------------------------------
// Message framing

std::string Frame(bool compressed, std::string_view body) {
  uint8_t prefix[5];
  WriteMessagePrefix(prefix, compressed, static_cast<uint32_t>(body.size()));
  return std::string(reinterpret_cast<char*>(prefix), 5) + std::string(body);
}

const uint8_t* Bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST(ProtocolFramer, WritesPrefix) {
  uint8_t p[5];
  WriteMessagePrefix(p, false, 0x01020304);
  EXPECT_EQ(std::vector<uint8_t>(p, p + 5), (std::vector<uint8_t>{0, 1, 2, 3, 4}));
  WriteMessagePrefix(p, true, 7);
  EXPECT_EQ(std::vector<uint8_t>(p, p + 5), (std::vector<uint8_t>{1, 0, 0, 0, 7}));
}

TEST(ProtocolFramer, SeveralMessagesInOneChunk) {
  std::string wire = Frame(false, "hello") + Frame(true, "zz") + Frame(false, "") +
                     Frame(false, "last one");
  MessageDeframer d(1024);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  ASSERT_EQ(d.Feed(Bytes(wire), wire.size(), &msgs, &err), MessageDeframer::Result::kOk);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].payload.view(), "hello");
  EXPECT_FALSE(msgs[0].compressed);
  EXPECT_EQ(msgs[1].payload.view(), "zz");
  EXPECT_TRUE(msgs[1].compressed);
  EXPECT_TRUE(msgs[2].payload.empty());
  EXPECT_FALSE(msgs[2].compressed);
  EXPECT_EQ(msgs[3].payload.view(), "last one");
  EXPECT_FALSE(d.InMiddleOfMessage());
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

// Messages of 2 MiB and more are reassembled into a mapping aligned for huge pages; the bytes
// and their length are what was sent, whatever the split, and the slices outlive the deframer.
TEST(ProtocolFramer, LargeMessagesGetHugePageAlignedBuffers) {
  std::vector<size_t> sizes = {(size_t{2} << 20) - 1, size_t{2} << 20, (size_t{5} << 20) + 123};
  std::vector<MessageDeframer::Message> msgs;
  std::vector<std::string> bodies;
  {
    MessageDeframer d(size_t{64} << 20);
    std::string err;
    for (size_t n : sizes) {
      std::string body(n, '\0');
      for (size_t i = 0; i < n; ++i) body[i] = static_cast<char>((i * 131 + n) & 0xff);
      std::string wire = Frame(false, body);
      for (size_t off = 0; off < wire.size(); off += 16384) {
        size_t take = std::min<size_t>(16384, wire.size() - off);
        ASSERT_EQ(d.Feed(Bytes(wire) + off, take, &msgs, &err), MessageDeframer::Result::kOk);
      }
      bodies.push_back(std::move(body));
    }
  }
  ASSERT_EQ(msgs.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(msgs[i].payload.size(), sizes[i]);
    EXPECT_TRUE(msgs[i].payload.view() == bodies[i]) << "message " << i << " differs";
  }
  auto addr = [](const Slice& s) { return reinterpret_cast<uintptr_t>(s.data()); };
  EXPECT_EQ(addr(msgs[1].payload) % (size_t{2} << 20), 0u);
  EXPECT_EQ(addr(msgs[2].payload) % (size_t{2} << 20), 0u);
  // A part of a message keeps its mapping alive after the message is dropped.
  Slice part = msgs[2].payload.Sub(sizes[2] - 10, 10);
  msgs.clear();
  EXPECT_EQ(part.view(), std::string_view(bodies[2]).substr(sizes[2] - 10));
}

TEST(ProtocolFramer, MessageSplitByteByByte) {
  std::string body = "a message that arrives one byte at a time";
  std::string wire = Frame(false, body) + Frame(true, "x");
  MessageDeframer d(1024);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  for (size_t i = 0; i < wire.size(); ++i) {
    ASSERT_EQ(d.Feed(Bytes(wire) + i, 1, &msgs, &err), MessageDeframer::Result::kOk);
    if (i < 5 + body.size() - 1) {
      EXPECT_TRUE(msgs.empty()) << i;
      EXPECT_TRUE(d.InMiddleOfMessage()) << i;
      EXPECT_EQ(d.buffered_bytes(), i < 4 ? i + 1 : i + 1 - 5) << i;
    }
  }
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].payload.view(), body);
  EXPECT_EQ(msgs[1].payload.view(), "x");
  EXPECT_TRUE(msgs[1].compressed);
  EXPECT_FALSE(d.InMiddleOfMessage());
}

TEST(ProtocolFramer, ZeroLengthMessageAndEmptyFeed) {
  MessageDeframer d(0);  // a zero-byte message fits even a zero limit
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  ASSERT_EQ(d.Feed(nullptr, 0, &msgs, &err), MessageDeframer::Result::kOk);
  EXPECT_TRUE(msgs.empty());
  std::string wire = Frame(false, "");
  ASSERT_EQ(d.Feed(Bytes(wire), wire.size(), &msgs, &err), MessageDeframer::Result::kOk);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_TRUE(msgs[0].payload.empty());
  EXPECT_FALSE(d.InMiddleOfMessage());
}

TEST(ProtocolFramer, PayloadOwnsItsBytes) {
  std::string wire = Frame(false, "owned");
  MessageDeframer d(1024);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  ASSERT_EQ(d.Feed(Bytes(wire), wire.size(), &msgs, &err), MessageDeframer::Result::kOk);
  wire.assign(wire.size(), 'X');  // the caller's buffer was only borrowed
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload.view(), "owned");
}

TEST(ProtocolFramer, TooLargeIsPoisonedWithGrpcText) {
  MessageDeframer d(4194304);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  uint8_t prefix[5];
  WriteMessagePrefix(prefix, false, 5242885);
  // Prefix split across two feeds; the error fires as soon as the length is known.
  ASSERT_EQ(d.Feed(prefix, 2, &msgs, &err), MessageDeframer::Result::kOk);
  EXPECT_TRUE(d.InMiddleOfMessage());
  ASSERT_EQ(d.Feed(prefix + 2, 3, &msgs, &err), MessageDeframer::Result::kTooLarge);
  EXPECT_EQ(err, "Received message larger than max (5242885 vs. 4194304)");
  EXPECT_TRUE(msgs.empty());
  std::string more = Frame(false, "ok");
  err.clear();
  EXPECT_EQ(d.Feed(Bytes(more), more.size(), &msgs, &err), MessageDeframer::Result::kTooLarge);
  EXPECT_EQ(err, "Received message larger than max (5242885 vs. 4194304)");
  EXPECT_TRUE(msgs.empty());
}

TEST(ProtocolFramer, MaxSizeIsInclusiveAndAdjustable) {
  MessageDeframer d(3);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  std::string wire = Frame(false, "abc");
  ASSERT_EQ(d.Feed(Bytes(wire), wire.size(), &msgs, &err), MessageDeframer::Result::kOk);
  ASSERT_EQ(msgs.size(), 1u);
  d.set_max_message_size(2);
  EXPECT_EQ(d.Feed(Bytes(wire), wire.size(), &msgs, &err), MessageDeframer::Result::kTooLarge);
  EXPECT_EQ(err, "Received message larger than max (3 vs. 2)");
}

TEST(ProtocolFramer, BadFlagsArePoisoned) {
  MessageDeframer d(1024);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  std::string good = Frame(false, "fine");
  std::string bad = Frame(false, "bad");
  bad[0] = 0x02;
  std::string wire = good + bad;
  EXPECT_EQ(d.Feed(Bytes(wire), wire.size(), &msgs, &err), MessageDeframer::Result::kBadFlags);
  ASSERT_EQ(msgs.size(), 1u);  // the message before the bad one is still delivered
  EXPECT_EQ(msgs[0].payload.view(), "fine");
  EXPECT_FALSE(err.empty());
  std::string first_err = err;
  err.clear();
  EXPECT_EQ(d.Feed(Bytes(good), good.size(), &msgs, &err), MessageDeframer::Result::kBadFlags);
  EXPECT_EQ(err, first_err);
  EXPECT_EQ(msgs.size(), 1u);
}

TEST(ProtocolFramer, InMiddleOfMessageTracksPartialBody) {
  MessageDeframer d(1024);
  std::vector<MessageDeframer::Message> msgs;
  std::string err;
  std::string wire = Frame(false, "0123456789");
  ASSERT_EQ(d.Feed(Bytes(wire), 5, &msgs, &err), MessageDeframer::Result::kOk);
  EXPECT_TRUE(d.InMiddleOfMessage());  // full prefix, no body yet
  EXPECT_EQ(d.buffered_bytes(), 0u);
  ASSERT_EQ(d.Feed(Bytes(wire) + 5, 4, &msgs, &err), MessageDeframer::Result::kOk);
  EXPECT_TRUE(d.InMiddleOfMessage());
  EXPECT_EQ(d.buffered_bytes(), 4u);
  ASSERT_EQ(d.Feed(Bytes(wire) + 9, wire.size() - 9, &msgs, &err), MessageDeframer::Result::kOk);
  EXPECT_FALSE(d.InMiddleOfMessage());
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload.view(), "0123456789");
}

}  // namespace
}  // namespace polyrpc
