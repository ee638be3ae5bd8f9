// ChannelImpl and ClientCallImpl: the client side. A channel lives on one loop; all its calls,
// subchannels and connections run there. Its resolver (resolver.h) turns the target into
// addresses; its load-balancing policy (lb_policy.h) keeps one subchannel per address
// (subchannel.h: a connection with gRPC's backoff) and picks one for each call; connections that
// got a GOAWAY finish their calls in draining_. The service config (service_config.h) sets
// per-method defaults, and calls with a retry or hedging policy are RetryingCalls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "call/call_base.h"
#include "channel/lb_policy.h"
#include "channel/resolver.h"
#include "channel/retrying_call.h"
#include "channel/service_config.h"
#include "polyrpc++/channel.hpp"
#include "runtime/object_pool.h"
#include "transport/address.h"
#include "transport/connector.h"
#include "transport/tls_context.h"

namespace polyrpc {

class ChannelImpl;

class ClientCallImpl final : public ClientCall, public CallBase {
 public:
  POLYRPC_POOLED_CLASS(ClientCallImpl)

  ClientCallImpl(std::shared_ptr<ChannelImpl> channel, std::string method, CallOptions options);
  // With message size limits of its own (a method config's), and as attempt number
  // previous_attempts + 1 of a retried or hedged call.
  ClientCallImpl(std::shared_ptr<ChannelImpl> channel, std::string method, CallOptions options,
                 size_t max_recv, int64_t max_send, int previous_attempts);
  ~ClientCallImpl() override;

  // ClientCall
  void Start(Completion done) override;
  void SendMessage(Slice message, uint32_t flags, Completion done) override;
  void CloseSend(Completion done) override;
  void RecvInitialMetadata(Completion done) override;
  const Metadata& initial_metadata() const override { return initial_metadata_; }
  void RecvMessage(Completion done) override;
  bool TakeMessage(Slice* out, bool* compressed) override {
    return TakeReadyMessage(out, compressed);
  }
  bool TryRecvMessage() override { return TryRecvNow(); }
  void RecvStatus(Completion done) override;
  const Status& status() const override { return status_; }
  const Metadata& trailing_metadata() const override { return trailing_metadata_; }
  void Cancel() override;
  std::string peer() const override;
  EventLoop* event_loop() const override { return loop_; }
  int busy_poll_us() const override;

  // Loop thread, from the channel.
  void OnTransportReady(std::shared_ptr<Http2Connection> conn);
  void Finish(StatusCode code, const std::string& message);
  bool finished() const { return finished_; }
  // Any thread: the status is known (nothing left to cancel).
  bool over() const { return over_.load(std::memory_order_acquire); }
  bool wait_for_ready() const { return options_.wait_for_ready; }
  // Loop thread: the answer was trailers-only (no response headers before the status).
  bool trailers_only() const { return trailers_only_; }
  // Loop thread, once the status is known: the trailers' grpc-retry-pushback-ms, if any
  // (has_retry_pushback()); the value as sent.
  bool has_retry_pushback() const { return has_retry_pushback_; }
  const std::string& retry_pushback() const { return retry_pushback_; }

 private:
  std::shared_ptr<ClientCallImpl> self() {
    return std::static_pointer_cast<ClientCallImpl>(shared_from_this());
  }
  void EnsureStarted();  // loop thread
  void SetStatus(Status status, Metadata trailers);
  void CompleteStatusWaiters();
  void OnHeader(std::string_view name, std::string_view value) override;
  void OnHeadersEnd(bool end_stream) override;
  void OnRemoteEndStream() override;
  void OnClose(uint32_t h2_error, const std::string& connection_error) override;
  void OnRecvError(StatusCode code, const std::string& message) override;
  void OnCardinalityViolation(const std::string& message) override;
  bool OnOutputDrained(uint32_t* data_flags) override;
  // The server refused the stream without processing it (RST_STREAM REFUSED_STREAM, or above a
  // GOAWAY's last stream id) before answering: send the call again on a new stream, as gRPC's
  // transparent retry does. False if it cannot (too much sent, retries used up, call over).
  bool RetryRefused();
  static constexpr int kMaxTransparentRetries = 3;
  int transparent_retries_ = 0;
  int previous_attempts_ = 0;  // grpc-previous-rpc-attempts
  bool trailers_only_ = false;
  bool has_retry_pushback_ = false;
  std::string retry_pushback_;
  // What the current header block said, parsed as it arrived.
  struct HeaderFields {
    std::string http_status;
    bool grpc_content_type = false;
    std::string content_type;  // only when it is not a gRPC one (for the error message)
    bool have_grpc_status = false;
    std::string grpc_status;
    std::string grpc_message;
    Metadata metadata;
    bool bad_binary = false;
    std::string retry_pushback;  // grpc-retry-pushback-ms (trailers)
  };
  void ProcessTrailers(HeaderFields fields);
  HeaderFields fields_;

