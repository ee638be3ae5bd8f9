// CallBase: what client and server calls share on top of an HTTP/2 stream: the outgoing queue of
// framed messages (fed to nghttp2's data provider without copying), the incoming deframer with
// decompression and flow-control credit, and the one-completion-per-operation bookkeeping.
//
// All fields are loop-thread state unless marked otherwise; the received-message queue is shared
// with the application thread (TryRecvNow takes from it directly) and guarded by ready_mu_.
// Public operations may be called from any thread; they hop to the loop with RunOrPostSelf.
// Completions run deferred on the loop thread (EventLoop::Defer), never from inside nghttp2
// callbacks and never under a lock.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "http2/connection.h"
#include "polyrpc++/call.hpp"
#include "protocol/compression.h"
#include "protocol/message_framer.h"
#include "runtime/memory_quota.h"

namespace polyrpc {

// A FIFO with room for two elements inside the call object and a vector for more: a unary
// call (one message each way) never allocates for its queues (std::deque allocates its map and
// a 512-byte node for every call, even an empty one).
template <typename T>
class SimpleQueue {
 public:
  bool empty() const { return inline_count_ == 0 && overflow_head_ == overflow_.size(); }
  size_t size() const { return inline_count_ + (overflow_.size() - overflow_head_); }
  T& front() { return inline_count_ > 0 ? inline_[inline_head_] : overflow_[overflow_head_]; }
  void push_back(T v) {
    // Inline elements are always older than overflow ones: use the inline slots only while
    // the overflow is empty.
    if (overflow_head_ == overflow_.size() && inline_head_ + inline_count_ < kInline) {
      inline_[inline_head_ + inline_count_++] = std::move(v);
    } else {
      overflow_.push_back(std::move(v));
    }
  }
  void pop_front() {
    if (inline_count_ > 0) {
      inline_[inline_head_] = T();
      ++inline_head_;
      if (--inline_count_ == 0) inline_head_ = 0;
      return;
    }
    overflow_[overflow_head_] = T();
    if (++overflow_head_ == overflow_.size()) {
      overflow_.clear();
      overflow_head_ = 0;
    }
  }
  void clear() {
    for (size_t i = 0; i < kInline; ++i) inline_[i] = T();
    inline_head_ = inline_count_ = 0;
    overflow_.clear();
    overflow_head_ = 0;
  }

 private:
  static constexpr size_t kInline = 2;
  T inline_[kInline];
  size_t inline_head_ = 0;
  size_t inline_count_ = 0;
  std::vector<T> overflow_;
  size_t overflow_head_ = 0;
};

class CallBase : public Stream {
 public:
  CallBase(EventLoop* loop, size_t max_recv_message, int64_t max_send_message);
  ~CallBase() override;

  EventLoop* loop() const { return loop_; }

 protected:
  // Runs fn(self) now when called on the loop thread, where the caller's own reference keeps
  // the call alive, otherwise posts it with a reference of its own. (Capturing a shared
  // pointer for the inline case cost two atomic operations per operation for nothing.) This
  // holds because nothing inline runs application code: completions and OnDone callbacks are
  // deferred with a reference of their own.
  // Posted operations are counted (posted_ops_) so that a server call's lock-free operations
  // (ServerCallImpl's cross-thread slots) never overtake one posted before them.
  template <typename Self, typename F>
  void RunOrPostSelf(Self* self, F&& fn) {
    if (loop_->InLoopThread()) {
      fn(self);
    } else {
      posted_ops_.fetch_add(1, std::memory_order_acq_rel);
      loop_->Post([keep = std::static_pointer_cast<Self>(shared_from_this()),
                   fn = std::forward<F>(fn)]() mutable {
        fn(keep.get());
        keep->posted_ops_.fetch_sub(1, std::memory_order_acq_rel);
      });
    }
  }
  std::atomic<int> posted_ops_{0};  // operations posted by RunOrPostSelf and not run yet

