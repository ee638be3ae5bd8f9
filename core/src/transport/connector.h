// Asynchronous client connect: resolves a parsed target and connects a non-blocking socket on
// an EventLoop, trying each resolved address in order within one overall timeout. The caller
// turns the fd into an Endpoint with CreateEndpoint (on this loop or any other).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/event_loop.h"
#include "transport/address.h"

namespace polyrpc {

// fd >= 0 on success (connected, non-blocking, close-on-exec; the callee owns it) with peer
// ("ipv4:127.0.0.1:50051"); fd < 0 on failure with a readable error.
using ConnectCallback = std::function<void(int fd, std::string peer, std::string error)>;

class ConnectAttempt {
 public:
  virtual ~ConnectAttempt() = default;
  // Stops the attempt; the callback will not run. Loop thread only. No effect once the
  // callback has run.
  virtual void Cancel() = 0;
};

// Starts connecting. May be called from any thread; the work is always posted to loop, so cb
// never runs before StartConnect returns. Names are
// resolved with uv_getaddrinfo, IP literals and Unix paths are used directly. timeout_ms <= 0
// means no timeout. cb runs exactly once on the loop thread, unless cancelled.
std::shared_ptr<ConnectAttempt> StartConnect(EventLoop* loop, const ParsedTarget& target,
                                             int timeout_ms, ConnectCallback cb);

// The same for one address already resolved (a subchannel's): no name lookup.
std::shared_ptr<ConnectAttempt> StartConnect(EventLoop* loop, const ResolvedAddress& address,
                                             int timeout_ms, ConnectCallback cb);

}  // namespace polyrpc
