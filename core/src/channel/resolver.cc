#include "channel/resolver.h"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include "channel/channel_impl.h"
#include "protocol/json.h"
#include "runtime/timer.h"
#include "transport/dns.h"

namespace polyrpc {

// ---- the registry ------------------------------------------------------------------------------

namespace {

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::shared_ptr<ResolverFactory>>& Registry() {
  static auto* r = new std::map<std::string, std::shared_ptr<ResolverFactory>>();
  return *r;
}

bool IsBuiltinScheme(const std::string& s) {
  return s == "dns" || s == "ipv4" || s == "ipv6" || s == "unix" || s == "unix-abstract";
}

std::shared_ptr<ResolverFactory> FindFactory(const std::string& scheme, const Options& options) {
  if (const auto& f = options.resolver_factory(); f && f->scheme() == scheme) return f;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(scheme);
  return it == Registry().end() ? nullptr : it->second;
}

double Jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(-0.2, 0.2)(rng);
}

}  // namespace

bool RegisterResolverFactory(std::shared_ptr<ResolverFactory> factory) {
  if (!factory) return false;
  std::string scheme = factory->scheme();
  if (scheme.empty() || IsBuiltinScheme(scheme)) return false;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry()[scheme] = std::move(factory);
  return true;
}

// ---- the listener ------------------------------------------------------------------------------

namespace {

bool ParseAddressList(const std::vector<std::string>& in, std::vector<ResolvedAddress>* out,
                      std::string* error) {
  std::string first_error;
  for (const std::string& a : in) {
    ResolvedAddress ra;
    std::string err;
    if (ParseResolvedAddress(a, &ra, &err)) {
      out->push_back(std::move(ra));
    } else if (first_error.empty()) {
      first_error = err;
    }
  }
  if (out->empty()) {
    *error = in.empty() ? "the resolver reported no address" : "no usable address: " + first_error;
    return false;
  }
  return true;
}

}  // namespace

bool ChannelResolverListener::Update(const ResolverResult& result, std::string* error) {
  std::string err;
  Resolution r;
  if (!ParseAddressList(result.addresses, &r.addresses, &err)) {
    if (error) *error = err;
    return false;
  }
  if (!result.service_config_json.empty()) {
    r.service_config = ServiceConfig::Parse(result.service_config_json, &err);
    if (!r.service_config) {
      if (error) *error = err;
      return false;
    }
  }
  Deliver(std::move(r));
  return true;
}

void ChannelResolverListener::Fail(const std::string& message) {
  loop_->RunOrPost([weak = channel_, message] {
    if (auto ch = weak.lock()) ch->OnResolutionError(message);
  });
}

void ChannelResolverListener::Deliver(Resolution resolution) {
  loop_->RunOrPost([weak = channel_, r = std::move(resolution)]() mutable {
    if (auto ch = weak.lock()) ch->OnResolved(std::move(r));
  });
}

// ---- targets -----------------------------------------------------------------------------------

