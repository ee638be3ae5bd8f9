// MemoryQuota: a byte budget shared by everything charged to it, in the spirit of gRPC's
// ResourceQuota. A server has one; each of its connections has one whose parent is the server's,
// so a reservation must fit both. What is charged is what a peer can make the server hold: a
// fixed amount per open stream (the call object, nghttp2's stream, header bytes) and the bytes
// of received messages until the application takes them. The HTTP/2 layer refuses new streams
// (REFUSED_STREAM) once a reservation for one fails, and a call whose incoming bytes do not fit
// ends with RESOURCE_EXHAUSTED, so memory stays bounded whatever the peers send.
//
// Thread-safe and lock-free: reservations happen on I/O threads, releases also on application
// threads (a message is released when the application takes it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace polyrpc {

class MemoryQuota {
 public:
  // limit < 0: unlimited (only counts).
  explicit MemoryQuota(int64_t limit, std::shared_ptr<MemoryQuota> parent = nullptr)
      : limit_(limit), parent_(std::move(parent)) {}
  MemoryQuota(const MemoryQuota&) = delete;
  MemoryQuota& operator=(const MemoryQuota&) = delete;

  // Reserves n bytes here and in every parent if each stays within eighths/8 of its limit (8:
  // the whole limit; new streams ask for less, so that the calls already admitted can finish).
  // Returns false, with nothing reserved, otherwise.
  bool TryReserve(size_t n, int eighths = 8);
  // Gives back n bytes reserved earlier (here and in every parent).
  void Release(size_t n);

  // Counts objects that hold a share of this quota (server calls), here and in every parent:
  // what a quota can tell about who holds it, after its owner (the server) may be gone.
  void CountHolder(int delta) {
    for (MemoryQuota* q = this; q != nullptr; q = q->parent_.get()) {
      q->holders_.fetch_add(delta, std::memory_order_relaxed);
    }
  }
  int64_t holders() const { return holders_.load(std::memory_order_relaxed); }

  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }
  // The highest value used() has had.
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  MemoryQuota* parent() const { return parent_.get(); }

 private:
  bool ReserveHere(size_t n, int eighths);
  void ReleaseHere(size_t n) {
    used_.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  }

  const int64_t limit_;
  const std::shared_ptr<MemoryQuota> parent_;
  std::atomic<int64_t> used_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> holders_{0};
};

// Bytes reserved from a quota, given back when this is destroyed or reset. Single-thread.
class MemoryReservation {
 public:
  MemoryReservation() = default;
  MemoryReservation(std::shared_ptr<MemoryQuota> quota, size_t n)
      : quota_(std::move(quota)), bytes_(n) {}
  MemoryReservation(MemoryReservation&& o) noexcept
      : quota_(std::move(o.quota_)), bytes_(o.bytes_) {
    o.bytes_ = 0;
  }
  MemoryReservation& operator=(MemoryReservation&& o) noexcept {
    if (this != &o) {
      reset();
      quota_ = std::move(o.quota_);
      bytes_ = o.bytes_;
      o.bytes_ = 0;
    }
    return *this;
  }
  ~MemoryReservation() { reset(); }

  void reset() {
    if (quota_ && bytes_ > 0) quota_->Release(bytes_);
    bytes_ = 0;
    quota_.reset();
  }
  size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<MemoryQuota> quota_;
  size_t bytes_ = 0;
};

// The default limit of a server's quota: half of the machine's physical memory.
int64_t DefaultServerMemoryLimit();

}  // namespace polyrpc
