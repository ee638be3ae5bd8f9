// RetryingCall: a client call whose method has a retry or hedging policy in the service config
// (gRFC A6). The application sees one ClientCall; underneath, each attempt is an ordinary
// ClientCallImpl (with its own transparent retry of refused streams). Messages the application
// sends are kept (by reference) until the call commits, so that a new attempt can replay them.
//
// Retry: one attempt at a time; an attempt that ends with a retryable status before the server
// sent response headers is followed, after gRPC's randomized exponential backoff (or the
// server's grpc-retry-pushback-ms), by another, up to maxAttempts. Hedging: a new attempt every
// hedgingDelay while none has answered, up to maxAttempts, the next one at once when one fails
// with a non-fatal status; the first attempt that answers (response headers, or a final status)
// wins and the others are cancelled. Either way the call commits to one attempt when it gets
// response headers, when the buffered request outgrows grpc.per_rpc_retry_buffer_size, or when
// no further attempt may be made; from then on the application reads that attempt. Retry
// throttling (retryThrottling) is per channel.
//
// Threading as for ClientCallImpl: operations from any thread hop to the channel's loop; all
// state is loop-thread state, except the committed attempt, which the application thread reads
// (TakeMessage, TryRecvMessage) after a completion told it to.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "channel/service_config.h"
#include "polyrpc++/call.hpp"
#include "runtime/timer.h"

namespace polyrpc {

class ChannelImpl;
class ClientCallImpl;

// Retry throttling of one channel (gRFC A6): failures take a token, successes give back
// token_ratio; no retries or hedges while at most half the tokens are left. Loop thread only.
struct RetryThrottle {
  bool enabled = false;
  double max_tokens = 0;
  double token_ratio = 0;
  double tokens = 0;
  void Configure(const std::optional<RetryThrottling>& t);
  void RecordFailure() {
    if (enabled) tokens = std::max(0.0, tokens - 1);
  }
  void RecordSuccess() {
    if (enabled) tokens = std::min(max_tokens, tokens + token_ratio);
  }
  bool Allows() const { return !enabled || tokens > max_tokens / 2; }
};

class RetryingCall final : public ClientCall, public std::enable_shared_from_this<RetryingCall> {
 public:
  // config keeps method alive; method has a retry or a hedging policy.
  // Attempts get max_recv and max_send as their message size limits.
  RetryingCall(std::shared_ptr<ChannelImpl> channel, std::string method, CallOptions options,
               std::shared_ptr<const ServiceConfig> config, const MethodConfig* method_config,
               size_t max_recv, int64_t max_send);
  ~RetryingCall() override;

  void Start(Completion done) override;
  void SendMessage(Slice message, uint32_t flags, Completion done) override;
  void CloseSend(Completion done) override;
  void RecvInitialMetadata(Completion done) override;
  const Metadata& initial_metadata() const override;
  void RecvMessage(Completion done) override;
  bool TakeMessage(Slice* out, bool* compressed) override;
  bool TryRecvMessage() override;
  void RecvStatus(Completion done) override;
  const Status& status() const override;
  const Metadata& trailing_metadata() const override;
  void Cancel() override;
  std::string peer() const override;
  EventLoop* event_loop() const override;
  int busy_poll_us() const override;

  // Any thread: the status is known.
  bool over() const { return over_.load(std::memory_order_acquire); }
  // Loop thread; for tests: attempts started so far.
  size_t attempts() const { return attempts_.size(); }

 private:
  struct Attempt {
    std::shared_ptr<ClientCallImpl> call;
    size_t next_send = 0;  // index in buffer_ of the next message to send
    bool sending = false;
    bool close_sent = false;
    bool md_done = false;  // our RecvInitialMetadata on it completed
    bool done = false;     // its status is known
    bool counted = false;  // its outcome went into the retry throttle
  };
  struct Buffered {
    Slice message;
    uint32_t flags;
  };

  template <typename F>
  void OnLoop(F&& fn);
  void EnsureStarted();
  void StartAttempt();
  void Pump(Attempt* a);
  void OnSent(Attempt* a, size_t index, bool ok);
  void OnAttemptHeaders(Attempt* a, bool ok);
  void OnAttemptStatus(Attempt* a);
  void Commit(Attempt* a);
  void ScheduleHedge();
  void ScheduleRetry(int64_t delay_ms);
  void FinishOwn(StatusCode code, const std::string& message);
  void Complete(Completion done, bool ok);
  size_t LiveAttempts() const;
  bool ThrottleAllows() const;
  bool DeadlinePassed() const;

  std::shared_ptr<ChannelImpl> channel_;
  EventLoop* loop_;
  std::string method_;
  CallOptions options_;
  std::shared_ptr<const ServiceConfig> config_;
  const RetryPolicy* retry_ = nullptr;
  const HedgingPolicy* hedging_ = nullptr;
  int max_attempts_ = 1;
  size_t buffer_limit_;
  size_t max_recv_;
  int64_t max_send_;

  bool started_ = false;
  std::vector<std::unique_ptr<Attempt>> attempts_;
  std::vector<Buffered> buffer_;
  size_t buffered_bytes_ = 0;
  bool buffer_over_ = false;  // past buffer_limit_: no new attempt could replay the request
  bool half_closed_ = false;
  Completion app_send_done_;
  size_t app_send_index_ = 0;
  Completion pending_md_, pending_msg_, pending_status_;
  Attempt* committed_attempt_ = nullptr;
  std::atomic<ClientCallImpl*> committed_{nullptr};
  Attempt* last_failed_ = nullptr;  // hedging: the latest attempt that failed non-fatally
  bool cancelled_ = false;
  bool hedging_stopped_ = false;  // a pushback said no more hedges
  double backoff_ns_ = 0;
  Timer retry_timer_;
  Timer hedge_timer_;
  // The call's own end when no attempt provides it (cancelled or out of time between attempts).
  bool final_ = false;
  Status status_;
  Metadata empty_md_;
  std::atomic<bool> over_{false};
};

}  // namespace polyrpc