namespace {

std::string HostPortAuthority(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool ParseIpList(const TargetUri& uri, int family, TargetSpec* out, std::string* error) {
  if (uri.has_authority && !uri.authority.empty()) {
    *error = uri.scheme + ": targets take no authority";
    return false;
  }
  std::string_view rest = uri.endpoint;
  if (rest.empty()) {
    *error = "empty address list";
    return false;
  }
  std::string first_host;
  int first_port = 0;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    std::string host;
    int port = 0;
    if (!SplitHostPort(one, 443, &host, &port, error)) return false;
    ResolvedAddress a;
    if (!MakeIpAddress(host, port, &a) || a.sa()->sa_family != family) {
      *error = "'" + host + "' is not an " + (family == AF_INET ? "IPv4" : "IPv6") + " address";
      return false;
    }
    if (out->addresses.empty()) {
      first_host = host;
      first_port = port;
    }
    out->addresses.push_back(std::move(a));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  out->kind = TargetSpec::kStatic;
  // gRPC's default authority is the URI's path: the whole list when there are several.
  out->authority = out->addresses.size() == 1 ? HostPortAuthority(first_host, first_port)
                                              : uri.endpoint;
  out->server_name = first_host;
  return true;
}

bool ParseDnsTarget(std::string_view hostport, TargetSpec* out, std::string* error) {
  if (hostport.empty()) {
    *error = "missing host";
    return false;
  }
  std::string host;
  int port = 443;
  if (!SplitHostPort(hostport, 443, &host, &port, error)) return false;
  if (host.empty()) {
    *error = "missing host";
    return false;
  }
  out->host = host;
  out->port = port;
  out->authority = HostPortAuthority(host, port);
  out->server_name = host;
  ResolvedAddress a;
  if (MakeIpAddress(host, port, &a)) {  // an IP literal needs no lookup
    out->kind = TargetSpec::kStatic;
    out->addresses.push_back(std::move(a));
  } else {
    out->kind = TargetSpec::kDns;
  }
  return true;
}

}  // namespace

bool ParseChannelTarget(const std::string& target, const Options& options, TargetSpec* out,
                        std::string* error) {
  *out = TargetSpec();
  if (target.empty()) {
    *error = "empty target";
    return false;
  }
  TargetUri uri;
  bool has_scheme = SplitTargetUri(target, &uri);
  out->uri = uri;
  if (has_scheme && !IsBuiltinScheme(uri.scheme)) {
    if (auto f = FindFactory(uri.scheme, options)) {
      out->kind = TargetSpec::kCustom;
      out->factory = std::move(f);
      // gRPC's default authority: the URI's path.
      out->authority = uri.endpoint.empty() ? uri.scheme : uri.endpoint;
      std::string host;
      int port = 0;
      std::string ignored;
      out->server_name = SplitHostPort(out->authority, 443, &host, &port, &ignored)
                             ? host : out->authority;
      return true;
    }
  }
  if (has_scheme && (uri.scheme == "ipv4" || uri.scheme == "ipv6")) {
    return ParseIpList(uri, uri.scheme == "ipv4" ? AF_INET : AF_INET6, out, error);
  }
  if (has_scheme && (uri.scheme == "unix" || uri.scheme == "unix-abstract")) {
    ResolvedAddress a;
    if (!ParseResolvedAddress(target, &a, error)) return false;
    out->kind = TargetSpec::kStatic;
    out->addresses.push_back(std::move(a));
    out->authority = "localhost";
    out->server_name = "localhost";
    out->unix_socket = true;
    return true;
  }
  if (has_scheme && uri.scheme == "dns") {
    if (!uri.authority.empty()) {
      // dns://server[:port]/name: ask that server (an IP literal; port 53 by default).
      std::string host;
      int port = 53;
      ResolvedAddress server;
      if (!SplitHostPort(uri.authority, 53, &host, &port, error) ||
          !MakeIpAddress(host, port, &server)) {
        *error = "dns authority '" + uri.authority + "' must be an IP address with an optional port";
        return false;
      }
      out->dns_server = uri.authority;
    }
    std::string_view hp = uri.endpoint;
    if (!ParseDnsTarget(hp, out, error)) {
      *error = "malformed dns target '" + target + "': " + *error;
      return false;
    }
    return true;
  }
  // No scheme, or one nobody resolves: the whole target is a DNS name (gRPC: "dns:///" + target).
  if (!ParseDnsTarget(target, out, error)) {
    *error = "malformed target '" + target + "': " + *error;
    return false;
  }
  return true;
}

TargetSpec SpecFromParsedTarget(const ParsedTarget& t) {
  TargetSpec s;
  s.authority = t.authority;
  if (t.kind == ParsedTarget::kUnix || t.kind == ParsedTarget::kUnixAbstract) {
    ResolvedAddress a;
    std::string err;
    std::string uri = (t.kind == ParsedTarget::kUnix ? "unix:" : "unix-abstract:") + t.path;
    if (ParseResolvedAddress(uri, &a, &err)) s.addresses.push_back(std::move(a));
    s.kind = TargetSpec::kStatic;
    s.server_name = "localhost";
    s.unix_socket = true;
    return s;
  }
  s.host = t.host;
  s.port = t.port;
  s.server_name = t.host;
  ResolvedAddress a;
  if (MakeIpAddress(t.host, t.port, &a)) {
    s.kind = TargetSpec::kStatic;
    s.addresses.push_back(std::move(a));
  } else {
    s.kind = TargetSpec::kDns;
  }
  return s;
}

// ---- service config in DNS TXT -----------------------------------------------------------------

std::shared_ptr<const ServiceConfig> ServiceConfigFromTxt(const std::vector<std::string>& txt,
                                                          std::string* error) {
  error->clear();
  static constexpr std::string_view kPrefix = "grpc_config=";
  std::string text;
  for (const std::string& t : txt) {
    if (t.compare(0, kPrefix.size(), kPrefix) == 0) text += t.substr(kPrefix.size());
  }
  if (text.empty()) return nullptr;
  Json choices;
  if (!Json::Parse(text, &choices, error)) {
    *error = "service config in DNS: " + *error;
    return nullptr;
  }
  if (!choices.is_array()) {
    *error = "service config in DNS: expected an array of choices";
    return nullptr;
  }
  char hostname[256] = {0};
  gethostname(hostname, sizeof hostname - 1);
  thread_local std::mt19937 rng{std::random_device{}()};
  for (const Json& c : choices.array()) {
    if (!c.is_object()) {
      *error = "service config in DNS: a choice is not an object";
      return nullptr;
    }
    if (const Json* langs = c.Find("clientLanguage")) {
      bool match = false;
      for (const Json& l : langs->array()) {
        if (l.is_string() && (l.string_value() == "c++" || l.string_value() == "polyrpc")) {
          match = true;
        }
      }
      if (!match) continue;
    }
    if (const Json* hosts = c.Find("clientHostname")) {
      bool match = false;
      for (const Json& h : hosts->array()) {
        if (h.is_string() && h.string_value() == hostname) match = true;
      }
      if (!match) continue;
    }
    if (const Json* pct = c.Find("percentage")) {
      if (!pct->is_number()) continue;
      if (static_cast<double>(rng() % 100) >= pct->number()) continue;
    }
    const Json* sc = c.Find("serviceConfig");
    if (sc == nullptr) {
      *error = "service config in DNS: a choice without serviceConfig";
      return nullptr;
    }
    return ServiceConfig::FromJson(*sc, "", error);
  }
  return nullptr;
}

// ---- built-in resolvers ------------------------------------------------------------------------

namespace {

class StaticResolver final : public Resolver {
 public:
  StaticResolver(std::vector<ResolvedAddress> addresses,
                 std::shared_ptr<ChannelResolverListener> listener)
      : addresses_(std::move(addresses)), listener_(std::move(listener)) {}
  void RequestResolution() override {
    Resolution r;
    r.addresses = addresses_;
    listener_->Deliver(std::move(r));
  }

