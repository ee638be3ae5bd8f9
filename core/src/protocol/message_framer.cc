#include "protocol/message_framer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace polyrpc {

void WriteMessagePrefix(uint8_t out[5], bool compressed, uint32_t len) {
  out[0] = compressed ? 1 : 0;
  out[1] = static_cast<uint8_t>(len >> 24);
  out[2] = static_cast<uint8_t>(len >> 16);
  out[3] = static_cast<uint8_t>(len >> 8);
  out[4] = static_cast<uint8_t>(len);
}

// A received message is reassembled into one buffer that is written once, front to back, and
// is usually dropped soon after (parsed and freed). For multi-megabyte messages the cost of that
// buffer is page faults: malloc hands out fresh pages each time (it returns large blocks to the
// kernel when they are freed), and every 4 KiB page then costs a fault, a zeroing and a cgroup
// charge: about 40% of a server's CPU on 16 MiB messages. Such buffers are mapped here instead,
// aligned to 2 MiB and advised for transparent huge pages (MADV_HUGEPAGE: honoured where THP is
// "always" or "madvise", ignored elsewhere), so that a 16 MiB message takes 8 faults, not 4096.
// Only the whole 2 MiB blocks inside the buffer can be huge: the tail stays in small pages, and
// the memory is never more than the message rounded up to a page.
namespace {
constexpr size_t kHugePage = size_t{2} << 20;

struct MappedBuffer {
  void* addr;
  size_t len;
};

void UnmapBuffer(void* p) {
  auto* m = static_cast<MappedBuffer*>(p);
  munmap(m->addr, m->len);
  delete m;
}
}  // namespace

Slice AllocateMessageBuffer(size_t len, uint8_t** out) {
  if (len < kHugePage) return Slice::Allocate(len, out);
  const size_t page = 4096;
  size_t want = (len + page - 1) & ~(page - 1);
  // Map a huge page more than needed, then cut the mapping down to an aligned start.
  size_t total = want + kHugePage;
  void* raw = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return Slice::Allocate(len, out);
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  size_t tail = (start + total) - (aligned + want);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + want), tail);
  void* addr = reinterpret_cast<void*>(aligned);
  madvise(addr, want, MADV_HUGEPAGE);
  *out = static_cast<uint8_t*>(addr);
  return Slice::Wrap(*out, len, UnmapBuffer, new MappedBuffer{addr, want});
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
      body_ = AllocateMessageBuffer(msg_len, &body_data_);
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
