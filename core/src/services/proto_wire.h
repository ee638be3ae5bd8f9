// The protobuf wire format, as far as the built-in services need it: the health and reflection
// messages are a handful of strings, varints and nested messages, so the core reads and writes
// them by hand instead of linking libprotobuf (which only applications using protobuf link).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace polyrpc::wire {

enum WireType : int { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class Writer {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Tag(int field, WireType type) { Varint(static_cast<uint64_t>(field) << 3 | type); }
  // A varint field; int32 values are sign-extended to 64 bits, as protobuf does.
  void Int(int field, int64_t v) {
    Tag(field, kVarint);
    Varint(static_cast<uint64_t>(v));
  }
  // A string, bytes or embedded message field.
  void Bytes(int field, std::string_view bytes) {
    Tag(field, kLengthDelimited);
    Varint(bytes.size());
    out_.append(bytes);
  }
  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes)
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())), end_(p_ + bytes.size()) {}

  // Reads the next field's tag: false at the end of the bytes or when they are malformed
  // (then ok() is false).
  bool Next(int* field, int* type) {
    if (p_ == end_) return false;
    uint64_t tag;
    if (!ReadVarint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return Fail();
    *field = static_cast<int>(tag >> 3);
    *type = static_cast<int>(tag & 7);
    return true;
  }
  bool ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return Fail();
      uint8_t b = *p_++;
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return Fail();
  }
  bool ReadBytes(std::string_view* out) {
    uint64_t len;
    if (!ReadVarint(&len) || len > static_cast<uint64_t>(end_ - p_)) return Fail();
    *out = std::string_view(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    return true;
  }
  // Skips the value of a field of this wire type.
  bool Skip(int type) {
    uint64_t v;
    std::string_view s;
    switch (type) {
      case kVarint:
        return ReadVarint(&v);
      case kLengthDelimited:
        return ReadBytes(&s);
      case kFixed64:
        return Advance(8);
      case kFixed32:
        return Advance(4);
      default:  // groups (deprecated) and invalid types
        return Fail();
    }
  }
  bool ok() const { return ok_; }

 private:
  bool Advance(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return Fail();
    p_ += n;
    return true;
  }
  bool Fail() {
    ok_ = false;
    p_ = end_;
    return false;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

}  // namespace polyrpc::wire
