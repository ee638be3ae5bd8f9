#include "channel/channel_impl.h"

#include <algorithm>
#include <cctype>

#include <unistd.h>

#include <random>

#include "polyrpc++/observability.hpp"
#include "protocol/percent.h"
#include "protocol/status_mapping.h"
#include "protocol/timeout.h"
#include "runtime/small_alloc.h"
#include "transport/endpoint.h"

namespace polyrpc {

namespace {

size_t MaxRecvFromOptions(const Options& o) {
  int64_t v = o.GetInt("grpc.max_receive_message_length", 4 << 20);
  return v < 0 ? SIZE_MAX : static_cast<size_t>(v);
}

Compression CompressionFromOptions(const Options& o) {
  std::string s = o.GetString("grpc.default_compression_algorithm", "");
  if (!s.empty()) return ParseCompression(s);
  switch (o.GetInt("grpc.default_compression_algorithm", 0)) {
    case 1:
      return Compression::kDeflate;
    case 2:
      return Compression::kGzip;
    default:
      return Compression::kIdentity;
  }
}

}  // namespace

const char* ConnectivityStateName(ConnectivityState s) {
  switch (s) {
    case ConnectivityState::IDLE:
      return "IDLE";
    case ConnectivityState::CONNECTING:
      return "CONNECTING";
    case ConnectivityState::READY:
      return "READY";
    case ConnectivityState::TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case ConnectivityState::SHUTDOWN:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

// ---- Channel ---------------------------------------------------------------------------------

std::shared_ptr<Channel> Channel::Create(const std::string& target,
                                         std::shared_ptr<ChannelCredentials> credentials,
                                         const Options& options, std::string* error) {
  std::string err;
  TargetSpec spec;
  if (!ParseChannelTarget(target, options, &spec, &err)) {
    if (error) *error = err;
    return nullptr;
  }
  std::shared_ptr<TlsContext> tls;
  if (credentials && credentials->tls) {
    TlsClientOptions to;
    to.root_certs_pem = credentials->root_certs_pem;
    to.cert_chain_pem = credentials->cert_chain_pem;
    to.private_key_pem = credentials->private_key_pem;
    to.server_name_override = options.GetString("grpc.ssl_target_name_override", "");
    tls = TlsContext::CreateClient(to, &err);
    if (!tls) {
      if (error) *error = err;
      return nullptr;
    }
  }
  auto runtime = Runtime::Get();
  EventLoop* loop = runtime->NextLoop();
  std::shared_ptr<ChannelImpl> ch(new ChannelImpl(loop, std::move(spec), tls, options),
                                  ChannelImpl::Deleter{loop});
  ch->weak_self = ch;
  ch->target_string_ = target;
  if (!ch->Init(&err)) {
    if (error) *error = err;
    return nullptr;
  }
  // The application's handle has a count of its own. When it goes, the loop is woken: the
  // channel's last references may be finished calls waiting, without a wake-up of their own,
  // for the loop's next turn to be freed (PostLazy), and an idle loop may not turn for long.
  ChannelImpl* raw = ch.get();
  return std::shared_ptr<Channel>(raw, [ch = std::move(ch), loop](Channel*) mutable {
    ch.reset();
    loop->Post([] {});
  });
}

ChannelImpl::ChannelImpl(EventLoop* loop, ParsedTarget target, std::shared_ptr<TlsContext> tls,
                         const Options& options)
    : ChannelImpl(loop, SpecFromParsedTarget(target), std::move(tls), options) {}

ChannelImpl::ChannelImpl(EventLoop* loop, TargetSpec spec, std::shared_ptr<TlsContext> tls,
                         const Options& options)
    : loop_(loop),
      runtime_(Runtime::Get()),
      spec_(std::move(spec)),
      tls_(std::move(tls)),
      options_(options),
      max_recv_(MaxRecvFromOptions(options)),
      max_send_(options.GetInt("grpc.max_send_message_length", -1)) {
  authority_ = options.GetString("grpc.default_authority", spec_.authority);
  server_name_ = options.GetString("grpc.ssl_target_name_override", spec_.server_name);
  std::string primary = options.GetString("grpc.primary_user_agent", "");
  user_agent_ = (primary.empty() ? "" : primary + " ") + "polyrpc-c++/" POLYRPC_VERSION_STRING;
  default_compression_ = CompressionFromOptions(options);
  transparent_retries_ = options.GetInt("grpc.enable_retries", 1) != 0;
  settings_.keepalive_time_ms = options.GetInt("grpc.keepalive_time_ms", 0);
  settings_.keepalive_timeout_ms = options.GetInt("grpc.keepalive_timeout_ms", 20000);
  settings_.keepalive_permit_without_calls =
      options.GetInt("grpc.keepalive_permit_without_calls", 0) != 0;
  // gRPC's connect timeout bounds the HTTP/2 handshake too: a path that stalls after the TCP
  // connect fails the attempt (TRANSIENT_FAILURE, back-off) instead of CONNECTING for good.
  settings_.handshake_timeout_ms = options.GetInt("grpc.min_reconnect_backoff_ms", 20000);
  if (options.HasInt("polyrpc.initial_window_size")) {
    settings_.initial_window_size =
        static_cast<uint32_t>(options.GetInt("polyrpc.initial_window_size", 4 << 20));
  }
  // Busy polling of blocking calls (IoDriver): -1 adaptive (the default), 0 off, else a fixed
  // budget of at most 10 ms.
  busy_poll_us_ = static_cast<int>(std::clamp<int64_t>(
      options.GetInt("polyrpc.busy_poll_us", EventLoop::kAutoSpin), EventLoop::kAutoSpin, 10000));
  lb_policy_option_ = options.GetString("grpc.lb_policy_name", "");
  std::transform(lb_policy_option_.begin(), lb_policy_option_.end(), lb_policy_option_.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  ignore_resolver_config_ = options.GetInt("grpc.service_config_disable_resolution", 0) != 0;
}

bool ChannelImpl::Init(std::string* error) {
  std::string json = options_.GetString("grpc.service_config", "");
  if (!json.empty()) {
    default_config_ = ServiceConfig::Parse(json, error);
    if (!default_config_) {
      *error = "invalid grpc.service_config: " + *error;
      return false;
    }
    // Known before any resolution, so the first calls already get their method config.
    std::lock_guard<std::mutex> lock(config_mu_);
    config_ = default_config_;
    has_method_configs_.store(config_->has_method_configs(), std::memory_order_release);
  }
  auto listener = std::make_shared<ChannelResolverListener>(loop_, weak_self);
  resolver_ = CreateResolver(spec_, target_string_, options_, loop_, std::move(listener), error);
  return resolver_ != nullptr;
}

ChannelImpl::~ChannelImpl() {
  // Runs on the loop thread, at the end of a turn (Deleter): no policy or subchannel frame is
  // under it.
  closed_ = true;
  lb_.reset();  // subchannels hand their connections over, which closes them (closed_)
  auto draining = std::move(draining_);
  for (auto& c : draining) c->Close("Channel destroyed");
  resolver_.reset();
  // Watchers still waiting learn that no change will come.
  auto watchers = std::move(watchers_);
  for (auto& [id, w] : watchers) {
    if (w.fn) w.fn(false);
  }
}

namespace {

// The application's handle has its own reference count: when the application drops its last
// reference, an unfinished call is cancelled (which also releases the connection's reference
// to the stream). The engine's own references never keep an abandoned call running.
template <typename T>
std::shared_ptr<ClientCall> ApplicationHandle(std::shared_ptr<T> call) {
  T* raw = call.get();
  return std::shared_ptr<ClientCall>(
      raw,
      [call = std::move(call)](ClientCall*) mutable {
        if (!call->over()) call->Cancel();
        call.reset();
      },
      SmallAllocator<char>());
}

}  // namespace

std::shared_ptr<ClientCallImpl> ChannelImpl::MakeCall(const std::string& method,
                                                      const CallOptions& options,
                                                      size_t max_recv, int64_t max_send) {
  auto self = weak_self.lock();
  // A call that is over is freed lazily when dropped off the loop (its destructor only
  // detaches it from the connection): no wake-up of the loop per finished call.
  EventLoop* loop = loop_;
  auto* p = max_recv == max_recv_ && max_send == max_send_
                ? new ClientCallImpl(self, method, options)
                : new ClientCallImpl(self, method, options, max_recv, max_send, 0);
  return std::shared_ptr<ClientCallImpl>(p,
                                         [loop](ClientCallImpl* p) {
                                           if (p->over() && !loop->InLoopThread()) {
                                             loop->PostLazy([p] { delete p; });
                                           } else {
                                             LoopDeleter{loop}(p);
                                           }
                                         },
                                         SmallAllocator<char>());
}

std::shared_ptr<ClientCallImpl> ChannelImpl::MakeAttemptCall(const std::string& method,
                                                             const CallOptions& options,
                                                             int previous_attempts,
                                                             size_t max_recv, int64_t max_send) {
  auto self = weak_self.lock();
  return std::shared_ptr<ClientCallImpl>(
      new ClientCallImpl(self, method, options, max_recv, max_send, previous_attempts),
      LoopDeleter{loop_}, SmallAllocator<char>());
}

std::shared_ptr<ClientCall> ChannelImpl::CreateCall(const std::string& method,
                                                    const CallOptions& options) {
  if (!has_method_configs_.load(std::memory_order_acquire)) {
    return ApplicationHandle(MakeCall(method, options, max_recv_, max_send_));
  }
  std::shared_ptr<const ServiceConfig> config = service_config();
  const MethodConfig* mc = config ? config->Find(method) : nullptr;
  if (mc == nullptr) return ApplicationHandle(MakeCall(method, options, max_recv_, max_send_));
  // The method's config: its timeout bounds the call's deadline, its waitForReady applies to
  // calls that did not ask for it, its limits narrow the channel's.
  CallOptions o = options;
  if (mc->timeout_ns >= 0) {
    Deadline d = Clock::now() + std::chrono::nanoseconds(mc->timeout_ns);
    if (d < o.deadline) o.deadline = d;
  }
  if (mc->wait_for_ready == 1) o.wait_for_ready = true;
  size_t max_recv = max_recv_;
  if (mc->max_response_bytes >= 0) {
    max_recv = std::min(max_recv, static_cast<size_t>(mc->max_response_bytes));
  }
  int64_t max_send = max_send_;
  if (mc->max_request_bytes >= 0) {
    max_send = max_send < 0 ? mc->max_request_bytes : std::min(max_send, mc->max_request_bytes);
  }
  if ((mc->retry || mc->hedging) && transparent_retries_) {
    auto self = weak_self.lock();
    std::shared_ptr<RetryingCall> call(
        new RetryingCall(self, method, std::move(o), config, mc, max_recv, max_send),
        LoopDeleter{loop_});
    return ApplicationHandle(std::move(call));
  }
  return ApplicationHandle(MakeCall(method, o, max_recv, max_send));
}

std::shared_ptr<const ServiceConfig> ChannelImpl::service_config() const {
  std::lock_guard<std::mutex> lock(config_mu_);
  return config_;
}

void ChannelImpl::ApplyServiceConfig(std::shared_ptr<const ServiceConfig> config) {
  throttle_.Configure(config ? config->retry_throttling() : std::nullopt);
  std::lock_guard<std::mutex> lock(config_mu_);
  config_ = std::move(config);
  has_method_configs_.store(config_ && config_->has_method_configs(), std::memory_order_release);
}

void ChannelImpl::SetState(ConnectivityState s) {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (state_ == s) return;
    if (state_ == ConnectivityState::SHUTDOWN) return;
    state_ = s;
  }
  loop_state_ = s;
  state_cv_.notify_all();
  NotifyWatchers(s);
}

ConnectivityState ChannelImpl::GetState(bool try_to_connect) {
  ConnectivityState s;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    s = state_;
  }
  if (try_to_connect && s == ConnectivityState::IDLE) {
    auto self = weak_self.lock();
    loop_->Post([self] { self->ExitIdle(); });
  }
  return s;
}

bool ChannelImpl::WaitForStateChange(ConnectivityState last, Deadline deadline) {
  std::unique_lock<std::mutex> lock(state_mu_);
  return state_cv_.wait_until(lock, deadline, [&] { return state_ != last; });
}

void ChannelImpl::NotifyOnStateChange(ConnectivityState last, Deadline deadline,
                                      std::function<void(bool)> fn) {
  auto self = weak_self.lock();
  loop_->RunOrPost([self, last, deadline, fn = std::move(fn)]() mutable {
    if (self->GetState(false) != last) {
      self->loop_->Defer([fn = std::move(fn)] { fn(true); });
      return;
    }
    uint64_t id = self->next_watcher_++;
    Watcher& w = self->watchers_[id];
    w.last = last;
    w.fn = std::move(fn);
    if (deadline != InfiniteDeadline()) {
      w.timer = std::make_unique<Timer>(self->loop_);
      std::weak_ptr<ChannelImpl> weak = self;
      w.timer->StartAt(deadline, [weak, id] {
        auto ch = weak.lock();
        if (!ch) return;
        auto it = ch->watchers_.find(id);
        if (it == ch->watchers_.end()) return;
        auto done = std::move(it->second.fn);
        // The timer is running this very closure: free it after the callback returns.
        ch->loop_->Defer([t = std::shared_ptr<Timer>(std::move(it->second.timer))] {});
        ch->watchers_.erase(it);
        done(false);
      });
    }
  });
}

void ChannelImpl::NotifyWatchers(ConnectivityState s) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.last == s) {
      ++it;
      continue;
    }
    // Deferred: a watcher may watch again from its callback, which must not change the map
    // while this loop walks it.
    loop_->Defer([fn = std::move(it->second.fn)] { fn(true); });
    it = watchers_.erase(it);
  }
}

