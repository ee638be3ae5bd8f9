// ServiceConfig: gRPC's service config (doc/service_config.md, gRFC A6 for retries and hedging)
// parsed from JSON: the load-balancing policy, per-method settings (timeout, waitForReady,
// message size limits, retry or hedging policy) and retry throttling. Immutable once parsed;
// shared by the channel and its calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "polyrpc++/status.hpp"

namespace polyrpc {

class Json;

// A set of status codes, one bit per code.
inline uint32_t StatusBit(StatusCode c) { return 1u << static_cast<int>(c); }

struct RetryPolicy {
  int max_attempts = 0;  // 2..5, the first attempt included
  int64_t initial_backoff_ns = 0;
  int64_t max_backoff_ns = 0;
  double backoff_multiplier = 0;
  uint32_t retryable_codes = 0;
};

struct HedgingPolicy {
  int max_attempts = 0;  // 2..5
  int64_t hedging_delay_ns = 0;
  uint32_t non_fatal_codes = 0;
};

struct MethodConfig {
  int64_t timeout_ns = -1;      // -1: none
  int wait_for_ready = -1;      // -1: not set, else 0 or 1
  int64_t max_request_bytes = -1;
  int64_t max_response_bytes = -1;
  std::optional<RetryPolicy> retry;
  std::optional<HedgingPolicy> hedging;
};

struct RetryThrottling {
  double max_tokens = 0;  // (0, 1000]
  double token_ratio = 0;  // > 0, three decimals
};

class ServiceConfig {
 public:
  // Parses and checks a service config as gRPC does; null with *error for anything invalid.
  static std::shared_ptr<const ServiceConfig> Parse(std::string_view json, std::string* error);
  // The same from a parsed document (a DNS TXT record's serviceConfig member).
  static std::shared_ptr<const ServiceConfig> FromJson(const Json& root, std::string text,
                                                       std::string* error);

  // The configuration of method ("/package.Service/Method"): its own, else its service's, else
  // the default one (a name with neither service nor method); null if none applies.
  const MethodConfig* Find(std::string_view path) const;
  bool has_method_configs() const { return !configs_.empty(); }
  // The first supported policy of loadBalancingConfig, else loadBalancingPolicy (lowercase);
  // empty if neither is given.
  const std::string& lb_policy() const { return lb_policy_; }
  const std::optional<RetryThrottling>& retry_throttling() const { return throttling_; }
  const std::string& json() const { return json_; }

 private:
  std::string json_;
  std::string lb_policy_;
  std::optional<RetryThrottling> throttling_;
  std::vector<std::shared_ptr<MethodConfig>> configs_;
  // "service/method" (exact), "service/" (whole service), "" (default).
  std::unordered_map<std::string, const MethodConfig*> by_name_;
};

// "1.5s", "0.000000001s", "3s": a protobuf Duration in JSON. False if malformed or negative.
bool ParseJsonDuration(std::string_view s, int64_t* ns);
// The names this LB policy is known by (pick_first, round_robin).
bool IsSupportedLbPolicy(std::string_view name);

}  // namespace polyrpc
