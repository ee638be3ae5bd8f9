// The gRPC health checking protocol (grpc.health.v1.Health: Check and Watch), served by the
// server itself, with a serving status per service that the application changes at run time.
// What Kubernetes gRPC probes, grpc-health-probe, load balancers and grpc's own health clients
// ask. Enabling it is one line:
//
//   std::shared_ptr<polyrpc::HealthService> health = polyrpc::EnableHealthService(*server);
//   health->SetServingStatus("pkg.Service", polyrpc::ServingStatus::kNotServing);
//
// The handlers run on the I/O threads (no thread pool): a Check is answered from a map under a
// mutex. A Watch gets the current status at once and every change after it; changes that come
// faster than the client reads are coalesced to the latest, as grpc does.
#pragma once

#include <memory>
#include <string>

#include "polyrpc++/server.hpp"

namespace polyrpc {

// grpc.health.v1.HealthCheckResponse.ServingStatus (wire values).
enum class ServingStatus : int {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,  // what Watch reports for a service that has no status
};

class HealthService {
 public:
  virtual ~HealthService() = default;
  // Sets the status of service ("" is the server as a whole) and tells its watchers.
  // Thread-safe; ignored after Shutdown().
  virtual void SetServingStatus(const std::string& service, ServingStatus status) = 0;
  // Sets the status of every service that has one (grpc++'s SetServingStatus(bool)).
  virtual void SetAllServingStatus(ServingStatus status) = 0;
  // Forgets service: Check answers NOT_FOUND, Watch reports SERVICE_UNKNOWN. Thread-safe.
  virtual void ClearServingStatus(const std::string& service) = 0;
  // The status of service; kServiceUnknown if it has none. Thread-safe.
  virtual ServingStatus GetServingStatus(const std::string& service) const = 0;
  // Every service NOT_SERVING from now on (later changes are ignored); each Watch gets that
  // status and then ends with UNAVAILABLE, so that it does not hold a graceful shutdown up.
  // Runs by itself when the server begins to shut down. Thread-safe, idempotent.
  virtual void Shutdown() = 0;
};

// Registers /grpc.health.v1.Health/Check and /grpc.health.v1.Health/Watch on server, before
// Start(). The server as a whole ("") starts SERVING; other services have no status until they
// are given one. The service lives as long as the server or the returned pointer.
std::shared_ptr<HealthService> EnableHealthService(Server& server);

}  // namespace polyrpc