void ChannelImpl::Close() {
  auto self = weak_self.lock();
  loop_->RunOrPost([self] {
    if (self->closed_) return;
    self->closed_ = true;
    auto waiting = std::move(self->waiting_);
    self->waiting_.clear();
    for (auto& c : waiting) c->Finish(StatusCode::CANCELLED, "Channel closed");
    // Subchannels hand their connections over, which closes them now (closed_).
    auto lb = std::move(self->lb_);
    lb.reset();
    auto draining = std::move(self->draining_);
    for (auto& c : draining) c->Close("Channel closed");
    self->resolver_.reset();
    {
      std::lock_guard<std::mutex> lock(self->state_mu_);
      self->state_ = ConnectivityState::SHUTDOWN;
    }
    self->loop_state_ = ConnectivityState::SHUTDOWN;
    self->state_cv_.notify_all();
    self->NotifyWatchers(ConnectivityState::SHUTDOWN);
  });
}

void ChannelImpl::StartCall(std::shared_ptr<ClientCallImpl> call) {
  if (closed_) {
    call->Finish(StatusCode::UNAVAILABLE, "Channel is closed");
    return;
  }
  if (lb_) {
    // The policy's pick (pick_first: the one connection; round_robin: the next READY one).
    const std::shared_ptr<Http2Connection>* conn = lb_->Pick();
    if (conn != nullptr && !(*conn)->draining()) {
      call->OnTransportReady(*conn);
      return;
    }
  }
  if (loop_state_ == ConnectivityState::TRANSIENT_FAILURE && !call->wait_for_ready()) {
    call->Finish(StatusCode::UNAVAILABLE, last_error_);
    return;
  }
  waiting_.push_back(std::move(call));
  ExitIdle();
}