  // Frames (and compresses, per the call's send compression) one message. Any thread.
  // Returns false and sets *error if the message is over the send limit.
  bool FrameMessage(Slice message, uint32_t flags, Slice* prefix, Slice* payload,
                    std::string* error);
  // Loop thread: queues a framed message; done runs once it is handed to the transport.
  void EnqueueFramed(Slice prefix, Slice payload, Completion done);
  // Loop thread: asks for the next message.
  void StartRecv(Completion done);
  // Loop thread: completes what can be completed (received messages, end of stream).
  void DeliverMessages();
  // Loop thread: fails pending send/recv operations (the call is over).
  void FailPendingOps();
  void Complete(Completion done, bool ok);
  // Any thread, after a successful recv completion.
  bool TakeReadyMessage(Slice* out, bool* compressed);
  // Application thread, no receive outstanding: moves a message that has already arrived to the
  // ready slot and returns true; false if none is queued (or the call failed).
  bool TryRecvNow();
  // Loop thread: empties the receive queue (the call failed).
  void ClearRecvQueue();
  // "Server memory limit reached: ..." for a reservation of n bytes that failed.
  std::string QuotaError(size_t n) const;
  // Loop thread: returns the flow-control credit held back once the application caught up.
  void ReturnCreditIfCaughtUp();
  // Loop thread, once the call is over or its stream closed: returns all the credit held back,
  // whatever the application still has queued. The stream's window no longer matters, but the
  // connection's is shared by every stream, and the credit of messages queued on a finished call
  // would otherwise never come back: each call cancelled (or dropped) with a stream window's
  // worth queued kept up to 4 MiB of the connection's 16 MiB, until every call on a long-lived
  // connection stalled (found by the soak; core/tests/flow_credit_test.cc).
  void ReturnAllCredit();

  // Role hooks.
  virtual void OnRecvError(StatusCode code, const std::string& message) = 0;
  // A second message arrived on a call that takes exactly one (expect_one_message_): the call
  // must end with UNIMPLEMENTED (gRPC's doc/statuscodes.md, cardinality violation).
  virtual void OnCardinalityViolation(const std::string& message) = 0;
  // Output queue empty: set EOF flags if the role is done sending (client half-close, server
  // trailers). Returns true if it set EOF.
  virtual bool OnOutputDrained(uint32_t* data_flags) = 0;
  // After the stream is known to nghttp2, tell it more data is ready.
  void KickOutput();

  // Stream
  void OnData(const uint8_t* data, size_t len) override;
  ssize_t ReadData(size_t max, uint32_t* data_flags) override;
  void WriteData(size_t len, WriteBatch* batch) override;

  // Header fields are parsed as they arrive (no copy of the whole block). Counts the field
  // against the header list limit; returns false once the block is over it.
  bool CountHeader(std::string_view name, std::string_view value);
  size_t header_block_bytes_ = 0;
  bool header_block_too_large_ = false;
  size_t max_header_list_size_ = 16384;

  EventLoop* loop_;
  std::shared_ptr<Http2Connection> conn_;
  // Read by FrameMessage on the sending thread, set by the server's SetCompression.
  std::atomic<Compression> send_compression_{Compression::kIdentity};
  std::string send_encoding_label_;  // testing: label messages with this encoding name
  Compression recv_compression_ = Compression::kIdentity;
  std::string recv_encoding_name_;
  size_t max_recv_message_;
  int64_t max_send_message_;

  // Outgoing.
  SimpleQueue<Slice> out_;
  size_t out_bytes_ = 0;
  uint64_t out_written_ = 0;   // bytes handed to the transport
  uint64_t out_enqueued_ = 0;  // bytes ever queued
  Completion send_done_;
  uint64_t send_done_at_ = 0;
  bool data_deferred_ = false;  // the data provider returned DEFERRED

  // Incoming.
  MessageDeframer deframer_;
  struct Received {
    Slice payload;
    bool compressed = false;
    size_t charged = 0;  // bytes of recv_quota_ this message holds
  };
  SimpleQueue<Received> recv_queue_;  // guarded by ready_mu_ (the loop pushes, either side pops)
  uint64_t messages_received_ = 0;    // messages queued so far (loop thread)
  // The peer must send exactly one message (a unary response or request); loop thread.
  bool expect_one_message_ = false;
  Completion recv_done_;
  bool remote_closed_ = false;  // END_STREAM or stream closed: no more messages
  // Stop delivering queued messages (cancel, errors). Set on the loop thread, read by TryRecvNow.
  std::atomic<bool> recv_failed_{false};
  size_t unconsumed_ = 0;  // flow-control credit held back while the app is behind (ready_mu_)
  // Server calls: received bytes are charged to the connection's memory quota from their
  // arrival until the application takes the message (null: not counted, as on clients).
  // recv_charged_ (ready_mu_) is what this call holds: the partial message and the queue.
  std::shared_ptr<MemoryQuota> recv_quota_;
  size_t recv_charged_ = 0;
  // Under ready_mu_: gives back n of the call's charge.
  void ReleaseRecvCharge(size_t n) {
    if (n == 0 || !recv_quota_) return;
    recv_charged_ -= n;
    recv_quota_->Release(n);
  }

