// ChannelImpl and ClientCallImpl: the client side. A channel lives on one loop; all its calls and
// its connection run there. The channel keeps at most one active connection (plus connections
// draining after a GOAWAY) and reconnects with gRPC's connection backoff.
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>

#include "call/call_base.h"
#include "runtime/object_pool.h"
#include "polyrpc++/channel.hpp"
#include "transport/address.h"
#include "transport/connector.h"
#include "transport/tls_context.h"

namespace polyrpc {

class ChannelImpl;

class ClientCallImpl final : public ClientCall, public CallBase {
 public:
  POLYRPC_POOLED_CLASS(ClientCallImpl)

  ClientCallImpl(std::shared_ptr<ChannelImpl> channel, std::string method, CallOptions options);
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
  bool OnOutputDrained(uint32_t* data_flags) override;
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

class ChannelImpl final : public Channel {
 public:
  ChannelImpl(EventLoop* loop, ParsedTarget target, std::shared_ptr<TlsContext> tls,
              const Options& options);
  ~ChannelImpl() override;

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
  EventLoop* loop() const { return loop_; }
  const std::string& authority() const { return authority_; }
  bool tls() const { return tls_ != nullptr; }
  const Options& options() const { return options_; }
  const std::string& user_agent() const { return user_agent_; }
  Compression default_compression() const { return default_compression_; }
  size_t max_recv() const { return max_recv_; }
  int64_t max_send() const { return max_send_; }
  int busy_poll_us() const { return busy_poll_us_; }

  std::weak_ptr<ChannelImpl> weak_self;
  std::string target_string_;

 private:
  void Connect();
  void OnConnected(int fd, const std::string& peer, const std::string& error);
  void OnConnReady(Http2Connection* conn);
  void OnConnClosed(Http2Connection* conn, const std::string& reason);
  void OnConnGoaway(Http2Connection* conn);
  void TransientFailure(const std::string& reason);
  void SetState(ConnectivityState s);
  void DispatchWaiting();

  EventLoop* loop_;
  std::shared_ptr<Runtime> runtime_;
  ParsedTarget target_;
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

  // Loop-thread state.
  std::shared_ptr<Http2Connection> conn_;
  bool conn_ready_ = false;
  std::set<std::shared_ptr<Http2Connection>> draining_;
  std::shared_ptr<ConnectAttempt> attempt_;
  std::vector<std::shared_ptr<ClientCallImpl>> waiting_;
  std::unique_ptr<Timer> backoff_timer_;
  double backoff_ms_;
  std::string last_error_;
  bool closed_ = false;

  // State, readable from any thread.
  std::mutex state_mu_;
  std::condition_variable state_cv_;
  ConnectivityState state_ = ConnectivityState::IDLE;
};

}  // namespace polyrpc