void ChannelImpl::ExitIdle() {
  if (closed_) return;
  connecting_wanted_ = true;
  if (!resolver_) {
    // Made without Init (the fuzz harness): resolve the target given to the constructor.
    std::string err;
    auto listener = std::make_shared<ChannelResolverListener>(loop_, weak_self);
    resolver_ = CreateResolver(spec_, target_string_, options_, loop_, std::move(listener), &err);
    if (!resolver_) {
      last_error_ = err;
      SetState(ConnectivityState::TRANSIENT_FAILURE);
      FailWaiting(err);
      return;
    }
  }
  if (!resolution_started_ || (resolution_failed_ && !have_addresses_)) {
    resolution_started_ = true;
    if (!have_addresses_ && loop_state_ == ConnectivityState::IDLE) {
      SetState(ConnectivityState::CONNECTING);
    }
    resolver_->RequestResolution();  // may report inline
    if (closed_) return;
    if (resolution_failed_ && !have_addresses_) {
      // It failed before (maybe before any call wanted it) and has said nothing new yet.
      SetState(ConnectivityState::TRANSIENT_FAILURE);
      FailWaiting(last_error_);
      return;
    }
  }
  if (lb_ && !lb_exited_ && connecting_wanted_) {
    lb_exited_ = true;
    lb_->ExitIdle();
  }
}

