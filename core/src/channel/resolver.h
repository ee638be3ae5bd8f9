// The channel's name resolution: which resolver a target gets (gRPC's naming document), the
// built-in ones (static address lists for ipv4:, ipv6:, unix:, unix-abstract: and IP literals;
// dns: through getaddrinfo, or a named DNS server and TXT records through transport/dns.h), and
// the listener through which every resolver, built in or the application's, reports to its
// channel. Results reach the channel on its loop thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "channel/service_config.h"
#include "polyrpc++/resolver.hpp"
#include "runtime/event_loop.h"
#include "transport/address.h"

namespace polyrpc {

class ChannelImpl;

// What a resolution produced, as the channel takes it.
struct Resolution {
  std::vector<ResolvedAddress> addresses;
  // From the resolver (TXT record, a custom resolver); null: none, the default applies.
  std::shared_ptr<const ServiceConfig> service_config;
};

// The listener of one channel. Thread-safe; reports hop to the channel's loop and are dropped
// once the channel is gone.
class ChannelResolverListener final : public ResolverListener {
 public:
  ChannelResolverListener(EventLoop* loop, std::weak_ptr<ChannelImpl> channel)
      : loop_(loop), channel_(std::move(channel)) {}
  bool Update(const ResolverResult& result, std::string* error) override;
  void Fail(const std::string& message) override;
  // Built-in resolvers, any thread.
  void Deliver(Resolution resolution);

 private:
  EventLoop* loop_;
  std::weak_ptr<ChannelImpl> channel_;
};

// How a channel resolves its target.
struct TargetSpec {
  enum Kind { kStatic, kDns, kCustom };
  Kind kind = kDns;
  std::vector<ResolvedAddress> addresses;  // kStatic
  std::string host;                        // kDns (no brackets)
  int port = 443;
  std::string dns_server;                  // kDns: "dns://<this>/..." (empty: the system's)
  std::shared_ptr<ResolverFactory> factory;  // kCustom
  TargetUri uri;
  // Defaults for the channel: :authority and the name TLS verifies.
  std::string authority;
  std::string server_name;
  bool unix_socket = false;
};

// Parses target for a channel with options. False with *error for malformed targets and
// address lists.
bool ParseChannelTarget(const std::string& target, const Options& options, TargetSpec* out,
                        std::string* error);
// The same spec for a target parsed with ParseTarget (one address or DNS name).
TargetSpec SpecFromParsedTarget(const ParsedTarget& t);

// Makes the resolver of a channel. kCustom calls the factory (which may fail: null, *error).
std::unique_ptr<Resolver> CreateResolver(const TargetSpec& spec, const std::string& target,
                                         const Options& options, EventLoop* loop,
                                         std::shared_ptr<ChannelResolverListener> listener,
                                         std::string* error);

// DNS TXT: the service config in gRPC's "grpc_config=" records (a JSON array of choices, the
// first that applies to this client wins). Null with *error empty if no choice applies.
std::shared_ptr<const ServiceConfig> ServiceConfigFromTxt(const std::vector<std::string>& txt,
                                                          std::string* error);

}  // namespace polyrpc