 private:
  std::vector<ResolvedAddress> addresses_;
  std::shared_ptr<ChannelResolverListener> listener_;
};

// The dns resolver's state, shared with the lookups and timers in flight (they outlive the
// Resolver handle if the channel goes away mid-lookup).
class DnsResolverCore : public std::enable_shared_from_this<DnsResolverCore> {
 public:
  DnsResolverCore(EventLoop* loop, const TargetSpec& spec, const Options& options,
                  std::shared_ptr<ChannelResolverListener> listener)
      : loop_(loop),
        host_(spec.host),
        port_(spec.port),
        listener_(std::move(listener)),
        timer_(loop) {
    min_interval_ms_ = options.GetInt("grpc.dns_min_time_between_resolutions_ms", 30000);
    // The service config in TXT records costs a DNS query per resolution and is rarely
    // published: looked up only when asked for ("polyrpc.dns_enable_txt_lookup"), never when
    // the channel ignores resolver configs ("grpc.service_config_disable_resolution").
    txt_ = options.GetInt("polyrpc.dns_enable_txt_lookup", 0) != 0 &&
           options.GetInt("grpc.service_config_disable_resolution", 0) == 0;
    query_timeout_ms_ = static_cast<int>(options.GetInt("polyrpc.dns_query_timeout_ms", 1000));
    initial_backoff_ms_ = static_cast<double>(options.GetInt("grpc.initial_reconnect_backoff_ms", 1000));
    backoff_ms_ = initial_backoff_ms_;
    max_backoff_ms_ = static_cast<double>(options.GetInt("grpc.max_reconnect_backoff_ms", 120000));
    if (!spec.dns_server.empty()) {
      std::string host;
      int port = 53;
      std::string err;
      ResolvedAddress a;
      if (SplitHostPort(spec.dns_server, 53, &host, &port, &err) && MakeIpAddress(host, port, &a)) {
        servers_.push_back(std::move(a));
      }
      named_server_ = true;
    }
  }