void ChannelImpl::OnResolved(Resolution resolution) {
  if (closed_) return;
  if (resolution.addresses.empty()) {
    OnResolutionError("the resolver reported no address");
    return;
  }
  have_addresses_ = true;
  resolution_failed_ = false;
  std::shared_ptr<const ServiceConfig> config =
      resolution.service_config && !ignore_resolver_config_ ? resolution.service_config
                                                            : default_config_;
  ApplyServiceConfig(config);
  // The service config's policy first, then "grpc.lb_policy_name", then pick_first (gRPC's order).
  std::string policy = config && !config->lb_policy().empty() ? config->lb_policy()
                                                                : lb_policy_option_;
  if (!IsSupportedLbPolicy(policy)) policy = "pick_first";
  if (!lb_ || policy != lb_->name()) {
    // A new policy starts from scratch; the old one's connections finish their calls.
    // It is freed at the end of the turn: this report may come from inside its own frames (a
    // resolver that answers inline a re-resolution it asked for).
    std::shared_ptr<LbPolicy> old(std::move(lb_));
    lb_ = CreateLbPolicy(policy, this);
    lb_exited_ = false;
    if (old) loop_->Defer([old = std::move(old), self = weak_self.lock()]() mutable { old.reset(); });
  }
  lb_->UpdateAddresses(resolution.addresses);
  if (closed_) return;
  if (connecting_wanted_ && !lb_exited_) {
    lb_exited_ = true;
    lb_->ExitIdle();
  }
}

void ChannelImpl::OnResolutionError(const std::string& message) {
  if (closed_) return;
  resolution_failed_ = true;
  if (have_addresses_) return;  // keep using the addresses we have, as gRPC does
  last_error_ = message;
  if (connecting_wanted_) {
    SetState(ConnectivityState::TRANSIENT_FAILURE);
    FailWaiting(message);
  }
}

void ChannelImpl::UpdateState(ConnectivityState s, const std::string& error) {
  if (closed_) return;
  if (s == ConnectivityState::IDLE) {
    // A fresh policy is IDLE until the channel tells it to connect, which it is about to do.
    if (!lb_exited_ && connecting_wanted_) return;
    lb_exited_ = false;
    connecting_wanted_ = false;
  }
  if (s == ConnectivityState::TRANSIENT_FAILURE) {
    last_error_ = error.empty() ? "failed to connect to " + target_string_ : error;
  }
  SetState(s);
  if (s == ConnectivityState::READY) {
    DispatchWaiting();
  } else if (s == ConnectivityState::TRANSIENT_FAILURE) {
    FailWaiting(last_error_);
  } else if (s == ConnectivityState::IDLE && !waiting_.empty()) {
    ExitIdle();
  }
}

void ChannelImpl::RequestReresolution() {
  // Not inline: a resolver may answer at once, which would re-enter the policy that asked.
  if (reresolve_pending_ || closed_) return;
  reresolve_pending_ = true;
  std::weak_ptr<ChannelImpl> weak = weak_self;
  loop_->Defer([weak] {
    auto self = weak.lock();
    if (!self) return;
    self->reresolve_pending_ = false;
    if (!self->closed_ && self->resolver_) self->resolver_->RequestResolution();
  });
}

std::shared_ptr<Subchannel> ChannelImpl::CreateSubchannel(const ResolvedAddress& address) {
  return std::make_shared<Subchannel>(this, address);
}

void ChannelImpl::OnGoawayReceived(uint32_t error_code, const std::string& debug) {
  if (error_code == NGHTTP2_ENHANCE_YOUR_CALM && debug == "too_many_pings" &&
      settings_.keepalive_time_ms > 0) {
    // gRPC's keepalive back-off (doc/keepalive.md): the server found our pings too frequent;
    // the next connections ping half as often (the interval doubles, up to a day).
    settings_.keepalive_time_ms = std::min<int64_t>(settings_.keepalive_time_ms * 2, 86400000);
    keepalive_backoffs_++;
  }
}

