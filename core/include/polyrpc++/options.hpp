// Channel and server options, with gRPC's channel-argument names so that a grpc user's settings
// carry over unchanged ("grpc.max_receive_message_length", "grpc.keepalive_time_ms", ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace polyrpc {

class ResolverFactory;  // polyrpc++/resolver.hpp

// Recognised integer keys (others are ignored, as grpc ignores unknown channel args):
//   grpc.max_receive_message_length   default 4 MiB; -1 = unlimited
//   grpc.max_send_message_length      default unlimited (-1)
//   grpc.keepalive_time_ms            client default: off; server default: 2 h
//   grpc.keepalive_timeout_ms         default 20 s
//   grpc.keepalive_permit_without_calls           default 0
//   grpc.http2.min_recv_ping_interval_without_data_ms   server: default 5 min
//   grpc.http2.max_ping_strikes       server: default 2 (0 = unlimited)
//   grpc.initial_reconnect_backoff_ms default 1000; grpc.min_reconnect_backoff_ms 20000;
//   grpc.max_reconnect_backoff_ms     default 120000
//   grpc.max_concurrent_streams       server: SETTINGS_MAX_CONCURRENT_STREAMS, default 100 per
//                                     connection (gRPC clients queue calls beyond it); <= 0:
//                                     unlimited
//   polyrpc.max_server_memory         server: memory quota in bytes for everything its peers can
//                                     make it hold (admitted streams, received messages not yet
//                                     taken by the application); default half the physical
//                                     memory; -1: unlimited. Past 7/8 of it new streams are
//                                     refused (REFUSED_STREAM); a call whose incoming message
//                                     does not fit ends with RESOURCE_EXHAUSTED.
//   polyrpc.max_connection_memory     server: the same per connection, default 128 MiB
//   grpc.enable_retries               client: 1 (default) sends a call the server refused
//                                     unprocessed again (transparent retry); 0: never
//   grpc.http2.lookahead_bytes / polyrpc.initial_window_size    per-stream window, default 4 MiB
//   polyrpc.busy_poll_us              client: a thread blocked on a call busy-polls the connection
//                                     for up to this many microseconds (max 10000) before it
//                                     sleeps; 0: never; default -1: adaptive (up to 200 us, only
//                                     while answers come that quickly, never on a thread bound
//                                     to one CPU). Trades CPU for latency: docs/performance.md
// String keys:
//   grpc.ssl_target_name_override     TLS name to verify (and SNI), default: the target host
//   grpc.default_authority            :authority of calls, default: the target
//   grpc.primary_user_agent           prepended to the user-agent
//   grpc.default_compression_algorithm  "identity" | "deflate" | "gzip" (also accepts 0/1/2 as int)
class Options {
 public:
  Options& Set(const std::string& key, int64_t value) {
    ints_[key] = value;
    return *this;
  }
  Options& Set(const std::string& key, const std::string& value) {
    strings_[key] = value;
    return *this;
  }
  int64_t GetInt(const std::string& key, int64_t def) const {
    auto it = ints_.find(key);
    return it == ints_.end() ? def : it->second;
  }
  std::string GetString(const std::string& key, const std::string& def = "") const {
    auto it = strings_.find(key);
    return it == strings_.end() ? def : it->second;
  }
  bool HasInt(const std::string& key) const { return ints_.count(key) != 0; }
  bool HasString(const std::string& key) const { return strings_.count(key) != 0; }
  // Channels: resolves targets of factory's scheme for the channels created with these options
  // (before the process-wide registry; polyrpc++/resolver.hpp).
  Options& SetResolverFactory(std::shared_ptr<ResolverFactory> factory) {
    resolver_factory_ = std::move(factory);
    return *this;
  }
  const std::shared_ptr<ResolverFactory>& resolver_factory() const { return resolver_factory_; }

 private:
  std::shared_ptr<ResolverFactory> resolver_factory_;
  std::map<std::string, int64_t> ints_;
  std::map<std::string, std::string> strings_;
};

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline Deadline InfiniteDeadline() { return Deadline::max(); }
inline Deadline DeadlineAfter(std::chrono::nanoseconds d) { return Clock::now() + d; }

}  // namespace polyrpc
