// Completion queues: a queue with an eventfd for event loops, or a callback run on the I/O
// thread that completed the operation. Completions arrive straight from the core's Completion
// functions (no thread hop); callbacks run with no lock held.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "internal.h"

namespace polyrpc::capi {

CompletionQueue::CompletionQueue() : kind_(Kind::kQueue) {
  efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd_ < 0) Throw(POLYRPC_ERROR_IO, std::string("eventfd: ") + std::strerror(errno));
}

CompletionQueue::CompletionQueue(polyrpc_completion_fn fn, void* user_data,
                                 polyrpc_free_fn user_data_free)
    : kind_(Kind::kCallback), fn_(fn), user_data_(user_data), user_data_free_(user_data_free) {}

CompletionQueue::~CompletionQueue() {
  // The last reference is gone: the handle was destroyed and no operation can complete here
  // any more, so no callback can run after this.
  if (user_data_free_) user_data_free_(user_data_);
  if (efd_ >= 0) close(efd_);
}

uint64_t CompletionQueue::BeginOp(void* tag) {
  std::lock_guard<std::mutex> lock(mu_);
  if (destroyed_ || shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the completion queue is shut down");
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.tag = tag;
  slot.live = true;
  ++slot.gen;
  ++live_ops_;
  return (uint64_t{slot.gen} << 32) | index;
}

bool CompletionQueue::ReleaseSlotLocked(uint64_t op, void** tag) {
  uint32_t index = static_cast<uint32_t>(op);
  if (index >= slots_.size()) return false;
  Slot& slot = slots_[index];
  if (!slot.live || slot.gen != static_cast<uint32_t>(op >> 32)) return false;
  *tag = slot.tag;
  slot.live = false;
  slot.tag = nullptr;
  free_slots_.push_back(index);
  --live_ops_;
  return true;
}

void CompletionQueue::AbandonOp(uint64_t op) {
  std::lock_guard<std::mutex> lock(mu_);
  void* tag;
  ReleaseSlotLocked(op, &tag);
  if (DrainedLocked()) SignalLocked();
}

void CompletionQueue::Complete(uint64_t op, bool success) {
  void* tag = nullptr;
  if (kind_ == Kind::kCallback) {
    bool deliver;
    {
      std::lock_guard<std::mutex> lock(mu_);
      deliver = ReleaseSlotLocked(op, &tag) && !destroyed_;
    }
    // Outside the lock: the callback may start the next operation on this cq. The caller's
    // reference to *this keeps user_data alive until the callback returns.
    if (deliver) fn_(tag, success ? 1 : 0, user_data_);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!ReleaseSlotLocked(op, &tag)) return;  // delivered already by CancelPending
  if (destroyed_) return;
  events_.push_back(Event{tag, success});
  SignalLocked();
}

void CompletionQueue::CancelPending() {
  std::vector<void*> tags;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (!slot.live) continue;
      void* tag;
      ReleaseSlotLocked((uint64_t{slot.gen} << 32) | i, &tag);
      if (kind_ == Kind::kQueue) {
        if (!destroyed_) events_.push_back(Event{tag, false});
      } else {
        tags.push_back(tag);
      }
    }
    if (!events_.empty() || DrainedLocked()) SignalLocked();
    if (destroyed_) tags.clear();
  }
  for (void* tag : tags) fn_(tag, 0, user_data_);
}

void CompletionQueue::SignalLocked() {
  if (signalled_ || efd_ < 0) return;
  uint64_t one = 1;
  ssize_t n = write(efd_, &one, sizeof(one));
  (void)n;  // cannot fail: the counter stays far below its maximum
  signalled_ = true;
}

void CompletionQueue::ClearFdLocked() {
  if (efd_ < 0) return;
  uint64_t v;
  ssize_t n = read(efd_, &v, sizeof(v));
  (void)n;  // EAGAIN when it was not readable
  signalled_ = false;
  // What is still due keeps it readable: queued events (or the SHUTDOWN event), and wake-ups
  // whose write the read above may have swallowed (Wake counts before it writes).
  if (!events_.empty() || DrainedLocked()) SignalLocked();
  if (wakes_.load(std::memory_order_acquire) > 0) {
    uint64_t one = 1;
    n = write(efd_, &one, sizeof(one));
    (void)n;
  }
}

void CompletionQueue::Wake() {
  wakes_.fetch_add(1, std::memory_order_acq_rel);
  uint64_t one = 1;
  ssize_t n = write(efd_, &one, sizeof(one));
  (void)n;
}

bool CompletionQueue::TakeWake() {
  uint64_t w = wakes_.load(std::memory_order_acquire);
  while (w > 0) {
    if (wakes_.compare_exchange_weak(w, w - 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

polyrpc_event_type_t CompletionQueue::Next(int timeout_ms, void** tag, int* success) {
  *tag = nullptr;
  *success = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool woken = false;  // poll(2) said readable: what made it so is looked for first
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!events_.empty()) {
        Event e = events_.front();
        events_.pop_front();
        // The fd stays readable while events are queued, and once drained after shutdown so
        // that an event loop also sees the SHUTDOWN event.
        if (events_.empty() && !DrainedLocked()) ClearFdLocked();
        *tag = e.tag;
        *success = e.success ? 1 : 0;
        return POLYRPC_EVENT_COMPLETE;
      }
      if (TakeWake()) {
        if (!DrainedLocked()) ClearFdLocked();
        return POLYRPC_EVENT_WAKEUP;
      }
      if (DrainedLocked() || destroyed_) return POLYRPC_EVENT_SHUTDOWN;
      if (woken) ClearFdLocked();  // readable for an event another waiter took
    }
    int wait_ms = -1;
    if (timeout_ms == 0) return POLYRPC_EVENT_NONE;
    if (timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return POLYRPC_EVENT_NONE;
      wait_ms = static_cast<int>(left.count());
    }
    struct pollfd p = {efd_, POLLIN, 0};
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno == EINTR && interruptible_.load(std::memory_order_relaxed)) {
      return POLYRPC_EVENT_INTERRUPTED;
    }
    woken = r > 0;
  }
}