void ChannelImpl::AdoptDraining(std::shared_ptr<Http2Connection> conn, bool send_goaway) {
  if (!conn || conn->closed()) return;
  if (closed_) {
    conn->Close("Channel closed");
    return;
  }
  Http2Connection* raw = conn.get();
  std::weak_ptr<ChannelImpl> weak = weak_self;
  conn->set_on_closed([weak, raw](const std::string&) {
    if (auto self = weak.lock()) self->OnDrainedClosed(raw);
  });
  // The subchannel may be gone: what the connection reports now is the channel's business.
  conn->set_on_goaway([weak](uint32_t error_code, const std::string& debug) {
    if (auto self = weak.lock()) self->OnGoawayReceived(error_code, debug);
  });
  draining_.insert(conn);
  // A subchannel that is gone: GOAWAY (no new streams from us); the connection closes once its
  // calls are done.
  if (send_goaway) conn->Goaway();
}

void ChannelImpl::ForgetWaiting(ClientCallImpl* call) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->get() == call) {
      // The call may be running its last frames: let go of it at the end of the turn.
      loop_->Defer([keep = std::move(*it)] {});
      waiting_.erase(it);
      return;
    }
  }
}

void ChannelImpl::OnDrainedClosed(Http2Connection* conn) {
  for (auto it = draining_.begin(); it != draining_.end(); ++it) {
    if (it->get() == conn) {
      draining_.erase(it);
      return;
    }
  }
}

void ChannelImpl::DispatchWaiting() {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& c : waiting) {
    if (!c->finished()) StartCall(std::move(c));
  }
}

void ChannelImpl::FailWaiting(const std::string& reason) {
  // Calls that cannot wait fail now; wait-for-ready calls stay queued.
  std::vector<std::shared_ptr<ClientCallImpl>> keep;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& c : waiting) {
    if (c->finished()) continue;
    if (c->wait_for_ready()) {
      keep.push_back(std::move(c));
    } else {
      c->Finish(StatusCode::UNAVAILABLE, reason);
    }
  }
  for (auto& c : waiting_) keep.push_back(std::move(c));  // queued meanwhile
  waiting_ = std::move(keep);
}

// ---- ClientCall --------------------------------------------------------------------------------

ClientCallImpl::ClientCallImpl(std::shared_ptr<ChannelImpl> channel, std::string method,
                               CallOptions options)
    : CallBase(channel->loop(), channel->max_recv(), channel->max_send()),
      channel_(std::move(channel)),
      method_(std::move(method)),
      options_(std::move(options)) {
  keep_sent_ = channel_->transparent_retries();
  send_compression_ = options_.compression.empty() ? channel_->default_compression()
                                                   : ParseCompression(options_.compression);
  if (send_compression_ == Compression::kUnknown) send_compression_ = Compression::kIdentity;
  send_encoding_label_ = options_.testing_encoding_label;
  expect_one_message_ = options_.expect_one_response;
  if (TracePropagationEnabled() && FindMetadata(options_.metadata, "traceparent") == nullptr) {
    const std::string& current = CurrentTraceparent();
    options_.metadata.emplace_back("traceparent",
                                   current.empty() ? NewTraceparent() : ChildTraceparent(current));
  }
}

ClientCallImpl::ClientCallImpl(std::shared_ptr<ChannelImpl> channel, std::string method,
                               CallOptions options, size_t max_recv, int64_t max_send,
                               int previous_attempts)
    : CallBase(channel->loop(), max_recv, max_send),
      channel_(std::move(channel)),
      method_(std::move(method)),
      options_(std::move(options)) {
  previous_attempts_ = previous_attempts;
  keep_sent_ = channel_->transparent_retries();
  send_compression_ = options_.compression.empty() ? channel_->default_compression()
                                                   : ParseCompression(options_.compression);
  if (send_compression_ == Compression::kUnknown) send_compression_ = Compression::kIdentity;
  send_encoding_label_ = options_.testing_encoding_label;
  expect_one_message_ = options_.expect_one_response;
}

ClientCallImpl::~ClientCallImpl() {
  // Loop thread (LoopDeleter). A call dropped mid-flight is cancelled.
  if (!finished_ && conn_ && stream_id() > 0) {
    conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
  }
  if (conn_ && stream_id() > 0) conn_->DetachStream(stream_id());
}

int ClientCallImpl::busy_poll_us() const { return channel_->busy_poll_us(); }

std::string ClientCallImpl::peer() const {
  std::lock_guard<std::mutex> lock(peer_mu_);
  return peer_;
}

