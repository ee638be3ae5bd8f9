// Subchannel: a channel's connection to one resolved address, with its own connectivity state
// (IDLE -> CONNECTING -> READY; a failed connect goes to TRANSIENT_FAILURE for gRPC's backoff,
// then IDLE again; a lost connection goes to IDLE) and its own backoff. The load-balancing
// policy (lb_policy.h) owns its subchannels and decides when each connects. A subchannel lives on
// its channel's loop, like every connection of the channel, so a blocked caller that drives the
// channel's loop (IoDriver) runs the I/O of whichever subchannel its call was sent on.
// Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "http2/connection.h"
#include "polyrpc++/channel.hpp"
#include "runtime/timer.h"
#include "transport/address.h"
#include "transport/connector.h"

namespace polyrpc {

class ChannelImpl;

class Subchannel : public std::enable_shared_from_this<Subchannel> {
 public:
  // Runs on every state change (after the subchannel's own state is updated).
  using Watcher = std::function<void(Subchannel*, ConnectivityState)>;

  Subchannel(ChannelImpl* channel, ResolvedAddress address);
  ~Subchannel();
  Subchannel(const Subchannel&) = delete;
  Subchannel& operator=(const Subchannel&) = delete;

  void set_watcher(Watcher w) { watcher_ = std::move(w); }
  // Starts connecting if IDLE; no effect in any other state.
  void RequestConnection();
  // The policy is done with it: the attempt and timers stop, no more watcher calls; a live
  // connection is handed to the channel to finish its calls (client GOAWAY) and close.
  void Orphan();

  ConnectivityState state() const { return state_; }
  // The connection new calls may use: non-null only while READY.
  const std::shared_ptr<Http2Connection>* ready_connection() const {
    return state_ == ConnectivityState::READY ? &conn_ : nullptr;
  }
  const ResolvedAddress& address() const { return address_; }
  const std::string& last_error() const { return last_error_; }

 private:
  void OnConnected(int fd, const std::string& peer, const std::string& error);
  void UseEndpoint(std::unique_ptr<Endpoint> ep);
  void OnConnReady(Http2Connection* conn);
  void OnConnClosed(Http2Connection* conn, const std::string& reason);
  void OnConnGoaway(Http2Connection* conn, uint32_t error_code, const std::string& debug);
  void Fail(const std::string& reason);
  void SetState(ConnectivityState s);

  ChannelImpl* channel_;  // owns the policy that owns this subchannel
  EventLoop* loop_;
  ResolvedAddress address_;
  Watcher watcher_;
  ConnectivityState state_ = ConnectivityState::IDLE;
  std::shared_ptr<Http2Connection> conn_;
  std::shared_ptr<ConnectAttempt> attempt_;
  Timer backoff_timer_;
  double backoff_ms_;
  std::string last_error_;
  bool orphaned_ = false;
};

}  // namespace polyrpc
