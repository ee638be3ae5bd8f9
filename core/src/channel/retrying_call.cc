#include "channel/retrying_call.h"

#include <algorithm>
#include <random>

#include "channel/channel_impl.h"
#include "protocol/status_mapping.h"

namespace polyrpc {

void RetryThrottle::Configure(const std::optional<RetryThrottling>& t) {
  if (!t) {
    enabled = false;
    return;
  }
  bool same = enabled && max_tokens == t->max_tokens && token_ratio == t->token_ratio;
  enabled = true;
  max_tokens = t->max_tokens;
  token_ratio = t->token_ratio;
  if (!same) tokens = max_tokens;  // a new policy starts full
}

RetryingCall::RetryingCall(std::shared_ptr<ChannelImpl> channel, std::string method,
                           CallOptions options, std::shared_ptr<const ServiceConfig> config,
                           const MethodConfig* method_config, size_t max_recv,
                           int64_t max_send)
    : channel_(std::move(channel)),
      loop_(channel_->loop()),
      method_(std::move(method)),
      options_(std::move(options)),
      config_(std::move(config)),
      max_recv_(max_recv),
      max_send_(max_send),
      retry_timer_(loop_),
      hedge_timer_(loop_) {
  if (method_config->hedging) {
    hedging_ = &*method_config->hedging;
    max_attempts_ = hedging_->max_attempts;
  } else {
    retry_ = &*method_config->retry;
    max_attempts_ = retry_->max_attempts;
    backoff_ns_ = static_cast<double>(retry_->initial_backoff_ns);
  }
  buffer_limit_ = static_cast<size_t>(
      std::max<int64_t>(0, channel_->options().GetInt("grpc.per_rpc_retry_buffer_size", 256 << 10)));
}

RetryingCall::~RetryingCall() = default;

template <typename F>
void RetryingCall::OnLoop(F&& fn) {
  if (loop_->InLoopThread()) {
    fn(this);
  } else {
    loop_->Post([self = shared_from_this(), fn = std::forward<F>(fn)]() mutable { fn(self.get()); });
  }
}

void RetryingCall::Complete(Completion done, bool ok) {
  if (!done) return;
  loop_->Defer([self = shared_from_this(), done = std::move(done), ok] { done(ok); });
}

size_t RetryingCall::LiveAttempts() const {
  size_t n = 0;
  for (const auto& a : attempts_) n += a->done ? 0 : 1;
  return n;
}

bool RetryingCall::ThrottleAllows() const { return channel_->retry_throttle().Allows(); }

bool RetryingCall::DeadlinePassed() const {
  return options_.deadline != InfiniteDeadline() && Clock::now() >= options_.deadline;
}

// ---- application operations --------------------------------------------------------------------

void RetryingCall::EnsureStarted() {
  if (started_) return;
  started_ = true;
  if (DeadlinePassed()) {
    FinishOwn(StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
    return;
  }
  StartAttempt();
}

void RetryingCall::Start(Completion done) {
  OnLoop([done = std::move(done)](RetryingCall* self) mutable {
    self->EnsureStarted();
    self->Complete(std::move(done), !self->final_);
  });
}

void RetryingCall::SendMessage(Slice message, uint32_t flags, Completion done) {
  OnLoop([message = std::move(message), flags, done = std::move(done)](RetryingCall* self) mutable {
    self->EnsureStarted();
    if (self->half_closed_ || self->final_ || self->app_send_done_) {
      self->Complete(std::move(done), false);
      return;
    }
    if (self->committed_attempt_ && self->committed_attempt_->done) {
      self->Complete(std::move(done), false);
      return;
    }
    if (flags & kWriteLast) self->half_closed_ = true;
    self->buffered_bytes_ += message.size();
    self->buffer_.push_back({std::move(message), flags});
    self->app_send_index_ = self->buffer_.size() - 1;
    self->app_send_done_ = std::move(done);
    if (!self->committed_attempt_ && self->buffered_bytes_ > self->buffer_limit_) {
      // A new attempt could not replay this much: commit to the attempt furthest along.
      self->buffer_over_ = true;
      Attempt* best = nullptr;
      for (auto& a : self->attempts_) {
        if (!a->done && (!best || a->next_send > best->next_send)) best = a.get();
      }
      if (best) self->Commit(best);
    }
    for (auto& a : self->attempts_) self->Pump(a.get());
  });
}

void RetryingCall::CloseSend(Completion done) {
  OnLoop([done = std::move(done)](RetryingCall* self) mutable {
    self->EnsureStarted();
    self->half_closed_ = true;
    for (auto& a : self->attempts_) self->Pump(a.get());
    self->Complete(std::move(done), true);
  });
}

void RetryingCall::RecvInitialMetadata(Completion done) {
  OnLoop([done = std::move(done)](RetryingCall* self) mutable {
    self->EnsureStarted();
    if (Attempt* a = self->committed_attempt_; a && a->md_done) {
      a->call->RecvInitialMetadata(std::move(done));
    } else if (self->final_) {
      self->Complete(std::move(done), false);
    } else {
      self->pending_md_ = std::move(done);
    }
  });
}

void RetryingCall::RecvMessage(Completion done) {
  OnLoop([done = std::move(done)](RetryingCall* self) mutable {
    self->EnsureStarted();
    if (Attempt* a = self->committed_attempt_) {
      a->call->RecvMessage(std::move(done));
    } else if (self->final_) {
      self->Complete(std::move(done), false);
    } else {
      self->pending_msg_ = std::move(done);
    }
  });
}

void RetryingCall::RecvStatus(Completion done) {
  OnLoop([done = std::move(done)](RetryingCall* self) mutable {
    self->EnsureStarted();
    if (self->final_ || (self->committed_attempt_ && self->committed_attempt_->done)) {
      self->Complete(std::move(done), true);
    } else {
      self->pending_status_ = std::move(done);
    }
  });
}

void RetryingCall::Cancel() {
  OnLoop([](RetryingCall* self) {
    self->cancelled_ = true;
    if (self->final_) return;
    if (Attempt* a = self->committed_attempt_) {
      a->call->Cancel();
      return;
    }
    for (auto& a : self->attempts_) {
      if (!a->done) {
        // The call ends as this attempt does: cancelled.
        self->Commit(a.get());
        a->call->Cancel();
        return;
      }
    }
    self->FinishOwn(StatusCode::CANCELLED, "Cancelled");
  });
}

const Metadata& RetryingCall::initial_metadata() const {
  ClientCallImpl* c = committed_.load(std::memory_order_acquire);
  return c ? c->initial_metadata() : empty_md_;
}

bool RetryingCall::TakeMessage(Slice* out, bool* compressed) {
  ClientCallImpl* c = committed_.load(std::memory_order_acquire);
  return c ? c->TakeMessage(out, compressed) : false;
}

bool RetryingCall::TryRecvMessage() {
  ClientCallImpl* c = committed_.load(std::memory_order_acquire);
  return c ? c->TryRecvMessage() : false;
}

const Status& RetryingCall::status() const {
  ClientCallImpl* c = committed_.load(std::memory_order_acquire);
  return c && !final_ ? c->status() : status_;
}

const Metadata& RetryingCall::trailing_metadata() const {
  ClientCallImpl* c = committed_.load(std::memory_order_acquire);
  return c && !final_ ? c->trailing_metadata() : empty_md_;
}

std::string RetryingCall::peer() const {
  ClientCallImpl* c = committed_.load(std::memory_order_acquire);
  return c ? c->peer() : std::string();
}

EventLoop* RetryingCall::event_loop() const { return loop_; }
int RetryingCall::busy_poll_us() const { return channel_->busy_poll_us(); }

// ---- attempts ----------------------------------------------------------------------------------

void RetryingCall::StartAttempt() {
  auto a = std::make_unique<Attempt>();
  Attempt* raw = a.get();
  a->call = channel_->MakeAttemptCall(method_, options_, static_cast<int>(attempts_.size()),
                                      max_recv_, max_send_);
  attempts_.push_back(std::move(a));
  auto self = shared_from_this();
  raw->call->RecvInitialMetadata([self, raw](bool ok) { self->OnAttemptHeaders(raw, ok); });
  raw->call->RecvStatus([self, raw](bool) { self->OnAttemptStatus(raw); });
  Pump(raw);
  if (hedging_) ScheduleHedge();
}

void RetryingCall::Pump(Attempt* a) {
  if (a->done || a->sending) return;
  if (committed_attempt_ && committed_attempt_ != a) return;
  if (a->next_send < buffer_.size()) {
    size_t i = a->next_send;
    a->sending = true;
    if (buffer_[i].flags & kWriteLast) a->close_sent = true;
    auto self = shared_from_this();
    a->call->SendMessage(buffer_[i].message, buffer_[i].flags,
                         [self, a, i](bool ok) { self->OnSent(a, i, ok); });
    return;
  }
  if (half_closed_ && !a->close_sent) {
    a->close_sent = true;
    a->call->CloseSend([](bool) {});
  }
}

void RetryingCall::OnSent(Attempt* a, size_t index, bool ok) {
  a->sending = false;
  if (!ok) {
    // The attempt is over (its status will tell): nothing more goes out on it. The committed
    // attempt failing ends the application's send too.
    if (committed_attempt_ == a && app_send_done_ && index <= app_send_index_) {
      Completion d = std::move(app_send_done_);
      app_send_done_ = nullptr;
      Complete(std::move(d), false);
    }
    return;
  }
  a->next_send = index + 1;
  if (app_send_done_ && index == app_send_index_) {
    Completion d = std::move(app_send_done_);
    app_send_done_ = nullptr;
    Complete(std::move(d), true);
  }
  if (committed_attempt_ == a) buffer_[index].message = Slice();  // no replay needed any more
  Pump(a);
}

void RetryingCall::OnAttemptHeaders(Attempt* a, bool ok) {
  a->md_done = true;
  if (committed_attempt_ == a) {
    if (pending_md_) {
      Completion d = std::move(pending_md_);
      pending_md_ = nullptr;
      a->call->RecvInitialMetadata(std::move(d));
    }
    return;
  }
  if (committed_attempt_ || final_) return;
  // Response headers (not a trailers-only answer): the server has the call; commit to it.
  if (ok && !a->call->trailers_only()) Commit(a);
}

void RetryingCall::OnAttemptStatus(Attempt* a) {
  a->done = true;
  if (final_ || (committed_attempt_ && committed_attempt_ != a)) return;  // a loser, cancelled
  const Status& st = a->call->status();
  uint32_t failure_codes = retry_ ? retry_->retryable_codes : hedging_->non_fatal_codes;
  bool failure = (StatusBit(st.code()) & failure_codes) != 0;
  // grpc-retry-pushback-ms: a delay for the next attempt, or (negative, malformed) none at all.
  bool has_pushback = false;
  int64_t pushback_ms = -1;
  if (a->call->has_retry_pushback()) {
    has_pushback = true;
    const std::string& p = a->call->retry_pushback();
    if (!p.empty() && p.size() < 10 && p.find_first_not_of("0123456789") == std::string::npos) {
      pushback_ms = std::stoll(p);
    }
  }
  if (!a->counted) {
    a->counted = true;
    if (failure) {
      channel_->retry_throttle().RecordFailure();
    } else {
      channel_->retry_throttle().RecordSuccess();
    }
  }
  if (committed_attempt_ == a) {
    over_.store(true, std::memory_order_release);
    retry_timer_.Stop();
    hedge_timer_.Stop();
    if (app_send_done_) {
      Completion d = std::move(app_send_done_);
      app_send_done_ = nullptr;
      Complete(std::move(d), false);
    }
    if (pending_status_) {
      Completion d = std::move(pending_status_);
      pending_status_ = nullptr;
      Complete(std::move(d), true);
    }
    return;
  }
  if (!failure || cancelled_) {
    Commit(a);  // success, or a status no policy retries: the call's answer
    OnAttemptStatus(a);
    return;
  }
  bool may_continue = !buffer_over_ && !DeadlinePassed() && ThrottleAllows() &&
                      (!has_pushback || pushback_ms >= 0);
  if (retry_) {
    if (!may_continue || static_cast<int>(attempts_.size()) >= max_attempts_) {
      Commit(a);
      OnAttemptStatus(a);
      return;
    }
    int64_t delay_ms;
    if (has_pushback) {
      delay_ms = pushback_ms;
      backoff_ns_ = static_cast<double>(retry_->initial_backoff_ns);
    } else {
      // gRFC A6: random(0, current backoff), the backoff growing by the multiplier.
      thread_local std::mt19937_64 rng{std::random_device{}()};
      double d = std::uniform_real_distribution<double>(0, backoff_ns_)(rng);
      delay_ms = static_cast<int64_t>(d / 1e6);
      backoff_ns_ = std::min(backoff_ns_ * retry_->backoff_multiplier,
                             static_cast<double>(retry_->max_backoff_ns));
    }
    last_failed_ = a;
    ScheduleRetry(delay_ms);
    return;
  }
  // Hedging: this attempt is out; the others (or the next one) may still answer.
  last_failed_ = a;
  if (has_pushback && pushback_ms < 0) hedging_stopped_ = true;
  bool more = may_continue && !hedging_stopped_ &&
              static_cast<int>(attempts_.size()) < max_attempts_;
  if (more) {
    hedge_timer_.Stop();
    if (has_pushback) {
      // The server asked for a pause before the next hedge.
      std::weak_ptr<RetryingCall> weak = shared_from_this();
      hedge_timer_.Start(static_cast<uint64_t>(pushback_ms), [weak] {
        auto self = weak.lock();
        if (self && !self->committed_attempt_ && !self->final_) self->StartAttempt();
      });
    } else {
      StartAttempt();  // a non-fatal failure sends the next hedge at once
    }
    return;
  }
  if (LiveAttempts() == 0) {
    Commit(a);
    OnAttemptStatus(a);
  }
}

void RetryingCall::ScheduleHedge() {
  if (static_cast<int>(attempts_.size()) >= max_attempts_ || hedging_stopped_) return;
  std::weak_ptr<RetryingCall> weak = shared_from_this();
  uint64_t ms = static_cast<uint64_t>(hedging_->hedging_delay_ns / 1000000);
  hedge_timer_.Start(ms, [weak] {
    auto self = weak.lock();
    if (!self || self->committed_attempt_ || self->final_ || self->hedging_stopped_) return;
    if (self->buffer_over_ || !self->ThrottleAllows() || self->DeadlinePassed()) return;
    self->StartAttempt();
  });
}

void RetryingCall::ScheduleRetry(int64_t delay_ms) {
  std::weak_ptr<RetryingCall> weak = shared_from_this();
  auto when = Clock::now() + std::chrono::milliseconds(delay_ms);
  bool deadline_first = options_.deadline != InfiniteDeadline() && options_.deadline <= when;
  retry_timer_.StartAt(deadline_first ? options_.deadline : when, [weak, deadline_first] {
    auto self = weak.lock();
    if (!self || self->committed_attempt_ || self->final_) return;
    if (self->cancelled_) {
      self->FinishOwn(StatusCode::CANCELLED, "Cancelled");
      return;
    }
    if (deadline_first || self->DeadlinePassed()) {
      self->FinishOwn(StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
      return;
    }
    self->StartAttempt();
  });
}

void RetryingCall::Commit(Attempt* a) {
  if (committed_attempt_) return;
  committed_attempt_ = a;
  committed_.store(a->call.get(), std::memory_order_release);
  retry_timer_.Stop();
  hedge_timer_.Stop();
  for (auto& other : attempts_) {
    if (other.get() != a && !other->done) other->call->Cancel();
  }
  // What was sent by the winner need not be kept.
  for (size_t i = 0; i < a->next_send && i < buffer_.size(); ++i) buffer_[i].message = Slice();
  if (pending_md_ && a->md_done) {
    Completion d = std::move(pending_md_);
    pending_md_ = nullptr;
    a->call->RecvInitialMetadata(std::move(d));
  }
  if (pending_msg_) {
    Completion d = std::move(pending_msg_);
    pending_msg_ = nullptr;
    a->call->RecvMessage(std::move(d));
  }
  Pump(a);
}

void RetryingCall::FinishOwn(StatusCode code, const std::string& message) {
  if (final_) return;
  final_ = true;
  status_ = Status(code, message);
  over_.store(true, std::memory_order_release);
  retry_timer_.Stop();
  hedge_timer_.Stop();
  for (auto& a : attempts_) {
    if (!a->done) a->call->Cancel();
  }
  Completion md = std::move(pending_md_), msg = std::move(pending_msg_),
             st = std::move(pending_status_), send = std::move(app_send_done_);
  pending_md_ = pending_msg_ = pending_status_ = app_send_done_ = nullptr;
  Complete(std::move(md), false);
  Complete(std::move(send), false);
  Complete(std::move(msg), false);
  Complete(std::move(st), true);
}

}  // namespace polyrpc
