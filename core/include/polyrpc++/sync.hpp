// Blocking helpers on top of the completion API: the blocking ("sync") C++ API. Each helper
// starts one operation and waits for its completion on the calling thread. Client helpers run
// the call's I/O on the calling thread while they wait when they can (IoDriver, call.hpp).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "polyrpc++/call.hpp"
#include "polyrpc++/channel.hpp"

namespace polyrpc {

// A one-shot event carrying the ok flag of a completion.
class OpWaiter {
 public:
  Completion Done() {
    return [this](bool ok) {
      std::lock_guard<std::mutex> lock(mu_);
      ok_ = ok;
      done_.store(true, std::memory_order_release);
      cv_.notify_one();
    };
  }
  // Waits for the completion. With an active driver, this thread runs the call's I/O until
  // then (the completion runs on this thread).
  bool Wait(IoDriver* driver = nullptr) {
    if (driver != nullptr && driver->active()) {
      driver->RunUntil([this] { return done_.load(std::memory_order_acquire); });
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_.load(std::memory_order_relaxed); });
    done_.store(false, std::memory_order_relaxed);
    return ok_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  bool ok_ = false;
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

// One unary call, blocking. On OK, *response holds the reply.
inline Status BlockingUnaryCall(Channel& channel, const std::string& method, Slice request,
                                Slice* response, const CallOptions& options = CallOptions(),
                                Metadata* initial_metadata = nullptr,
                                Metadata* trailing_metadata = nullptr) {
  std::shared_ptr<ClientCall> call = channel.CreateCall(method, options);
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
