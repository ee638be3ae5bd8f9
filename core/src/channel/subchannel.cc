#include "channel/subchannel.h"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "channel/channel_impl.h"
#include "transport/endpoint.h"

namespace polyrpc {

namespace {
double Jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(-0.2, 0.2)(rng);
}
}  // namespace

Subchannel::Subchannel(ChannelImpl* channel, ResolvedAddress address)
    : channel_(channel),
      loop_(channel->loop()),
      address_(std::move(address)),
      backoff_timer_(channel->loop()) {
  backoff_ms_ = static_cast<double>(
      channel_->options().GetInt("grpc.initial_reconnect_backoff_ms", 1000));
}

Subchannel::~Subchannel() {
  if (attempt_) attempt_->Cancel();
  if (conn_) conn_->Close("Channel destroyed");
}

void Subchannel::SetState(ConnectivityState s) {
  if (state_ == s) return;
  state_ = s;
  if (orphaned_ || !watcher_) return;
  // A copy: the policy may orphan this subchannel (clearing watcher_) from inside the call.
  Watcher w = watcher_;
  w(this, s);
}

void Subchannel::RequestConnection() {
  if (orphaned_ || state_ != ConnectivityState::IDLE || attempt_) return;
  SetState(ConnectivityState::CONNECTING);
  if (channel_->testing_endpoint_factory) {
    UseEndpoint(channel_->testing_endpoint_factory(loop_));
    return;
  }
  int timeout = static_cast<int>(channel_->options().GetInt("grpc.min_reconnect_backoff_ms", 20000));
  std::weak_ptr<Subchannel> weak = weak_from_this();
  attempt_ = StartConnect(loop_, address_, timeout,
                          [weak](int fd, std::string peer, std::string error) {
                            if (auto self = weak.lock()) {
                              self->OnConnected(fd, peer, error);
                            } else if (fd >= 0) {
                              ::close(fd);
                            }
                          });
}

void Subchannel::Orphan() {
  if (orphaned_) return;
  orphaned_ = true;
  watcher_ = nullptr;
  if (attempt_) attempt_->Cancel();
  attempt_ = nullptr;
  backoff_timer_.Stop();
  if (conn_) {
    channel_->AdoptDraining(std::move(conn_), /*send_goaway=*/true);
    conn_ = nullptr;
  }
  // A callback in flight (it holds a reference) may outlive the channel: it must not reach it.
  channel_ = nullptr;
}

void Subchannel::OnConnected(int fd, const std::string& peer, const std::string& error) {
  attempt_ = nullptr;
  if (orphaned_) {
    if (fd >= 0) ::close(fd);
    return;
  }
  if (fd < 0) {
    Fail("failed to connect to " + channel_->target() + " (" + address_.name + "): " + error);
    return;
  }
  std::string err;
  auto ep = CreateEndpoint(loop_, fd, peer, channel_->tls_context(), false,
                           channel_->server_name(), &err);
  if (!ep) {
    Fail(err);
    return;
  }
  UseEndpoint(std::move(ep));
}

void Subchannel::UseEndpoint(std::unique_ptr<Endpoint> ep) {
  std::shared_ptr<Http2Connection> conn(
      new Http2Connection(std::move(ep), false, channel_->http2_settings()), LoopDeleter{loop_});
  Http2Connection* raw = conn.get();
  std::weak_ptr<Subchannel> weak = weak_from_this();
  conn->set_on_ready([weak, raw] {
    if (auto self = weak.lock()) self->OnConnReady(raw);
  });
  conn->set_on_closed([weak, raw](const std::string& reason) {
    if (auto self = weak.lock()) self->OnConnClosed(raw, reason);
  });
  conn->set_on_goaway([weak, raw](uint32_t error_code, const std::string& debug) {
    if (auto self = weak.lock()) self->OnConnGoaway(raw, error_code, debug);
  });
  conn_ = conn;
  conn->Start();
}

void Subchannel::OnConnReady(Http2Connection* conn) {
  if (conn != conn_.get() || orphaned_) return;
  backoff_ms_ = static_cast<double>(
      channel_->options().GetInt("grpc.initial_reconnect_backoff_ms", 1000));
  SetState(ConnectivityState::READY);
}

void Subchannel::OnConnClosed(Http2Connection* conn, const std::string& reason) {
  if (conn != conn_.get()) return;
  bool was_ready = state_ == ConnectivityState::READY;
  // Keep the object alive until this callback returns.
  std::shared_ptr<Http2Connection> keep = std::move(conn_);
  conn_ = nullptr;
  loop_->Defer([keep] {});
  if (orphaned_) return;
  if (was_ready) {
    SetState(ConnectivityState::IDLE);
  } else {
    Fail(reason);
  }
}

void Subchannel::OnConnGoaway(Http2Connection* conn, uint32_t error_code,
                              const std::string& debug) {
  if (orphaned_) return;  // the channel took the connection over (AdoptDraining)
  channel_->OnGoawayReceived(error_code, debug);
  if (conn != conn_.get()) return;
  // The connection finishes the calls it has; new calls need a new one.
  channel_->AdoptDraining(std::move(conn_), /*send_goaway=*/false);
  conn_ = nullptr;
  if (orphaned_) return;
  SetState(ConnectivityState::IDLE);
}

void Subchannel::Fail(const std::string& reason) {
  last_error_ = reason;
  double max_backoff = static_cast<double>(
      channel_->options().GetInt("grpc.max_reconnect_backoff_ms", 120000));
  double delay = backoff_ms_ * (1.0 + Jitter());
  backoff_ms_ = std::min(backoff_ms_ * 1.6, max_backoff);
  std::weak_ptr<Subchannel> weak = weak_from_this();
  backoff_timer_.Start(static_cast<uint64_t>(delay), [weak] {
    auto self = weak.lock();
    if (!self || self->orphaned_) return;
    self->SetState(ConnectivityState::IDLE);
  });
  SetState(ConnectivityState::TRANSIENT_FAILURE);
}

}  // namespace polyrpc
