#include "web/grpc_web.h"

#include <cctype>

#include "protocol/base64.h"

namespace polyrpc::web {

namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Mode ParseContentType(std::string_view ct, bool* other_subtype) {
  if (other_subtype) *other_subtype = false;
  ct = Trim(ct.substr(0, ct.find(';')));
  constexpr std::string_view kBase = "application/grpc-web";
  if (!StartsWithNoCase(ct, kBase)) return Mode::kNone;
  std::string_view rest = ct.substr(kBase.size());
  Mode mode = Mode::kBinary;
  if (StartsWithNoCase(rest, "-text")) {
    mode = Mode::kText;
    rest.remove_prefix(5);
  }
  if (rest.empty()) return mode;
  if (rest[0] != '+') return Mode::kNone;  // "application/grpc-webfoo"
  rest.remove_prefix(1);
  if (rest.size() == 5 && StartsWithNoCase(rest, "proto")) return mode;
  if (other_subtype) *other_subtype = true;
  return mode;
}

bool Base64StreamDecoder::Feed(const uint8_t* data, size_t len, std::string* out) {
  pending_.append(reinterpret_cast<const char*>(data), len);
  size_t whole = pending_.size() / 4 * 4;
  // Runs of quanta without padding decode in one go; a padded quantum ends a chunk.
  size_t run_start = 0;
  std::string piece;
  for (size_t q = 0; q < whole; q += 4) {
    bool padded = pending_[q + 3] == '=';
    if (!padded) continue;
    if (q > run_start) {
      if (!Base64Decode(std::string_view(pending_).substr(run_start, q - run_start), &piece)) {
        return false;
      }
      out->append(piece);
    }
    if (!Base64Decode(std::string_view(pending_).substr(q, 4), &piece)) return false;
    out->append(piece);
    run_start = q + 4;
  }
  if (whole > run_start) {
    if (!Base64Decode(std::string_view(pending_).substr(run_start, whole - run_start), &piece)) {
      return false;
    }
    out->append(piece);
  }
  pending_.erase(0, whole);
  return true;
}

std::string EncodeText(std::string_view bytes) { return Base64Encode(bytes, /*pad=*/true); }

std::string TrailersFrame(int code, std::string_view message,
                          const std::vector<std::pair<std::string, std::string>>& trailers) {
  std::string body = "grpc-status: " + std::to_string(code) + "\r\n";
  if (!message.empty()) {
    body += "grpc-message: ";
    body += message;
    body += "\r\n";
  }
  for (const auto& [k, v] : trailers) {
    body += k;
    body += ": ";
    body += v;
    body += "\r\n";
  }
  std::string frame(5, '\0');
  uint32_t n = static_cast<uint32_t>(body.size());
  frame[0] = static_cast<char>(0x80);
  frame[1] = static_cast<char>(n >> 24);
  frame[2] = static_cast<char>(n >> 16);
  frame[3] = static_cast<char>(n >> 8);
  frame[4] = static_cast<char>(n);
  return frame + body;
}

std::string ExposeHeaders(const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string s = kExposeHeaders;
  for (const auto& [k, v] : metadata) {
    if (s.find(k) != std::string::npos) continue;
    s += ',';
    s += k;
  }
  return s;
}

}  // namespace polyrpc::web
