#include "channel/channel_impl.h"

#include <algorithm>

#include <unistd.h>

#include <random>

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

double Jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(-0.2, 0.2)(rng);
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
  ParsedTarget parsed;
  if (!ParseTarget(target, &parsed, &err)) {
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
  std::shared_ptr<ChannelImpl> ch(new ChannelImpl(loop, parsed, tls, options), LoopDeleter{loop});
  ch->weak_self = ch;
  ch->target_string_ = target;
  return ch;
}

ChannelImpl::ChannelImpl(EventLoop* loop, ParsedTarget target, std::shared_ptr<TlsContext> tls,
                         const Options& options)
    : loop_(loop),
      runtime_(Runtime::Get()),
      target_(std::move(target)),
      tls_(std::move(tls)),
      options_(options),
      max_recv_(MaxRecvFromOptions(options)),
      max_send_(options.GetInt("grpc.max_send_message_length", -1)) {
  authority_ = options.GetString("grpc.default_authority", target_.authority);
  server_name_ = options.GetString("grpc.ssl_target_name_override",
                                   target_.kind == ParsedTarget::kUnix ? "localhost" : target_.host);
  std::string primary = options.GetString("grpc.primary_user_agent", "");
  user_agent_ = (primary.empty() ? "" : primary + " ") + "polyrpc-c++/" POLYRPC_VERSION_STRING;
  default_compression_ = CompressionFromOptions(options);
  backoff_ms_ = static_cast<double>(options.GetInt("grpc.initial_reconnect_backoff_ms", 1000));
  settings_.keepalive_time_ms = options.GetInt("grpc.keepalive_time_ms", 0);
  settings_.keepalive_timeout_ms = options.GetInt("grpc.keepalive_timeout_ms", 20000);
  settings_.keepalive_permit_without_calls =
      options.GetInt("grpc.keepalive_permit_without_calls", 0) != 0;
  if (options.HasInt("polyrpc.initial_window_size")) {
    settings_.initial_window_size =
        static_cast<uint32_t>(options.GetInt("polyrpc.initial_window_size", 4 << 20));
  }
  // Busy polling of blocking calls (IoDriver): -1 adaptive (the default), 0 off, else a fixed
  // budget of at most 10 ms.
  busy_poll_us_ = static_cast<int>(std::clamp<int64_t>(
      options.GetInt("polyrpc.busy_poll_us", EventLoop::kAutoSpin), EventLoop::kAutoSpin, 10000));
  backoff_timer_ = std::make_unique<Timer>(loop_);
}

ChannelImpl::~ChannelImpl() {
  // Runs on the loop thread (LoopDeleter).
  closed_ = true;
  if (attempt_) attempt_->Cancel();
  if (conn_) conn_->Close("Channel destroyed");
  for (auto& c : draining_) c->Close("Channel destroyed");
}

std::shared_ptr<ClientCall> ChannelImpl::CreateCall(const std::string& method,
                                                    const CallOptions& options) {
  auto self = weak_self.lock();
  // A call that is over is freed lazily when dropped off the loop (its destructor only
  // detaches it from the connection): no wake-up of the loop per finished call.
  EventLoop* loop = loop_;
  std::shared_ptr<ClientCallImpl> call(new ClientCallImpl(self, method, options),
                                       [loop](ClientCallImpl* p) {
                                         if (p->over() && !loop->InLoopThread()) {
                                           loop->PostLazy([p] { delete p; });
                                         } else {
                                           LoopDeleter{loop}(p);
                                         }
                                       },
                                       SmallAllocator<char>());
  // The application's handle has its own reference count: when the application drops its last
  // reference, an unfinished call is cancelled (which also releases the connection's reference
  // to the stream). The engine's own references never keep an abandoned call running.
  ClientCallImpl* raw = call.get();
  return std::shared_ptr<ClientCall>(
      raw,
      [call = std::move(call)](ClientCall*) mutable {
        if (!call->over()) call->Cancel();
        call.reset();
      },
      SmallAllocator<char>());
}

void ChannelImpl::SetState(ConnectivityState s) {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (state_ == s) return;
    if (state_ == ConnectivityState::SHUTDOWN) return;
    state_ = s;
  }
  state_cv_.notify_all();
}

ConnectivityState ChannelImpl::GetState(bool try_to_connect) {
  ConnectivityState s;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    s = state_;
  }
  if (try_to_connect && s == ConnectivityState::IDLE) {
    auto self = weak_self.lock();
    loop_->Post([self] { self->Connect(); });
  }
  return s;
}

bool ChannelImpl::WaitForStateChange(ConnectivityState last, Deadline deadline) {
  std::unique_lock<std::mutex> lock(state_mu_);
  return state_cv_.wait_until(lock, deadline, [&] { return state_ != last; });
}

