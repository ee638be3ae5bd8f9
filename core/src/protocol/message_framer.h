// gRPC length-prefixed messages (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a 5-byte prefix
// (1 flag byte, bit 0 = compressed, other bits reserved and must be 0; then a 4-byte big-endian
// length) followed by the message bytes. DATA frames may split prefixes and messages anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "polyrpc++/slice.hpp"

namespace polyrpc {

constexpr size_t kMessagePrefixSize = 5;

void WriteMessagePrefix(uint8_t out[5], bool compressed, uint32_t len);

// An uninitialised buffer for a received message of len bytes, filled through *out. From 2 MiB
// on it is a mapping aligned to 2 MiB and advised for transparent huge pages (see the .cc).
Slice AllocateMessageBuffer(size_t len, uint8_t** out);

// Reassembles messages from a byte stream. Single-thread: one per stream direction.
class MessageDeframer {
 public:
  explicit MessageDeframer(size_t max_message_size);

  // Applies to messages whose prefix has not been read yet.
  void set_max_message_size(size_t n) { max_message_size_ = n; }

  struct Message {
    Slice payload;
    bool compressed;
  };
  enum class Result { kOk, kTooLarge, kBadFlags };

  // Feeds bytes; data is borrowed for the duration of the call. Complete messages are appended to
  // *out. Each message body is allocated once at its announced size and filled as bytes arrive
  // (one copy, unavoidable since the caller's buffer is borrowed). On kTooLarge or kBadFlags the
  // deframer is poisoned: this and every later call return that result and set *error to the
  // same text, e.g. "Received message larger than max (5242885 vs. 4194304)" (grpc's wording).
  Result Feed(const uint8_t* data, size_t len, std::vector<Message>* out, std::string* error);

  // True while part of a prefix or body is buffered; at end of stream that is a truncated message.
  bool InMiddleOfMessage() const { return prefix_have_ > 0 || in_body_; }
  // Bytes of the current partial prefix or body held so far.
  size_t buffered_bytes() const { return in_body_ ? body_have_ : prefix_have_; }
  // Forgets the partial message (the stream failed); returns its buffer so that the caller
  // chooses where it is freed.
  Slice DropPartial() {
    Slice body = std::move(body_);
    body_ = Slice();
    body_data_ = nullptr;
    in_body_ = false;
    body_len_ = body_have_ = prefix_have_ = 0;
    return body;
  }

 private:
  size_t max_message_size_;
  Result poisoned_ = Result::kOk;
  std::string poison_error_;

  uint8_t prefix_[kMessagePrefixSize] = {};
  size_t prefix_have_ = 0;

  bool in_body_ = false;
  bool body_compressed_ = false;
  Slice body_;
  uint8_t* body_data_ = nullptr;
  size_t body_len_ = 0;
  size_t body_have_ = 0;
};

}  // namespace polyrpc