  void Shutdown() {
    shut_ = true;
    timer_.Close();
    for (auto& q : queries_) q->Cancel();
    queries_.clear();
  }

  // Loop thread.
  void Request() {
    if (shut_ || in_flight_) return;
    if (timer_pending_) return;  // a rate-limited or backed-off resolution is scheduled
    auto now = Clock::now();
    if (resolved_once_ && !last_failed_) {
      auto next = last_ + std::chrono::milliseconds(min_interval_ms_);
      if (now < next) {
        ScheduleAt(next);
        return;
      }
    }
    Start();
  }

 private:
  void ScheduleAt(Clock::time_point when) {
    timer_pending_ = true;
    std::weak_ptr<DnsResolverCore> weak = shared_from_this();
    timer_.StartAt(when, [weak] {
      auto self = weak.lock();
      if (!self || self->shut_) return;
      self->timer_pending_ = false;
      self->Start();
    });
  }

  void Start() {
    if (shut_ || in_flight_) return;
    in_flight_ = true;
    pending_ = 0;
    result_ = Resolution();
    lookup_error_.clear();
    got_addresses_ = false;
    std::weak_ptr<DnsResolverCore> weak = shared_from_this();
    if (named_server_ || txt_) {
      if (!named_server_ && servers_.empty()) servers_ = SystemNameservers();
    }
    if (named_server_) {
      if (servers_.empty()) {
        Done("no usable DNS server");
        return;
      }
      for (uint16_t type : {kDnsA, kDnsAaaa}) {
        ++pending_;
        queries_.push_back(StartDnsQuery(loop_, servers_[0], host_, type, port_,
                                         query_timeout_ms_,
                                         [weak](std::string error, DnsAnswer answer) {
                                           if (auto s = weak.lock()) {
                                             s->OnAnswer(std::move(error), std::move(answer));
                                           }
                                         }));
      }
    } else {
      ++pending_;
      StartGetaddrinfo();
    }
    if (txt_ && !servers_.empty()) {
      ++pending_;
      queries_.push_back(StartDnsQuery(loop_, servers_[0], "_grpc_config." + host_, kDnsTxt,
                                       port_, query_timeout_ms_,
                                       [weak](std::string error, DnsAnswer answer) {
                                         if (auto s = weak.lock()) {
                                           s->OnTxt(std::move(error), std::move(answer));
                                         }
                                       }));
    }
  }

  struct AddrInfoBox {
    uv_getaddrinfo_t req;
    std::shared_ptr<DnsResolverCore> owner;
  };

  void StartGetaddrinfo() {
    auto box = std::make_unique<AddrInfoBox>();
    box->owner = shared_from_this();
    box->req.data = box.get();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    std::string port = std::to_string(port_);
    int r = uv_getaddrinfo(loop_->uv(), &box->req, &DnsResolverCore::OnAddrInfo, host_.c_str(),
                           port.c_str(), &hints);
    if (r != 0) {
      box->owner = nullptr;
      lookup_error_ = "cannot resolve " + host_ + ": " + uv_strerror(r);
      OnePartDone();
      return;
    }
    box.release();
  }

