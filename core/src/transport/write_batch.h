// WriteBatch: everything one connection wants to send in one loop turn, as one gather list.
// Small pieces (frame headers, HPACK blocks) are copied into blocks owned by the batch; payload
// slices are referenced, not copied, and handed to writev as they are.
#pragma once

#include <uv.h>

#include <cstring>
#include <memory>
#include <vector>

#include "polyrpc++/slice.hpp"

namespace polyrpc {

class WriteBatch {
 public:
  WriteBatch() = default;
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;
  ~WriteBatch() {
    // Blocks go back to this thread's cache: a busy connection flushes every loop turn, and a
    // fresh 16 KiB malloc/free each time showed up as the top cost in profiles.
    auto& cache = BlockCache();
    for (auto& b : blocks_) {
      if (cache.size() < kMaxCachedBlocks) cache.push_back(std::move(b));
    }
  }

  void Append(const uint8_t* p, size_t n) {
    total_ += n;
    while (n > 0) {
      if (blocks_.empty() || block_used_ == kBlock) {
        blocks_.push_back(TakeBlock());
        block_used_ = 0;
        pieces_.push_back({blocks_.back().get(), 0});
      }
      size_t take = std::min(n, kBlock - block_used_);
      Piece& last = pieces_.back();
      uint8_t* dst = blocks_.back().get() + block_used_;
      std::memcpy(dst, p, take);
      if (last.data + last.len == dst) {
        last.len += take;
      } else {
        pieces_.push_back({dst, take});
      }
      block_used_ += take;
      p += take;
      n -= take;
    }
  }
  void AppendSlice(Slice s) {
    if (s.empty()) return;
    if (s.size() < 256) {  // cheaper to copy than to add a gather entry
      Append(s.data(), s.size());
      return;
    }
    total_ += s.size();
    pieces_.push_back({s.data(), s.size()});
    slices_.push_back(std::move(s));
    // Later small appends must not extend a block piece across this slice.
    block_used_ = kBlock;
  }
  bool empty() const { return total_ == 0; }
  size_t size() const { return total_; }
  std::vector<uv_buf_t> Iovecs() const {
    std::vector<uv_buf_t> out;
    out.reserve(pieces_.size());
    for (const Piece& p : pieces_) {
      if (p.len > 0) out.push_back(uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(p.data)), static_cast<unsigned>(p.len)));
    }
    return out;
  }

 private:
  struct Piece {
    const uint8_t* data;
    size_t len;
  };
  static constexpr size_t kBlock = 16384;
  static constexpr size_t kMaxCachedBlocks = 32;
  static std::vector<std::unique_ptr<uint8_t[]>>& BlockCache() {
    thread_local std::vector<std::unique_ptr<uint8_t[]>> cache;
    return cache;
  }
  static std::unique_ptr<uint8_t[]> TakeBlock() {
    auto& cache = BlockCache();
    if (!cache.empty()) {
      auto b = std::move(cache.back());
      cache.pop_back();
      return b;
    }
    return std::unique_ptr<uint8_t[]>(new uint8_t[kBlock]);  // no zeroing
  }
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;
  size_t block_used_ = 0;
  std::vector<Piece> pieces_;
  std::vector<Slice> slices_;
  size_t total_ = 0;
};

}  // namespace polyrpc
