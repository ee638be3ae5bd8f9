// Load-balancing policies: which subchannel (connection) each new call of a channel goes to, and
// the channel's connectivity state as the aggregate of its subchannels'. pick_first (gRPC's
// default) connects to the addresses in order and sends everything to the first that works;
// round_robin connects to all and rotates calls over those READY. Loop thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "channel/subchannel.h"

namespace polyrpc {

class LbPolicy {
 public:
  // The channel's side.
  class Helper {
   public:
    virtual ~Helper() = default;
    // The aggregate state (and what Pick returns) changed. error: why, in TRANSIENT_FAILURE.
    virtual void UpdateState(ConnectivityState s, const std::string& error) = 0;
    // The addresses may be stale (a connection was lost, every address failed).
    virtual void RequestReresolution() = 0;
    virtual std::shared_ptr<Subchannel> CreateSubchannel(const ResolvedAddress& address) = 0;
  };

  virtual ~LbPolicy() = default;
  virtual const char* name() const = 0;
  // New addresses from the resolver; subchannels for addresses kept are kept (with their
  // connections). Connects only once the channel has left IDLE (ExitIdle).
  virtual void UpdateAddresses(const std::vector<ResolvedAddress>& addresses) = 0;
  // A call (or GetState(true)) wants a connection.
  virtual void ExitIdle() = 0;
  // The connection for the next call, or null: queue it until UpdateState.
  virtual const std::shared_ptr<Http2Connection>* Pick() = 0;
  // Subchannels for tests and diagnostics.
  virtual std::vector<Subchannel*> subchannels() const = 0;
};

// name: "pick_first" or "round_robin" (anything else: pick_first).
std::unique_ptr<LbPolicy> CreateLbPolicy(const std::string& name, LbPolicy::Helper* helper);

}  // namespace polyrpc