void ClientCallImpl::EnsureStarted() {
  if (started_) return;
  started_ = true;
  MetricsStarted();
  if (options_.deadline != InfiniteDeadline()) {
    if (Clock::now() >= options_.deadline) {
      Finish(StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
      return;
    }
    deadline_timer_ = std::make_unique<Timer>(loop_);
    std::weak_ptr<Stream> weak = shared_from_this();
    deadline_timer_->StartAt(options_.deadline, [weak] {
      if (auto s = weak.lock()) {
        static_cast<ClientCallImpl*>(s.get())->Finish(StatusCode::DEADLINE_EXCEEDED,
                                                      "Deadline Exceeded");
      }
    });
  }
  channel_->StartCall(self());
}

void ClientCallImpl::OnTransportReady(std::shared_ptr<Http2Connection> conn) {
  if (finished_) return;
  // Values are referenced where they live (literals, the channel, this call) rather than
  // copied into strings; nghttp2 copies them when the list is submitted, except literal names
  // and static values (NvLit, NvStatic), which it reads when the frame is written.
  std::vector<std::pair<std::string, std::string>> md;
  std::string err;
  if (!AppendMetadata(options_.metadata, &md, &err)) {
    Finish(StatusCode::INTERNAL, err);
    return;
  }
  std::string timeout;
  if (options_.deadline != InfiniteDeadline()) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.deadline - Clock::now());
    timeout = FormatGrpcTimeout(left.count());
  }
  std::string authorization;
  if (!options_.bearer_token.empty()) authorization = "Bearer " + options_.bearer_token;
  NvList nv;
  nv.push_back(NvStatic(":method", "POST"));
  nv.push_back(NvStatic(":scheme", channel_->tls() ? "https" : "http"));
  nv.push_back(NvLit(":path", method_));
  nv.push_back(NvLit(":authority",
                     options_.authority.empty() ? channel_->authority() : options_.authority));
  nv.push_back(NvStatic("te", "trailers"));
  nv.push_back(NvStatic("content-type", "application/grpc"));
  nv.push_back(NvLit("user-agent", channel_->user_agent()));
  if (!send_encoding_label_.empty()) {
    nv.push_back(NvLit("grpc-encoding", send_encoding_label_));
  } else if (send_compression_ != Compression::kIdentity) {
    nv.push_back(NvStatic("grpc-encoding", CompressionName(send_compression_)));
  }
  nv.push_back(NvStatic("grpc-accept-encoding", SupportedEncodingsHeader()));
  if (!timeout.empty()) nv.push_back(NvLit("grpc-timeout", timeout));
  if (!authorization.empty()) nv.push_back(NvLit("authorization", authorization));
  if (previous_attempts_ > 0) {
    static const char* const kDigits[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    nv.push_back(NvStatic("grpc-previous-rpc-attempts", kDigits[std::min(previous_attempts_, 9)]));
  }
  for (const auto& [k, v] : md) nv.push_back(NvRef(k, v));
  conn_ = conn;
  {
    std::lock_guard<std::mutex> lock(peer_mu_);
    peer_ = conn->peer();
  }
  int32_t id = conn->SubmitRequest(nv, shared_from_this());
  if (id < 0) {
    conn_ = nullptr;
    Finish(StatusCode::UNAVAILABLE, std::string("Failed to start stream: ") + nghttp2_strerror(id));
    return;
  }
}

void ClientCallImpl::Start(Completion done) {
  RunOrPostSelf(this, [done = std::move(done)](auto* self) mutable {
    self->EnsureStarted();
    self->Complete(std::move(done), !self->finished_);
  });
}

void ClientCallImpl::SendMessage(Slice message, uint32_t flags, Completion done) {
  Slice prefix, payload;
  std::string error;
  if (!FrameMessage(std::move(message), flags, &prefix, &payload, &error)) {
    RunOrPostSelf(this, [error, done = std::move(done)](auto* self) mutable {
      self->EnsureStarted();
      self->Finish(StatusCode::RESOURCE_EXHAUSTED, error);
      self->Complete(std::move(done), false);
    });
    return;
  }
  RunOrPostSelf(this, [flags, prefix = std::move(prefix), payload = std::move(payload),
                       done = std::move(done)](auto* self) mutable {
    self->EnsureStarted();
    if (self->half_close_) {
      self->Complete(std::move(done), false);
      return;
    }
    if (flags & kWriteLast) self->half_close_ = true;
    self->EnqueueFramed(std::move(prefix), std::move(payload), std::move(done));
  });
}

void ClientCallImpl::CloseSend(Completion done) {
  RunOrPostSelf(this, [done = std::move(done)](auto* self) mutable {
    self->EnsureStarted();
    if (self->finished_) {
      // Nothing more can be sent on a finished call, which is all a half-close promises.
      self->Complete(std::move(done), true);
      return;
    }
    if (self->half_close_) {
      // Already half-closed (a kWriteLast send): END_STREAM is out or will be with that message.
      self->Complete(std::move(done), true);
      return;
    }
    self->half_close_ = true;
    if (self->close_send_done_) {
      self->Complete(std::move(done), false);
      return;
    }
    self->close_send_done_ = std::move(done);
    self->KickOutput();
  });
}

bool ClientCallImpl::OnOutputDrained(uint32_t* data_flags) {
  if (!half_close_) return false;
  *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  if (close_send_done_) {
    Completion done = std::move(close_send_done_);
    close_send_done_ = nullptr;
    Complete(std::move(done), true);
  }
  return true;
}