  bool finished_ = false;  // the call is over (status known / sent / cancelled)
  // Call metrics (observability/metrics.h): which side counts this call, when it started (0:
  // not counted as started), and whether its end was counted. Loop thread.
  uint8_t metrics_side_ = 0;
  bool metrics_done_ = false;
  int64_t metrics_start_ns_ = 0;
  void MetricsStarted();
  void MetricsFinished(int code);
  // Client calls, until the server's first HEADERS: the pieces handed to the transport, by
  // reference, so that a stream the server refused without processing it can be sent again on
  // another stream (transparent retry; ClientCallImpl). Given up past kMaxRetryBytes.
  bool keep_sent_ = false;
  SimpleQueue<Slice> sent_;
  size_t sent_bytes_ = 0;
  static constexpr size_t kMaxRetryBytes = size_t{1} << 20;
  void DropSent() {
    keep_sent_ = false;
    sent_.clear();
    sent_bytes_ = 0;
  }
  // Puts everything sent so far back in front of the output queue, for a new stream. Loop thread.
  void RewindSent();
  // Testing hook (polyrpc.testing_accept_any_request): a non-gRPC request body is discarded,
  // not deframed. Loop thread.
  bool discard_body_ = false;

  // Result slot handed to the application thread; also guards recv_queue_ and unconsumed_.
  std::mutex ready_mu_;
  Slice ready_message_;
  bool ready_valid_ = false;
  bool ready_compressed_ = false;
};

// Adds a received user metadata field (reserved headers are skipped; -bin values
// base64-decoded). Returns false if a -bin value is not valid base64.
bool AddUserMetadata(std::string_view name, std::string_view value, Metadata* md);

// User metadata as it arrives, kept as bytes until someone asks for it as a Metadata list: a
// server handler that never reads its request metadata pays no allocation for it (a client's
// user-agent alone cost two heap strings). Same rules as AddUserMetadata, which builds the list.
// Loop thread writes, then read-only.
class RawMetadata {
 public:
  // Skips reserved headers; false if a -bin value is not valid base64.
  bool Add(std::string_view name, std::string_view value);
  // Appends every entry to *md, -bin values decoded.
  void AppendTo(Metadata* md) const;
  size_t entries() const { return entries_; }

 private:
  void Put(const void* p, size_t n);
  const char* data() const { return heap_.empty() ? inline_ : heap_.data(); }
  static constexpr size_t kInline = 160;  // a user-agent and a few short entries
  char inline_[kInline];
  size_t size_ = 0;
  size_t entries_ = 0;
  std::string heap_;  // the entries once they outgrow inline_
};

// "application/grpc", "application/grpc+proto", "application/grpc;..." are gRPC.
inline bool IsGrpcContentType(std::string_view v) {
  return v.substr(0, 16) == "application/grpc" && (v.size() == 16 || v[16] == '+' || v[16] == ';');
}

// One nghttp2 header entry pointing at name and value, which nghttp2 copies when the list is
// submitted (so they need to live until then only). NvLit and NvStatic below ask it not to.
inline nghttp2_nv NvRef(std::string_view name, std::string_view value,
                        uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          flags};
}
// An entry whose name is a string literal (lowercase): nghttp2 keeps the pointer instead of
// copying and lowercasing the name (it reads it when the frame is written, maybe turns later).
template <size_t N>
inline nghttp2_nv NvLit(const char (&name)[N], std::string_view value) {
  return NvRef(std::string_view(name, N - 1), value, NGHTTP2_NV_FLAG_NO_COPY_NAME);
}
// Name a string literal and value in static storage (a literal, a static table): neither
// copied. Never pass a value that lives in a std::string or on the stack.
template <size_t N>
inline nghttp2_nv NvStatic(const char (&name)[N], std::string_view static_value) {
  return NvRef(std::string_view(name, N - 1), static_value,
               NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE);
}
// A header list for one submit: up to 16 entries on the stack, more on the heap.
class NvList {
 public:
  void push_back(const nghttp2_nv& nv) {
    if (size_ < kInline) {
      inline_[size_++] = nv;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + size_);
    heap_.push_back(nv);
    ++size_;
  }
  const nghttp2_nv* data() const { return heap_.empty() ? inline_ : heap_.data(); }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kInline = 16;
  nghttp2_nv inline_[kInline];
  size_t size_ = 0;
  std::vector<nghttp2_nv> heap_;
};

// "0".."16" without formatting.
std::string_view StatusCodeDigits(StatusCode code);

// Builds an nghttp2 header list that points into the given strings (which must outlive the
// submit call; nghttp2 copies them).
std::vector<nghttp2_nv> MakeNv(const std::vector<std::pair<std::string, std::string>>& headers);

// Appends user metadata to an outgoing header list, base64-encoding -bin values (unpadded, as
// gRPC sends). Invalid or reserved keys are rejected: returns false and *error.
bool AppendMetadata(const Metadata& md, std::vector<std::pair<std::string, std::string>>* out,
                    std::string* error);

}  // namespace polyrpc
