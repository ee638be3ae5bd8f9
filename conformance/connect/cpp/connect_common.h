// What the polyrpc C++ programs under test of the connectrpc conformance suite share: the
// runner's framing on stdin/stdout (a 4-byte big-endian length before each message), the
// conversions between the suite's Header lists and gRPC metadata, and gRPC's error details
// (grpc-status-details-bin, a serialized google.rpc.Status).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "connectrpc/conformance/v1/service.pb.h"
#include "polyrpc++/polyrpc.hpp"
#include "polyrpc++/proto.hpp"
#include "polyrpc_connect/rpc_status.pb.h"

namespace polyrpc::connect {

namespace v1 = ::connectrpc::conformance::v1;

constexpr char kServiceName[] = "connectrpc.conformance.v1.ConformanceService";
constexpr char kStatusDetailsKey[] = "grpc-status-details-bin";

// Reads one length-prefixed message from f; false at end of input (or a short read).
inline bool ReadDelimited(std::FILE* f, std::string* out) {
  unsigned char len[4];
  if (std::fread(len, 1, 4, f) != 4) return false;
  size_t n = (size_t{len[0]} << 24) | (size_t{len[1]} << 16) | (size_t{len[2]} << 8) | len[3];
  out->resize(n);
  return n == 0 || std::fread(out->data(), 1, n, f) == n;
}

// Writes one length-prefixed message to f and flushes it. The caller serialises writers.
inline bool WriteDelimited(std::FILE* f, const std::string& bytes) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  unsigned char len[4] = {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
                          static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
  return std::fwrite(len, 1, 4, f) == 4 && std::fwrite(bytes.data(), 1, n, f) == n &&
         std::fflush(f) == 0;
}

inline bool IsBinaryKey(std::string_view key) {
  return key.size() >= 4 && key.substr(key.size() - 4) == "-bin";
}

// Standard base64 without padding, as connect-go writes the values of -bin headers in the
// suite's Header messages.
inline std::string Base64Encode(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                 uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

// Standard or URL-safe base64, padded or not; false on anything else (connect-go's
// DecodeBinaryHeader accepts the same; its callers then use the value as it is).
inline bool Base64Decode(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '-') v = 62;
    else if (c == '/' || c == '_') v = 63;
    else return false;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return bits < 6;  // one leftover character cannot be valid base64
}

// The suite's headers as gRPC metadata: names lowercased, -bin values decoded.
inline Metadata ToMetadata(const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  Metadata md;
  for (const auto& h : headers) {
    std::string name = h.name();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& value : h.value()) {
      std::string decoded;
      if (IsBinaryKey(name) && Base64Decode(value, &decoded)) {
        md.emplace_back(name, decoded);
      } else {
        md.emplace_back(name, value);
      }
    }
  }
  return md;
}

// gRPC metadata as the suite's headers: one Header per name in order of first appearance, its
// values in order, -bin values base64-encoded. skip names a key to leave out.
inline void AddHeaders(const Metadata& md, google::protobuf::RepeatedPtrField<v1::Header>* out,
                       std::string_view skip = {}) {
  for (const auto& [key, value] : md) {
    if (!skip.empty() && key == skip) continue;
    v1::Header* h = nullptr;
    for (auto& existing : *out) {
      if (existing.name() == key) h = &existing;
    }
    if (h == nullptr) {
      h = out->Add();
      h->set_name(key);
    }
    h->add_value(IsBinaryKey(key) ? Base64Encode(value) : value);
  }
}

}  // namespace polyrpc::connect