void CompletionQueue::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  if (DrainedLocked()) SignalLocked();
}

void CompletionQueue::Destroy() {
  if (kind_ == Kind::kCallback) CancelPending();
  std::lock_guard<std::mutex> lock(mu_);
  destroyed_ = true;
  shutdown_ = true;
  events_.clear();
  // Waiters see destroyed_ once woken (a SHUTDOWN event).
  SignalLocked();
}

OpTarget MakeTarget(polyrpc_cq* cq, void* tag) {
  OpTarget target;
  if (cq != nullptr) {
    target.cq = Check(cq, kCqTag, "cq")->q;
    target.op = target.cq->BeginOp(tag);
  } else {
    target.waiter = std::make_shared<OpWaiter>();
  }
  return target;
}

}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

polyrpc_error_t polyrpc_cq_create(polyrpc_cq_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  auto cq = std::make_unique<CqHandle>();
  cq->q = std::make_shared<CompletionQueue>();
  *out = ToC(cq.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_cq_create_callback(polyrpc_completion_fn fn, void* user_data,
                                           polyrpc_free_fn user_data_free, polyrpc_cq_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(fn != nullptr, "fn is NULL");
  auto cq = std::make_unique<CqHandle>();
  cq->q = std::make_shared<CompletionQueue>(fn, user_data, user_data_free);
  *out = ToC(cq.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_cq_next(polyrpc_cq_t* cq, int timeout_ms, polyrpc_event_t* event) {
  POLYRPC_API_TRY
  auto* cq_h = Check(cq, kCqTag, "cq");
  RequireArg(event != nullptr, "event is NULL");
  RequireArg(event->struct_size >= sizeof(polyrpc_event_t),
             "event->struct_size must be set to sizeof(polyrpc_event_t)");
  if (cq_h->q->kind() != CompletionQueue::Kind::kQueue) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "polyrpc_cq_next on a callback cq");
  }
  // Keep the queue alive even if another thread destroys the handle while we wait.
  std::shared_ptr<CompletionQueue> q = cq_h->q;
  event->type = q->Next(timeout_ms, &event->tag, &event->success);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_cq_fd(polyrpc_cq_t* cq, int* fd) {
  POLYRPC_API_TRY
  auto* cq_h = Check(cq, kCqTag, "cq");
  RequireArg(fd != nullptr, "fd is NULL");
  if (cq_h->q->kind() != CompletionQueue::Kind::kQueue) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "a callback cq has no file descriptor");
  }
  *fd = cq_h->q->fd();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_cq_shutdown(polyrpc_cq_t* cq) {
  POLYRPC_API_TRY
  auto* cq_h = Check(cq, kCqTag, "cq");
  cq_h->q->Shutdown();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_cq_wake(polyrpc_cq_t* cq) {
  // No POLYRPC_API_TRY: async-signal-safe means no exception machinery and no allocation, so
  // the checks are done by hand and errors carry no message (the last-error string would
  // allocate).
  auto* cq_h = reinterpret_cast<CqHandle*>(cq);
  if (cq_h == nullptr) return POLYRPC_ERROR_INVALID_ARGUMENT;
  uint32_t t = cq_h->tag.load(std::memory_order_acquire);
  if (t == kDeadTag) return POLYRPC_ERROR_CLOSED;
  if (t != kCqTag) return POLYRPC_ERROR_INVALID_ARGUMENT;
  CompletionQueue* q = cq_h->q.get();
  if (q == nullptr) return POLYRPC_ERROR_CLOSED;
  if (q->kind() != CompletionQueue::Kind::kQueue) return POLYRPC_ERROR_WRONG_STATE;
  q->Wake();
  return POLYRPC_OK;
}

polyrpc_error_t polyrpc_cq_set_interruptible(polyrpc_cq_t* cq, int on) {
  POLYRPC_API_TRY
  auto* cq_h = Check(cq, kCqTag, "cq");
  if (cq_h->q->kind() != CompletionQueue::Kind::kQueue) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "a callback cq has no waiters to interrupt");
  }
  cq_h->q->SetInterruptible(on != 0);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_cq_cancel_pending(polyrpc_cq_t* cq) {
  POLYRPC_API_TRY
  auto* cq_h = Check(cq, kCqTag, "cq");
  std::shared_ptr<CompletionQueue> q = cq_h->q;  // callbacks may destroy the handle
  q->CancelPending();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_cq_destroy(polyrpc_cq_t* cq) {
  POLYRPC_API_TRY
  if (cq == nullptr) return;
  auto* cq_h = Check(cq, kCqTag, "cq");
  // Not to race other use of the same handle (polyrpc_cq_wake included): destroy is
  // thread-compatible. The last reference goes now, so user_data_free runs once the pending
  // operations have completed, not when the quarantine frees the shell.
  std::shared_ptr<CompletionQueue> q = std::move(cq_h->q);
  Retire(cq_h);  // before the callbacks run: they may not use the handle any more
  q->Destroy();  // pending operations hold their own references
  POLYRPC_API_CATCH_VOID
}

}  // extern "C"