  std::shared_ptr<ChannelImpl> channel_;
  std::string method_;
  CallOptions options_;
  bool started_ = false;
  bool half_close_ = false;
  Completion close_send_done_;
  bool got_headers_ = false;
  Completion initial_md_done_;
  Completion status_done_;
  Metadata initial_metadata_;
  Metadata trailing_metadata_;
  Status status_;
  bool status_known_ = false;
  std::atomic<bool> over_{false};
  bool stream_closed_ = false;
  std::unique_ptr<Timer> deadline_timer_;
  std::string peer_;
  mutable std::mutex peer_mu_;
};

class ChannelImpl final : public Channel, private LbPolicy::Helper {
 public:
  // target: one address or DNS name (the fuzz harness makes channels this way); Channel::Create
  // passes the spec it parsed instead.
  ChannelImpl(EventLoop* loop, ParsedTarget target, std::shared_ptr<TlsContext> tls,
              const Options& options);
  ChannelImpl(EventLoop* loop, TargetSpec spec, std::shared_ptr<TlsContext> tls,
              const Options& options);
  ~ChannelImpl() override;

  // The deleter every owner of a ChannelImpl uses. Its last reference may drop inside the
  // channel's own callbacks (a queued call freed from FailWaiting, called by the LB policy, called
  // by a subchannel): the channel is then freed at the end of the loop turn, once those frames
  // have returned, never under them. Off the loop, it is posted there (LoopDeleter).
  struct Deleter {
    EventLoop* loop;
    void operator()(ChannelImpl* p) const {
      if (loop->InLoopThread()) {
        loop->Defer([p] { delete p; });
      } else {
        loop->Post([p] { delete p; });
      }
    }
  };

  // After weak_self is set: the default service config ("grpc.service_config") and the
  // resolver. False with *error if either is unusable (Channel::Create then fails).
  bool Init(std::string* error);

  std::shared_ptr<ClientCall> CreateCall(const std::string& method,
                                         const CallOptions& options) override;
  ConnectivityState GetState(bool try_to_connect) override;
  bool WaitForStateChange(ConnectivityState last, Deadline deadline) override;
  void NotifyOnStateChange(ConnectivityState last, Deadline deadline,
                           std::function<void(bool)> fn) override;
  void Close() override;
  const std::string& target() const override { return target_string_; }

  // Loop thread.
  void StartCall(std::shared_ptr<ClientCallImpl> call);
  // One attempt of a RetryingCall: an ordinary call, without the application handle's
  // cancel-on-drop; previous_attempts > 0 sends grpc-previous-rpc-attempts.
  std::shared_ptr<ClientCallImpl> MakeAttemptCall(const std::string& method,
                                                  const CallOptions& options,
                                                  int previous_attempts, size_t max_recv,
                                                  int64_t max_send);
  EventLoop* loop() const { return loop_; }
  const std::string& authority() const { return authority_; }
  bool tls() const { return tls_ != nullptr; }
  const std::shared_ptr<TlsContext>& tls_context() const { return tls_; }
  const std::string& server_name() const { return server_name_; }
  const Options& options() const { return options_; }
  const std::string& user_agent() const { return user_agent_; }
  Compression default_compression() const { return default_compression_; }
  size_t max_recv() const { return max_recv_; }
  int64_t max_send() const { return max_send_; }
  int busy_poll_us() const { return busy_poll_us_; }
  const Http2Settings& http2_settings() const { return settings_; }
  // Loop thread; for tests: the keepalive interval of the next connection, and how often a
  // too_many_pings GOAWAY has doubled it.
  int64_t keepalive_time_ms() const { return settings_.keepalive_time_ms; }
  int keepalive_backoffs() const { return keepalive_backoffs_; }
  // "grpc.enable_retries" (default 1): calls refused unprocessed are sent again, and the
  // service config's retry and hedging policies apply.
  bool transparent_retries() const { return transparent_retries_; }
  RetryThrottle& retry_throttle() { return throttle_; }