void ChannelImpl::NotifyOnStateChange(ConnectivityState last, Deadline deadline,
                                      std::function<void(bool)> fn) {
  // Polled on the loop with a short timer: state changes are rare and this keeps the state
  // machine free of watcher bookkeeping.
  auto self = weak_self.lock();
  auto timer = std::make_shared<std::unique_ptr<Timer>>();
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [self, last, deadline, fn, timer, poll]() {
    ConnectivityState s = self->GetState(false);
    bool changed = s != last;
    if (changed || Clock::now() >= deadline) {
      // Clearing *poll destroys this very closure and its captures while it runs: work on
      // copies from here on.
      auto done = fn;
      auto t = timer;
      auto p = poll;
      *p = nullptr;
      t->reset();
      done(changed);
      return;
    }
    (*timer)->Start(5, [poll] {
      if (*poll) (*poll)();
    });
  };
  loop_->Post([self, timer, poll] {
    *timer = std::make_unique<Timer>(self->loop_);
    (*poll)();
  });
}

void ChannelImpl::Close() {
  auto self = weak_self.lock();
  loop_->RunOrPost([self] {
    if (self->closed_) return;
    self->closed_ = true;
    if (self->attempt_) self->attempt_->Cancel();
    self->attempt_ = nullptr;
    self->backoff_timer_->Stop();
    auto waiting = std::move(self->waiting_);
    self->waiting_.clear();
    for (auto& c : waiting) c->Finish(StatusCode::CANCELLED, "Channel closed");
    if (self->conn_) self->conn_->Close("Channel closed");
    self->conn_ = nullptr;
    auto draining = std::move(self->draining_);
    for (auto& c : draining) c->Close("Channel closed");
    {
      std::lock_guard<std::mutex> lock(self->state_mu_);
      self->state_ = ConnectivityState::SHUTDOWN;
    }
    self->state_cv_.notify_all();
  });
}

void ChannelImpl::StartCall(std::shared_ptr<ClientCallImpl> call) {
  if (closed_) {
    call->Finish(StatusCode::UNAVAILABLE, "Channel is closed");
    return;
  }
  if (conn_ && conn_ready_ && !conn_->draining()) {
    call->OnTransportReady(conn_);
    return;
  }
  ConnectivityState s = GetState(false);
  if (s == ConnectivityState::TRANSIENT_FAILURE && !call->wait_for_ready()) {
    call->Finish(StatusCode::UNAVAILABLE, last_error_);
    return;
  }
  waiting_.push_back(std::move(call));
  Connect();
}

void ChannelImpl::Connect() {
  if (closed_ || attempt_ || (conn_ && !conn_->draining())) return;
  ConnectivityState s = GetState(false);
  if (s == ConnectivityState::TRANSIENT_FAILURE && backoff_timer_) {
    // Wait for the backoff timer; it reconnects.
    return;
  }
  SetState(ConnectivityState::CONNECTING);
  int timeout = static_cast<int>(options_.GetInt("grpc.min_reconnect_backoff_ms", 20000));
  std::weak_ptr<ChannelImpl> weak = weak_self;
  attempt_ = StartConnect(loop_, target_, timeout,
                          [weak](int fd, std::string peer, std::string error) {
                            if (auto self = weak.lock()) {
                              self->OnConnected(fd, peer, error);
                            } else if (fd >= 0) {
                              ::close(fd);
                            }
                          });
}

void ChannelImpl::OnConnected(int fd, const std::string& peer, const std::string& error) {
  attempt_ = nullptr;
  if (closed_) {
    if (fd >= 0) ::close(fd);
    return;
  }
  if (fd < 0) {
    TransientFailure("failed to connect to " + target_string_ + ": " + error);
    return;
  }
  std::string err;
  auto ep = CreateEndpoint(loop_, fd, peer, tls_, false, server_name_, &err);
  if (!ep) {
    TransientFailure(err);
    return;
  }
  std::shared_ptr<Http2Connection> conn(new Http2Connection(std::move(ep), false, settings_),
                                        LoopDeleter{loop_});
  Http2Connection* raw = conn.get();
  std::weak_ptr<ChannelImpl> weak = weak_self;
  conn->set_on_ready([weak, raw] {
    if (auto self = weak.lock()) self->OnConnReady(raw);
  });
  conn->set_on_closed([weak, raw](const std::string& reason) {
    if (auto self = weak.lock()) self->OnConnClosed(raw, reason);
  });
  conn->set_on_goaway([weak, raw] {
    if (auto self = weak.lock()) self->OnConnGoaway(raw);
  });
  conn_ = conn;
  conn_ready_ = false;
  conn->Start();
}

void ChannelImpl::OnConnReady(Http2Connection* conn) {
  if (conn != conn_.get()) return;
  conn_ready_ = true;
  backoff_ms_ = static_cast<double>(options_.GetInt("grpc.initial_reconnect_backoff_ms", 1000));
  SetState(ConnectivityState::READY);
  DispatchWaiting();
}

void ChannelImpl::DispatchWaiting() {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& c : waiting) {
    if (!c->finished()) StartCall(std::move(c));
  }
}

