// DNS over UDP for the channel's dns resolver, where getaddrinfo cannot serve: a target naming
// its DNS server ("dns://8.8.8.8:53/host:port", gRPC's naming document) and TXT records (gRPC's
// service config in DNS, "_grpc_config.<host>"). Message building and parsing are pure
// functions, tested byte for byte; DnsQuery sends one question on an EventLoop with retries.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/event_loop.h"
#include "transport/address.h"

namespace polyrpc {

enum DnsType : uint16_t { kDnsA = 1, kDnsTxt = 16, kDnsAaaa = 28 };

struct DnsAnswer {
  int rcode = 0;                          // 0 NOERROR, 3 NXDOMAIN, ...
  std::vector<ResolvedAddress> addresses;  // A and AAAA records, with the port asked for
  std::vector<std::string> txt;            // TXT records, each one's strings concatenated
};

// A query for name (absolute; a trailing dot is optional) with id, recursion desired and an
// EDNS0 record offering 4096-byte answers. False if the name is not a valid DNS name.
bool BuildDnsQuery(uint16_t id, std::string_view name, uint16_t type, std::string* out);
// Parses an answer to query id: records of type A/AAAA (as addresses with port) and TXT,
// whatever their owner name (a resolver's answer follows CNAMEs). False on malformed input,
// a wrong id, or a truncated answer.
bool ParseDnsResponse(std::string_view msg, uint16_t id, int port, DnsAnswer* out,
                      std::string* error);

// The nameservers of /etc/resolv.conf (port 53), in order; empty if none is listed.
std::vector<ResolvedAddress> SystemNameservers();

class DnsQuery {
 public:
  virtual ~DnsQuery() = default;
  // Stops the query; the callback will not run. Loop thread only.
  virtual void Cancel() = 0;
};

// error empty: *answer holds the reply (check its rcode).
using DnsCallback = std::function<void(std::string error, DnsAnswer answer)>;

// Asks server one question over UDP, up to 3 tries of timeout_ms each. Starts on the loop (any
// thread may call); cb runs once on the loop thread unless cancelled.
std::shared_ptr<DnsQuery> StartDnsQuery(EventLoop* loop, const ResolvedAddress& server,
                                        std::string name, uint16_t type, int port,
                                        int timeout_ms, DnsCallback cb);

}  // namespace polyrpc