  static void OnAddrInfo(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    std::unique_ptr<AddrInfoBox> box(static_cast<AddrInfoBox*>(req->data));
    std::shared_ptr<DnsResolverCore> self = std::move(box->owner);
    if (self->shut_) {
      uv_freeaddrinfo(res);
      return;
    }
    if (status != 0) {
      self->lookup_error_ = "cannot resolve " + self->host_ + ": " + uv_strerror(status);
    } else {
      for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
        ResolvedAddress a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        a.name = SockaddrToPeer(a.sa(), a.len);
        // getaddrinfo without a socket type filter would list each address per protocol.
        bool dup = false;
        for (const auto& b : self->result_.addresses) dup = dup || b.name == a.name;
        if (!dup) self->result_.addresses.push_back(std::move(a));
      }
    }
    uv_freeaddrinfo(res);
    self->OnePartDone();
  }

  void OnAnswer(std::string error, DnsAnswer answer) {
    if (shut_) return;
    if (!error.empty()) {
      lookup_error_ = error;
    } else if (answer.rcode != 0) {
      lookup_error_ = "cannot resolve " + host_ + ": DNS error " + std::to_string(answer.rcode) +
                      (answer.rcode == 3 ? " (no such name)" : "");
    }
    for (auto& a : answer.addresses) result_.addresses.push_back(std::move(a));
    OnePartDone();
  }

  void OnTxt(std::string error, DnsAnswer answer) {
    if (shut_) return;
    // A missing or broken TXT record is no reason to fail: the default config applies.
    if (error.empty() && answer.rcode == 0) {
      std::string err;
      result_.service_config = ServiceConfigFromTxt(answer.txt, &err);
      txt_error_ = err;
    }
    OnePartDone();
  }

  void OnePartDone() {
    if (--pending_ > 0) return;
    queries_.clear();
    if (result_.addresses.empty()) {
      Done(lookup_error_.empty() ? "no addresses for " + host_ : lookup_error_);
      return;
    }
    Done("");
  }

  void Done(const std::string& error) {
    in_flight_ = false;
    resolved_once_ = true;
    last_ = Clock::now();
    if (!error.empty()) {
      last_failed_ = true;
      listener_->Fail(error);
      // Retry with backoff, as gRPC's dns resolver does.
      double delay = backoff_ms_ * (1.0 + Jitter());
      backoff_ms_ = std::min(backoff_ms_ * 1.6, max_backoff_ms_);
      ScheduleAt(Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(delay)));
      return;
    }
    last_failed_ = false;
    backoff_ms_ = initial_backoff_ms_;
    listener_->Deliver(std::move(result_));
    result_ = Resolution();
  }

  EventLoop* loop_;
  std::string host_;
  int port_;
  std::shared_ptr<ChannelResolverListener> listener_;
  Timer timer_;
  bool timer_pending_ = false;
  int64_t min_interval_ms_;
  bool txt_ = false;
  int query_timeout_ms_;
  double initial_backoff_ms_, backoff_ms_, max_backoff_ms_;
  bool named_server_ = false;
  std::vector<ResolvedAddress> servers_;
  std::vector<std::shared_ptr<DnsQuery>> queries_;
  bool shut_ = false;
  bool in_flight_ = false;
  int pending_ = 0;
  bool resolved_once_ = false;
  bool last_failed_ = false;
  Clock::time_point last_;
  Resolution result_;
  std::string lookup_error_;
  std::string txt_error_;
  bool got_addresses_ = false;
};

class DnsResolver final : public Resolver {
 public:
  explicit DnsResolver(std::shared_ptr<DnsResolverCore> core) : core_(std::move(core)) {}
  ~DnsResolver() override { core_->Shutdown(); }
  void RequestResolution() override { core_->Request(); }

 private:
  std::shared_ptr<DnsResolverCore> core_;
};

}  // namespace

