// Blocking helpers on top of the completion API: the blocking ("sync") C++ API. Each helper
// starts one operation and waits for its completion on the calling thread. Client helpers run
// the call's I/O on the calling thread while they wait when they can (IoDriver, call.hpp).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "polyrpc++/call.hpp"
#include "polyrpc++/channel.hpp"
#include "polyrpc++/thread_pool.hpp"

namespace polyrpc {

// An event carrying the ok flag of a completion, for a thread that blocks on one operation at a
// time (it may be reused for the next one once Wait has returned).
class OpWaiter {
 public:
  // A completion reporting here; the waiter must outlive it (to stop waiting before the
  // completion may come, hold the waiter in a shared_ptr, call Complete from the completion
  // and Abort to stop).
  Completion Done() {
    return [this](bool ok) { Complete(ok); };
  }
  void Complete(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    ok_ = ok;
    done_.store(true, std::memory_order_release);
    cv_.notify_all();
  }
  // Ends the wait without a completion (the operation was given up, e.g. its call cancelled):
  // Wait returns false. Any thread.
  void Abort() {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_.store(true, std::memory_order_release);
    cv_.notify_all();
    if (driver_ != nullptr) driver_->Wake();
  }
  // Waits for Complete or Abort; true if the operation completed with ok. With an active driver,
  // this thread runs the call's I/O until then (the completion runs on this thread).
  bool Wait(IoDriver* driver = nullptr) {
    auto over = [this] {
      return done_.load(std::memory_order_acquire) || aborted_.load(std::memory_order_acquire);
    };
    if (driver != nullptr && driver->active()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        driver_ = driver;
      }
      driver->RunUntil(over);
      std::lock_guard<std::mutex> lock(mu_);
      driver_ = nullptr;
    }
    // A pool thread that blocks here lets its pool start another for the work queued (taken
    // before the lock: the pool may start a thread meanwhile).
    std::optional<ThreadPool::BlockingRegion> blocking;
    if (!over()) blocking.emplace();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, over);
    bool ok = done_.load(std::memory_order_relaxed) && ok_;
    done_.store(false, std::memory_order_relaxed);
    aborted_.store(false, std::memory_order_relaxed);
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  std::atomic<bool> aborted_{false};
  bool ok_ = false;
  IoDriver* driver_ = nullptr;  // while a driving Wait runs (for Abort's wake-up)
};

// Client side, blocking. Each returns the completion's ok flag.
inline bool SendBlocking(ClientCall& call, Slice msg, uint32_t flags = 0) {
  IoDriver driver(call);
  OpWaiter w;
  call.SendMessage(std::move(msg), flags, w.Done());
  return w.Wait(&driver);
}
inline bool CloseSendBlocking(ClientCall& call) {
  IoDriver driver(call);
  OpWaiter w;
  call.CloseSend(w.Done());
  return w.Wait(&driver);
}
inline bool RecvBlocking(ClientCall& call, Slice* out, bool* compressed = nullptr) {
  // A message already queued is taken on this thread: a stream of messages costs no thread
  // hand-off per message.
  if (call.TryRecvMessage()) return call.TakeMessage(out, compressed);
  IoDriver driver(call);
  OpWaiter w;
  call.RecvMessage(w.Done());
  return w.Wait(&driver) && call.TakeMessage(out, compressed);
}
inline bool RecvInitialMetadataBlocking(ClientCall& call) {
  IoDriver driver(call);
  OpWaiter w;
  call.RecvInitialMetadata(w.Done());
  return w.Wait(&driver);
}
inline Status FinishBlocking(ClientCall& call) {
  IoDriver driver(call);
  OpWaiter w;
  call.RecvStatus(w.Done());
  w.Wait(&driver);
  return call.status();
}

// Options for a call whose method answers exactly one message (CallOptions::expect_one_response).
inline CallOptions OneResponse(const CallOptions& options) {
  CallOptions o = options;
  o.expect_one_response = true;
  return o;
}

// One unary call, blocking. On OK, *response holds the reply; a server that answers OK without
// a message, or with more than one, makes it UNIMPLEMENTED (CallOptions::expect_one_response).
inline Status BlockingUnaryCall(Channel& channel, const std::string& method, Slice request,
                                Slice* response, const CallOptions& options = CallOptions(),
                                Metadata* initial_metadata = nullptr,
                                Metadata* trailing_metadata = nullptr) {
  std::shared_ptr<ClientCall> call = channel.CreateCall(
      method, options.expect_one_response ? options : OneResponse(options));
  IoDriver driver(*call);
  OpWaiter send, recv, status;
  call->SendMessage(std::move(request), kWriteLast, send.Done());
  call->RecvMessage(recv.Done());
  call->RecvStatus(status.Done());
  bool got = recv.Wait(&driver);
  send.Wait(&driver);
  status.Wait(&driver);
  if (initial_metadata) *initial_metadata = call->initial_metadata();
  if (trailing_metadata) *trailing_metadata = call->trailing_metadata();
  Status st = call->status();
  if (st.ok()) {
    if (!got || !call->TakeMessage(response)) {
      st = Status(StatusCode::INTERNAL, "No message returned for unary request");
    }
  }
  // Dropped while this thread may still drive the call's loop: freed here, not posted.
  call.reset();
  return st;
}

// Server side, blocking (for handlers that moved the call to their own thread).
inline bool SendBlocking(ServerCall& call, Slice msg, uint32_t flags = 0) {
  OpWaiter w;
  call.SendMessage(std::move(msg), flags, w.Done());
  return w.Wait();
}
inline bool RecvBlocking(ServerCall& call, Slice* out, bool* compressed = nullptr) {
  // A message already queued is taken on this thread: a stream of messages costs no thread
  // hand-off per message.
  if (call.TryRecvMessage()) return call.TakeMessage(out, compressed);
  OpWaiter w;
  call.RecvMessage(w.Done());
  return w.Wait() && call.TakeMessage(out, compressed);
}
inline bool SendInitialMetadataBlocking(ServerCall& call, Metadata md) {
  OpWaiter w;
  call.SendInitialMetadata(std::move(md), w.Done());
  return w.Wait();
}
inline bool FinishBlocking(ServerCall& call, const Status& status, Metadata trailers = {}) {
  OpWaiter w;
  call.SendStatus(status, std::move(trailers), w.Done());
  return w.Wait();
}

}  // namespace polyrpc
