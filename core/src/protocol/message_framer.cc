#include "protocol/message_framer.h"

#include <algorithm>
#include <cstring>

namespace polyrpc {

void WriteMessagePrefix(uint8_t out[5], bool compressed, uint32_t len) {
  out[0] = compressed ? 1 : 0;
  out[1] = static_cast<uint8_t>(len >> 24);
  out[2] = static_cast<uint8_t>(len >> 16);
  out[3] = static_cast<uint8_t>(len >> 8);
  out[4] = static_cast<uint8_t>(len);
}

MessageDeframer::MessageDeframer(size_t max_message_size) : max_message_size_(max_message_size) {}

MessageDeframer::Result MessageDeframer::Feed(const uint8_t* data, size_t len,
                                              std::vector<Message>* out, std::string* error) {
  if (poisoned_ != Result::kOk) {
    *error = poison_error_;
    return poisoned_;
  }
  while (len > 0) {
    if (!in_body_) {
      size_t take = std::min(len, kMessagePrefixSize - prefix_have_);
      std::memcpy(prefix_ + prefix_have_, data, take);
      prefix_have_ += take;
      data += take;
      len -= take;
      if (prefix_have_ < kMessagePrefixSize) break;

      uint8_t flags = prefix_[0];
      uint32_t msg_len = (uint32_t{prefix_[1]} << 24) | (uint32_t{prefix_[2]} << 16) |
                         (uint32_t{prefix_[3]} << 8) | uint32_t{prefix_[4]};
      if (flags & ~uint8_t{1}) {
        poisoned_ = Result::kBadFlags;
        poison_error_ = "invalid message flags " + std::to_string(flags) +
                        " (only bit 0, compressed, may be set)";
      } else if (msg_len > max_message_size_) {
        poisoned_ = Result::kTooLarge;
        poison_error_ = "Received message larger than max (" + std::to_string(msg_len) +
                        " vs. " + std::to_string(max_message_size_) + ")";
      }
      if (poisoned_ != Result::kOk) {
        *error = poison_error_;
        return poisoned_;
      }
      prefix_have_ = 0;
      body_compressed_ = (flags & 1) != 0;
      if (msg_len == 0) {
        out->push_back(Message{Slice(), body_compressed_});
        continue;
      }
      in_body_ = true;
      body_len_ = msg_len;
      body_have_ = 0;
      body_ = Slice::Allocate(msg_len, &body_data_);
      continue;
    }
    size_t take = std::min(len, body_len_ - body_have_);
    std::memcpy(body_data_ + body_have_, data, take);
    body_have_ += take;
    data += take;
    len -= take;
    if (body_have_ == body_len_) {
      out->push_back(Message{std::move(body_), body_compressed_});
      body_ = Slice();
      body_data_ = nullptr;
      in_body_ = false;
      body_len_ = body_have_ = 0;
    }
  }
  return Result::kOk;
}

}  // namespace polyrpc