  // Subchannels (loop thread): a GOAWAY arrived on one of their connections (keepalive
  // back-off); a connection that takes no new calls finishes the ones it has here, and closes.
  void OnGoawayReceived(uint32_t error_code, const std::string& debug);
  void AdoptDraining(std::shared_ptr<Http2Connection> conn, bool send_goaway);
  // A call queued for a connection (waiting_) is over (deadline, cancel): the queue lets go of
  // it, so that a dropped call does not keep the channel (and its reconnecting) alive.
  void ForgetWaiting(ClientCallImpl* call);
  // The resolver's reports (ChannelResolverListener), loop thread.
  void OnResolved(Resolution resolution);
  void OnResolutionError(const std::string& message);

  // Loop thread; for tests and diagnostics.
  std::string lb_policy_name() const { return lb_ ? lb_->name() : ""; }
  std::vector<Subchannel*> subchannels() const {
    return lb_ ? lb_->subchannels() : std::vector<Subchannel*>();
  }
  std::shared_ptr<const ServiceConfig> service_config() const;

  std::weak_ptr<ChannelImpl> weak_self;
  std::string target_string_;
  // Testing (fuzz/client_http2): when set, connections are made over the endpoints it returns
  // (called on the loop thread, instead of connecting a socket). Set before the first call.
  std::function<std::unique_ptr<Endpoint>(EventLoop*)> testing_endpoint_factory;

 private:
  // LbPolicy::Helper
  void UpdateState(ConnectivityState s, const std::string& error) override;
  void RequestReresolution() override;
  std::shared_ptr<Subchannel> CreateSubchannel(const ResolvedAddress& address) override;

  std::shared_ptr<ClientCallImpl> MakeCall(const std::string& method, const CallOptions& options,
                                           size_t max_recv, int64_t max_send);
  void ExitIdle();
  void ApplyServiceConfig(std::shared_ptr<const ServiceConfig> config);
  void OnDrainedClosed(Http2Connection* conn);
  void FailWaiting(const std::string& reason);
  void SetState(ConnectivityState s);
  // Loop thread: runs the watchers (NotifyOnStateChange) that wait for a state other than s.
  void NotifyWatchers(ConnectivityState s);
  void DispatchWaiting();

  EventLoop* loop_;
  std::shared_ptr<Runtime> runtime_;
  TargetSpec spec_;
  std::shared_ptr<TlsContext> tls_;
  Options options_;
  std::string authority_;
  std::string server_name_;
  std::string user_agent_;
  Compression default_compression_ = Compression::kIdentity;
  size_t max_recv_;
  int64_t max_send_;
  int busy_poll_us_ = -1;  // EventLoop::kAutoSpin
  Http2Settings settings_;
  std::string lb_policy_option_;  // "grpc.lb_policy_name"
  bool ignore_resolver_config_ = false;  // "grpc.service_config_disable_resolution"
  std::shared_ptr<const ServiceConfig> default_config_;

  // Loop-thread state.
  std::unique_ptr<Resolver> resolver_;
  bool resolution_started_ = false;
  bool resolution_failed_ = false;
  bool have_addresses_ = false;
  bool reresolve_pending_ = false;
  std::unique_ptr<LbPolicy> lb_;
  bool connecting_wanted_ = false;  // left IDLE: a call or GetState(true) wants a connection
  bool lb_exited_ = false;          // lb_->ExitIdle() called since it last reported IDLE
  std::set<std::shared_ptr<Http2Connection>> draining_;
  std::vector<std::shared_ptr<ClientCallImpl>> waiting_;
  std::string last_error_;
  bool closed_ = false;
  int keepalive_backoffs_ = 0;
  bool transparent_retries_ = true;
  RetryThrottle throttle_;
  struct Watcher {
    ConnectivityState last;
    std::function<void(bool)> fn;
    std::unique_ptr<Timer> timer;  // the deadline, if any
  };
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_watcher_ = 0;
  ConnectivityState loop_state_ = ConnectivityState::IDLE;  // state_, as the loop last set it

  // The service config in force; CreateCall reads it on any thread.
  mutable std::mutex config_mu_;
  std::shared_ptr<const ServiceConfig> config_;
  std::atomic<bool> has_method_configs_{false};

  // State, readable from any thread.
  std::mutex state_mu_;
  std::condition_variable state_cv_;
  ConnectivityState state_ = ConnectivityState::IDLE;
};

}  // namespace polyrpc
