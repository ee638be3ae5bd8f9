// Channel: a client's connection to one target, created lazily and re-established with gRPC's
// exponential backoff. Thread-safe. Calls keep their channel alive.
#pragma once

#include <memory>
#include <string>

#include "polyrpc++/call.hpp"
#include "polyrpc++/credentials.hpp"
#include "polyrpc++/options.hpp"

namespace polyrpc {

enum class ConnectivityState { IDLE = 0, CONNECTING = 1, READY = 2, TRANSIENT_FAILURE = 3, SHUTDOWN = 4 };
const char* ConnectivityStateName(ConnectivityState s);

class Channel {
 public:
  virtual ~Channel() = default;
  // target: "host:port", "dns:///host:port", "ipv4:1.2.3.4:5", "ipv6:[::1]:5", "unix:/path".
  // Returns nullptr (and *error) for a malformed target or unusable TLS credentials.
  static std::shared_ptr<Channel> Create(const std::string& target,
                                         std::shared_ptr<ChannelCredentials> credentials,
                                         const Options& options = Options(),
                                         std::string* error = nullptr);

  // method: "/package.Service/Method". Never fails: problems surface as the call's status.
  virtual std::shared_ptr<ClientCall> CreateCall(const std::string& method,
                                                 const CallOptions& options) = 0;
  virtual ConnectivityState GetState(bool try_to_connect) = 0;
  // Blocks until the state differs from last (true) or the deadline passes (false).
  virtual bool WaitForStateChange(ConnectivityState last, Deadline deadline) = 0;
  // Asynchronous form: fn(changed) runs on the channel's I/O thread once the state differs
  // from last (true), at the deadline (false), or when the channel is destroyed (false).
  virtual void NotifyOnStateChange(ConnectivityState last, Deadline deadline,
                                   std::function<void(bool changed)> fn) = 0;
  // Cancels every call and refuses new ones (they fail with UNAVAILABLE). Idempotent.
  virtual void Close() = 0;
  virtual const std::string& target() const = 0;
};

}  // namespace polyrpc
