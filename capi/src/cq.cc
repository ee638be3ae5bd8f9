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
                                 void (*user_data_free)(void*))
    : kind_(Kind::kCallback), fn_(fn), user_data_(user_data), user_data_free_(user_data_free) {}

CompletionQueue::~CompletionQueue() {
  // The last reference is gone: the handle was destroyed and no operation can complete here
  // any more, so no callback can run after this.
  if (user_data_free_) user_data_free_(user_data_);
  if (efd_ >= 0) close(efd_);
}

void CompletionQueue::BeginOp() {
  std::lock_guard<std::mutex> lock(mu_);
  if (destroyed_ || shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the completion queue is shut down");
  pending_++;
}

void CompletionQueue::AbandonOp() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_--;
  if (DrainedLocked()) {
    SignalLocked();
    cv_.notify_all();
  }
}

void CompletionQueue::Complete(void* tag, bool success) {
  if (kind_ == Kind::kCallback) {
    bool deliver;
    {
      std::lock_guard<std::mutex> lock(mu_);
      deliver = !destroyed_;
    }
    // Outside the lock: the callback may start the next operation on this cq. The caller's
    // reference to *this keeps user_data alive until the callback returns.
    if (deliver) fn_(tag, success ? 1 : 0, user_data_);
    std::lock_guard<std::mutex> lock(mu_);
    pending_--;
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  pending_--;
  if (destroyed_) return;
  events_.push_back(Event{tag, success});
  SignalLocked();
  cv_.notify_one();
}

void CompletionQueue::SignalLocked() {
  if (signalled_ || efd_ < 0) return;
  uint64_t one = 1;
  ssize_t n = write(efd_, &one, sizeof(one));
  (void)n;  // cannot fail: the counter is at most 1
  signalled_ = true;
}

void CompletionQueue::UnsignalLocked() {
  if (!signalled_ || efd_ < 0) return;
  uint64_t v;
  ssize_t n = read(efd_, &v, sizeof(v));
  (void)n;
  signalled_ = false;
}

polyrpc_event_type_t CompletionQueue::Next(int timeout_ms, void** tag, int* success) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [this] { return !events_.empty() || DrainedLocked() || destroyed_; };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else if (timeout_ms > 0) {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
  }
  if (!events_.empty()) {
    Event e = events_.front();
    events_.pop_front();
    // The fd stays readable while events are queued, and once drained after shutdown so that
    // an event loop also sees the SHUTDOWN event.
    if (events_.empty() && !DrainedLocked()) UnsignalLocked();
    *tag = e.tag;
    *success = e.success ? 1 : 0;
    return POLYRPC_EVENT_COMPLETE;
  }
  *tag = nullptr;
  *success = 0;
  if (DrainedLocked() || destroyed_) return POLYRPC_EVENT_SHUTDOWN;
  return POLYRPC_EVENT_NONE;
}

void CompletionQueue::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  if (DrainedLocked()) SignalLocked();
  cv_.notify_all();
}

void CompletionQueue::Destroy() {
  std::lock_guard<std::mutex> lock(mu_);
  destroyed_ = true;
  shutdown_ = true;
  events_.clear();
  cv_.notify_all();
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
                                           void (*user_data_free)(void*), polyrpc_cq_t** out) {
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

void polyrpc_cq_destroy(polyrpc_cq_t* cq) {
  POLYRPC_API_TRY
  if (cq == nullptr) return;
  auto* cq_h = Check(cq, kCqTag, "cq");
  cq_h->q->Destroy();
  cq_h->q.reset();  // pending operations hold their own references
  Retire(cq_h);
  POLYRPC_API_CATCH_VOID
}

}  // extern "C"