std::unique_ptr<Resolver> CreateResolver(const TargetSpec& spec, const std::string& target,
                                         const Options& options, EventLoop* loop,
                                         std::shared_ptr<ChannelResolverListener> listener,
                                         std::string* error) {
  switch (spec.kind) {
    case TargetSpec::kStatic:
      return std::make_unique<StaticResolver>(spec.addresses, std::move(listener));
    case TargetSpec::kDns:
      return std::make_unique<DnsResolver>(
          std::make_shared<DnsResolverCore>(loop, spec, options, std::move(listener)));
    case TargetSpec::kCustom: {
      ResolverArgs args;
      args.target = target;
      args.scheme = spec.uri.scheme;
      args.authority = spec.uri.authority;
      args.endpoint = spec.uri.endpoint;
      args.listener = std::move(listener);
      args.options = &options;
      std::string err;
      auto r = spec.factory->Create(args, &err);
      if (!r) *error = err.empty() ? "the " + spec.uri.scheme + " resolver refused the target" : err;
      return r;
    }
  }
  return nullptr;
}

// ---- ManualResolver ----------------------------------------------------------------------------

class ManualResolver::Instance final : public Resolver {
 public:
  Instance(std::shared_ptr<ManualResolver> owner, std::shared_ptr<ResolverListener> listener)
      : owner_(std::move(owner)), listener_(std::move(listener)) {}
  ~Instance() override { owner_->Remove(this); }
  void RequestResolution() override { owner_->Requested(); }
  const std::shared_ptr<ResolverListener>& listener() const { return listener_; }

 private:
  std::shared_ptr<ManualResolver> owner_;
  std::shared_ptr<ResolverListener> listener_;
};

std::unique_ptr<Resolver> ManualResolver::Create(const ResolverArgs& args, std::string*) {
  auto inst = std::make_unique<Instance>(shared_from_this(), args.listener);
  bool have;
  ResolverResult result;
  std::string error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    instances_.push_back(inst.get());
    have = have_result_;
    result = result_;
    error = error_;
  }
  if (have) {
    args.listener->Update(result);
  } else if (!error.empty()) {
    args.listener->Fail(error);
  }
  return inst;
}

bool ManualResolver::SetResult(const ResolverResult& result, std::string* error) {
  // Checked once here, so that a bad result is refused before any channel sees it.
  std::vector<ResolvedAddress> addrs;
  std::string err;
  if (!ParseAddressList(result.addresses, &addrs, &err)) {
    if (error) *error = err;
    return false;
  }
  if (!result.service_config_json.empty() &&
      !ServiceConfig::Parse(result.service_config_json, &err)) {
    if (error) *error = err;
    return false;
  }
  std::vector<std::shared_ptr<ResolverListener>> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    have_result_ = true;
    result_ = result;
    error_.clear();
    for (Instance* i : instances_) listeners.push_back(i->listener());
  }
  // Outside the lock: on a channel's own I/O thread the update runs inline and may ask for
  // resolution again.
  for (auto& l : listeners) l->Update(result);
  return true;
}

void ManualResolver::SetError(const std::string& message) {
  std::vector<std::shared_ptr<ResolverListener>> listeners;
  std::string error = message.empty() ? "resolution failed" : message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    have_result_ = false;
    result_ = ResolverResult();
    error_ = error;
    for (Instance* i : instances_) listeners.push_back(i->listener());
  }
  for (auto& l : listeners) l->Fail(error);
}

void ManualResolver::OnResolutionRequest(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_request_ = fn ? std::make_shared<std::function<void()>>(std::move(fn)) : nullptr;
}

int ManualResolver::resolution_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void ManualResolver::Remove(Instance* instance) {
  std::lock_guard<std::mutex> lock(mu_);
  instances_.erase(std::remove(instances_.begin(), instances_.end(), instance), instances_.end());
}

void ManualResolver::Requested() {
  std::shared_ptr<std::function<void()>> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    fn = on_request_;
  }
  if (fn) (*fn)();
}

}  // namespace polyrpc