void ClientCallImpl::RecvInitialMetadata(Completion done) {
  RunOrPostSelf(this, [done = std::move(done)](auto* self) mutable {
    self->EnsureStarted();
    if (self->got_headers_ || self->finished_) {
      self->Complete(std::move(done), self->got_headers_);
      return;
    }
    self->initial_md_done_ = std::move(done);
  });
}

void ClientCallImpl::RecvMessage(Completion done) {
  RunOrPostSelf(this, [done = std::move(done)](auto* self) mutable {
    self->EnsureStarted();
    self->StartRecv(std::move(done));
  });
}

void ClientCallImpl::RecvStatus(Completion done) {
  RunOrPostSelf(this, [done = std::move(done)](auto* self) mutable {
    self->EnsureStarted();
    if (self->status_known_) {
      self->Complete(std::move(done), true);
      return;
    }
    self->status_done_ = std::move(done);
  });
}

void ClientCallImpl::Cancel() {
  RunOrPostSelf(this, [](auto* self) { self->Finish(StatusCode::CANCELLED, "Cancelled"); });
}

void ClientCallImpl::Finish(StatusCode code, const std::string& message) {
  if (status_known_) return;
  recv_failed_ = true;
  ClearRecvQueue();
  SetStatus(Status(code, message), {});
  // Over before it had a connection (deadline, cancel): out of the channel's queue.
  if (started_ && !conn_) channel_->ForgetWaiting(this);
  if (conn_ && stream_id() > 0 && !stream_closed_) {
    conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
  }
}

void ClientCallImpl::SetStatus(Status status, Metadata trailers) {
  if (status_known_) return;
  status_known_ = true;
  MetricsFinished(static_cast<int>(status.code()));
  finished_ = true;
  status_ = std::move(status);
  trailing_metadata_ = std::move(trailers);
  over_.store(true, std::memory_order_release);
  if (deadline_timer_) deadline_timer_->Stop();
  if (initial_md_done_) {
    Completion d = std::move(initial_md_done_);
    initial_md_done_ = nullptr;
    Complete(std::move(d), got_headers_);
  }
  if (close_send_done_) {
    Completion d = std::move(close_send_done_);
    close_send_done_ = nullptr;
    Complete(std::move(d), true);  // see CloseSend: the call sends nothing more either way
  }
  FailPendingOps();
  if (status_done_) {
    Completion d = std::move(status_done_);
    status_done_ = nullptr;
    Complete(std::move(d), true);
  }
}

void ClientCallImpl::OnHeader(std::string_view name, std::string_view value) {
  if (!CountHeader(name, value) || status_known_) return;
  HeaderFields& f = fields_;
  if (name == ":status") {
    f.http_status.assign(value);
  } else if (name == "content-type") {
    f.grpc_content_type = IsGrpcContentType(value);
    if (!f.grpc_content_type) f.content_type.assign(value);
  } else if (name == "grpc-status") {
    f.have_grpc_status = true;
    f.grpc_status.assign(value);
  } else if (name == "grpc-message") {
    f.grpc_message = PercentDecode(value);
  } else if (name == "grpc-encoding") {
    recv_encoding_name_.assign(value);
  } else if (name == "grpc-retry-pushback-ms") {
    f.retry_pushback.assign(value);
    if (f.retry_pushback.empty()) f.retry_pushback.push_back('\0');  // present, but empty
  } else if (!AddUserMetadata(name, value, &f.metadata)) {
    f.bad_binary = true;
  }
}

void ClientCallImpl::OnHeadersEnd(bool end_stream) {
  HeaderFields f = std::move(fields_);
  fields_ = HeaderFields();
  header_block_bytes_ = 0;
  if (header_block_too_large_) {
    header_block_too_large_ = false;
    Finish(StatusCode::RESOURCE_EXHAUSTED, "Received header list larger than the limit");
    return;
  }
  if (status_known_) return;
  if (!got_headers_) {
    // Response headers (or a trailers-only response). PROTOCOL-HTTP2.md: Trailers-Only is one
    // HEADERS frame that ends the stream; a grpc-status in headers that do not end it is not the
    // call's status (the status comes with the trailers, or the call fails without them).
    bool trailers_only = end_stream;
    bool has_status = trailers_only && f.have_grpc_status;
    // http-grpc-status-mapping.md: the HTTP status decides only when there is no grpc-status.
    if (f.http_status != "200" && !has_status) {
      int hs = atoi(f.http_status.c_str());
      Finish(StatusFromHttpStatus(hs), "Received http2 header with status: " + f.http_status);
      return;
    }
    if (!has_status && !f.grpc_content_type) {
      Finish(StatusCode::UNKNOWN, "Received unexpected content-type: '" + f.content_type + "'");
      return;
    }
    if (!recv_encoding_name_.empty()) recv_compression_ = ParseCompression(recv_encoding_name_);
    if (trailers_only) {
      // Trailers-only: no initial metadata for the application.
      got_headers_ = true;
      trailers_only_ = true;
      DropSent();
      ProcessTrailers(std::move(f));
      return;
    }
    if (f.bad_binary) {
      Finish(StatusCode::INTERNAL, "Invalid base64 in binary metadata");
      return;
    }
    initial_metadata_ = std::move(f.metadata);
    got_headers_ = true;
    DropSent();  // the server has the call: no transparent retry from here
    if (initial_md_done_) {
      Completion d = std::move(initial_md_done_);
      initial_md_done_ = nullptr;
      Complete(std::move(d), true);
    }
    return;
  }
  ProcessTrailers(std::move(f));
}