void ChannelImpl::OnConnClosed(Http2Connection* conn, const std::string& reason) {
  for (auto it = draining_.begin(); it != draining_.end(); ++it) {
    if (it->get() == conn) {
      draining_.erase(it);
      return;
    }
  }
  if (conn != conn_.get()) return;
  bool was_ready = conn_ready_;
  // Keep the object alive until this callback returns.
  std::shared_ptr<Http2Connection> keep = std::move(conn_);
  conn_ = nullptr;
  conn_ready_ = false;
  if (closed_) return;
  if (was_ready) {
    SetState(ConnectivityState::IDLE);
    if (!waiting_.empty()) Connect();
  } else {
    TransientFailure(reason);
  }
  loop_->Defer([keep] {});
}

void ChannelImpl::OnConnGoaway(Http2Connection* conn) {
  if (conn != conn_.get()) return;
  draining_.insert(conn_);
  conn_ = nullptr;
  conn_ready_ = false;
  SetState(ConnectivityState::IDLE);
  if (!waiting_.empty()) Connect();
}

void ChannelImpl::TransientFailure(const std::string& reason) {
  last_error_ = reason;
  SetState(ConnectivityState::TRANSIENT_FAILURE);
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
  waiting_ = std::move(keep);
  double max_backoff = static_cast<double>(options_.GetInt("grpc.max_reconnect_backoff_ms", 120000));
  double delay = backoff_ms_ * (1.0 + Jitter());
  backoff_ms_ = std::min(backoff_ms_ * 1.6, max_backoff);
  std::weak_ptr<ChannelImpl> weak = weak_self;
  backoff_timer_->Start(static_cast<uint64_t>(delay), [weak] {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    self->SetState(ConnectivityState::IDLE);
    if (!self->waiting_.empty()) self->Connect();
  });
}

// ---- ClientCall --------------------------------------------------------------------------------

ClientCallImpl::ClientCallImpl(std::shared_ptr<ChannelImpl> channel, std::string method,
                               CallOptions options)
    : CallBase(channel->loop(), channel->max_recv(), channel->max_send()),
      channel_(std::move(channel)),
      method_(std::move(method)),
      options_(std::move(options)) {
  send_compression_ = options_.compression.empty() ? channel_->default_compression()
                                                   : ParseCompression(options_.compression);
  if (send_compression_ == Compression::kUnknown) send_compression_ = Compression::kIdentity;
  send_encoding_label_ = options_.testing_encoding_label;
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
  if (conn_ && stream_id() > 0 && !stream_closed_) {
    conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
  }
}

void ClientCallImpl::SetStatus(Status status, Metadata trailers) {
  if (status_known_) return;
  status_known_ = true;
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
    // Response headers (or a trailers-only response).
    // http-grpc-status-mapping.md: the HTTP status decides only when there is no grpc-status.
    if (f.http_status != "200" && !f.have_grpc_status) {
      int hs = atoi(f.http_status.c_str());
      Finish(StatusFromHttpStatus(hs), "Received http2 header with status: " + f.http_status);
      return;
    }
    if (!f.have_grpc_status && !f.grpc_content_type) {
      Finish(StatusCode::UNKNOWN, "Received unexpected content-type: '" + f.content_type + "'");
      return;
    }
    if (!recv_encoding_name_.empty()) recv_compression_ = ParseCompression(recv_encoding_name_);
    if (f.have_grpc_status || end_stream) {
      // Trailers-only: no initial metadata for the application.
      got_headers_ = true;
      ProcessTrailers(std::move(f));
      return;
    }
    if (f.bad_binary) {
      Finish(StatusCode::INTERNAL, "Invalid base64 in binary metadata");
      return;
    }
    initial_metadata_ = std::move(f.metadata);
    got_headers_ = true;
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
  if (deframer_.InMiddleOfMessage()) {
    // A status after a truncated message must not pass for a clean end.
    recv_failed_ = true;
    ClearRecvQueue();
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
  // Messages already received stay deliverable after an OK status.
  SetStatus(Status(static_cast<StatusCode>(code), std::move(f.grpc_message)),
            std::move(f.metadata));
  if (conn_ && stream_id() > 0 && !stream_closed_ && !half_close_) {
    // The server is done; stop our half of the stream.
    conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
  }
}

void ClientCallImpl::OnRemoteEndStream() {
  remote_closed_ = true;
  if (!status_known_) {
    recv_failed_ = true;
    SetStatus(Status(StatusCode::INTERNAL, "Server closed the stream without sending trailers"), {});
  }
  DeliverMessages();
}

void ClientCallImpl::OnClose(uint32_t h2_error, const std::string& connection_error) {
  stream_closed_ = true;
  remote_closed_ = true;
  if (!status_known_) {
    recv_failed_ = true;
    if (!connection_error.empty()) {
      SetStatus(Status(StatusCode::UNAVAILABLE, connection_error), {});
    } else if (h2_error == NGHTTP2_REFUSED_STREAM) {
      SetStatus(Status(StatusCode::UNAVAILABLE, "Stream refused by server"), {});
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

void ClientCallImpl::OnRecvError(StatusCode code, const std::string& message) {
  Finish(code, message);
}

}  // namespace polyrpc
