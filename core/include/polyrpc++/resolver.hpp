// Name resolution: how a channel turns its target into addresses (gRPC's naming document,
// docs/channels.md). Built in: "dns" (the default for a target without a scheme), "ipv4",
// "ipv6", "unix" and "unix-abstract". Other schemes come from a ResolverFactory, registered for
// the whole process (RegisterResolverFactory) or given to one channel
// (Options::SetResolverFactory). ManualResolver is a ready-made one the application feeds.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "polyrpc++/options.hpp"

namespace polyrpc {

struct ResolverResult {
  // gRPC address URIs: "ipv4:127.0.0.1:50051", "ipv6:[::1]:50051", "unix:/path",
  // "unix-abstract:name"; bare IP literals with a port ("127.0.0.1:50051", "[::1]:50051") too.
  // No name is looked up: a resolver reports addresses.
  std::vector<std::string> addresses;
  // A service config in JSON (docs/channels.md). Empty: none from the resolver, so the channel's
  // "grpc.service_config" option (or nothing) applies.
  std::string service_config_json;
};

// The channel's side of a resolver: where it reports. Thread-safe; reports that reach a channel
// after it was closed or destroyed are dropped.
class ResolverListener {
 public:
  virtual ~ResolverListener() = default;
  // Replaces the channel's addresses (and its service config). Returns false with *error,
  // changing nothing, when no address parses or the service config is invalid (gRPC also keeps
  // what it had then).
  virtual bool Update(const ResolverResult& result, std::string* error = nullptr) = 0;
  // Resolution failed. A channel that has no addresses yet goes TRANSIENT_FAILURE: its calls
  // fail with UNAVAILABLE and this message (wait_for_ready calls wait). One that has addresses
  // keeps using them.
  virtual void Fail(const std::string& message) = 0;
};

struct ResolverArgs {
  std::string target;     // as given to Channel::Create
  std::string scheme;     // "myscheme" for "myscheme://auth/endpoint"
  std::string authority;  // "auth"; empty without "//"
  std::string endpoint;   // "endpoint" (after "scheme:" or "scheme://authority/")
  std::shared_ptr<ResolverListener> listener;
  const Options* options = nullptr;  // the channel's; valid during ResolverFactory::Create only
};

// One channel's resolver, made by a ResolverFactory.
class Resolver {
 public:
  // The channel is done with it (closed or destroyed); runs on the channel's I/O thread.
  virtual ~Resolver() = default;
  // The channel wants addresses: when it first needs a connection, and again after it lost one
  // or failed to connect to every address. Runs on the channel's I/O thread and must not block;
  // the answer may come later, from any thread, through the listener. A resolver may rate-limit
  // (the dns resolver re-resolves at most every "grpc.dns_min_time_between_resolutions_ms").
  virtual void RequestResolution() = 0;
};

class ResolverFactory {
 public:
  virtual ~ResolverFactory() = default;
  // The URI scheme this factory resolves, without the colon ("myscheme").
  virtual std::string scheme() const = 0;
  // Makes the resolver of one channel, on the thread creating it. Null with *error set: the
  // channel is not created (Channel::Create returns null with that error).
  virtual std::unique_ptr<Resolver> Create(const ResolverArgs& args, std::string* error) = 0;
};

// Registers factory for its scheme, for every channel created afterwards in the process, in
// place of one registered before for that scheme. The built-in schemes cannot be replaced
// (returns false). Thread-safe.
bool RegisterResolverFactory(std::shared_ptr<ResolverFactory> factory);

// A resolver the application feeds, like grpc-go's manual resolver: every channel created with a
// target of its scheme (and this factory, registered or in its options) gets the addresses last
// set, and each later SetResult. Thread-safe.
class ManualResolver final : public ResolverFactory,
                             public std::enable_shared_from_this<ManualResolver> {
 public:
  explicit ManualResolver(std::string scheme) : scheme_(std::move(scheme)) {}
  std::string scheme() const override { return scheme_; }
  std::unique_ptr<Resolver> Create(const ResolverArgs& args, std::string* error) override;

  // Reports result to the channels using this resolver now, and to those that start later.
  // Returns false with *error (nothing changes) if no address parses or the service config is
  // invalid.
  bool SetResult(const ResolverResult& result, std::string* error = nullptr);
  // Reports a resolution failure (see ResolverListener::Fail); forgets the last result.
  void SetError(const std::string& message);
  // fn runs whenever one of the channels asks for resolution (Resolver::RequestResolution), on
  // that channel's I/O thread, without a lock held; it must not block. Replaces the previous fn.
  void OnResolutionRequest(std::function<void()> fn);
  // How many times channels asked (for tests and diagnostics).
  int resolution_requests() const;

 private:
  class Instance;
  void Remove(Instance* instance);
  void Requested();
  const std::string scheme_;
  mutable std::mutex mu_;
  std::vector<Instance*> instances_;  // live resolvers (one per channel), under mu_
  bool have_result_ = false;
  ResolverResult result_;
  std::string error_;
  std::shared_ptr<std::function<void()>> on_request_;
  int requests_ = 0;
};

}  // namespace polyrpc