void ClientCallImpl::ProcessTrailers(HeaderFields f) {
  remote_closed_ = true;
  if (!f.retry_pushback.empty()) {
    has_retry_pushback_ = true;
    retry_pushback_ = std::move(f.retry_pushback);
  }
  if (deframer_.InMiddleOfMessage()) {
    // A status after a truncated message must not pass for a clean end. The messages that
    // arrived whole before it are still delivered, then this status (as gRPC's own clients do);
    // the partial one stays in the deframer, charged, until the call is freed.
    SetStatus(Status(StatusCode::INTERNAL, "Server ended the stream in the middle of a message"),
              std::move(f.metadata));
    return;
  }
  if (!f.have_grpc_status) {
    recv_failed_ = true;
    SetStatus(Status(StatusCode::UNKNOWN, "Trailers without grpc-status"), std::move(f.metadata));
    return;
  }
  int code = 0;
  if (!ParseStatusCode(f.grpc_status, &code) || code < 0 || code > 16) {
    code = static_cast<int>(StatusCode::UNKNOWN);
  }
  if (code == 0 && expect_one_message_ && messages_received_ == 0) {
    // An OK without the one response message the method owes (statuscodes.md: a response
    // cardinality violation is UNIMPLEMENTED on the client). The trailers still come along.
    SetStatus(Status(StatusCode::UNIMPLEMENTED,
                     "No response message received where the method answers exactly one"),
              std::move(f.metadata));
  } else {
    // Messages already received stay deliverable after an OK status.
    SetStatus(Status(static_cast<StatusCode>(code), std::move(f.grpc_message)),
              std::move(f.metadata));
  }
  if (conn_ && stream_id() > 0 && !stream_closed_ && !half_close_) {
    // The server is done; stop our half of the stream.
    conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
  }
}

void ClientCallImpl::OnRemoteEndStream() {
  remote_closed_ = true;
  if (!status_known_) {
    // The messages that arrived whole are still delivered before this status.
    SetStatus(Status(StatusCode::INTERNAL, "Server closed the stream without sending trailers"), {});
  }
  DeliverMessages();
}

bool ClientCallImpl::RetryRefused() {
  if (!keep_sent_ || got_headers_ || status_known_ || finished_ ||
      transparent_retries_ >= kMaxTransparentRetries) {
    return false;
  }
  ++transparent_retries_;
  RewindSent();
  conn_ = nullptr;
  set_stream_id(-1);
  fields_ = HeaderFields();
  header_block_bytes_ = 0;
  header_block_too_large_ = false;
  // Not from inside the old connection's nghttp2 callback: at the end of this turn.
  auto self = this->self();
  loop_->Defer([self] {
    if (!self->finished_ && !self->status_known_) self->channel_->StartCall(self);
  });
  return true;
}

void ClientCallImpl::OnClose(uint32_t h2_error, const std::string& connection_error) {
  if (connection_error.empty() && h2_error == NGHTTP2_REFUSED_STREAM && RetryRefused()) return;
  ReturnAllCredit();  // the connection's window must not keep what this stream held back
  stream_closed_ = true;
  remote_closed_ = true;
  if (!status_known_) {
    recv_failed_ = true;
    if (!connection_error.empty()) {
      SetStatus(Status(StatusCode::UNAVAILABLE, connection_error), {});
    } else if (h2_error == NGHTTP2_REFUSED_STREAM) {
      SetStatus(Status(StatusCode::UNAVAILABLE, "Stream refused by server"), {});
    } else if (h2_error == NGHTTP2_CANCEL && options_.deadline != InfiniteDeadline() &&
               Clock::now() >= options_.deadline) {
      // The server cancelled the stream when the deadline it was given passed, before this
      // side's deadline timer ran: the call ended by its deadline (as grpc-go's client decides).
      SetStatus(Status(StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"), {});
    } else {
      SetStatus(Status(StatusFromHttp2Error(h2_error),
                       std::string("Stream closed with error code ") +
                           nghttp2_http2_strerror(h2_error)),
                {});
    }
  }
  DeliverMessages();
  // The connection no longer knows us; drop our reference to it to break the cycle.
  conn_ = nullptr;
}

void ClientCallImpl::OnCardinalityViolation(const std::string& message) {
  // Not through OnRecvError, which makes UNIMPLEMENTED INTERNAL: statuscodes.md gives a
  // response cardinality violation UNIMPLEMENTED, generated by the client.
  Finish(StatusCode::UNIMPLEMENTED, message);
}

void ClientCallImpl::OnRecvError(StatusCode code, const std::string& message) {
  // The receive path's UNIMPLEMENTED is a message in a grpc-encoding this side does not
  // support: gRPC's doc/compression.md makes that the server's answer. A client that cannot
  // decompress a response fails the call with INTERNAL (statuscodes.md: "Could not decompress",
  // Server -> Client), as gRPC's clients do.
  if (code == StatusCode::UNIMPLEMENTED) code = StatusCode::INTERNAL;
  Finish(code, message);
}

}  // namespace polyrpc
