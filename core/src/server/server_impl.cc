#include "server/server_impl.h"

#include <unistd.h>

#include <algorithm>
#include <future>

#include "observability/metrics.h"
#include "polyrpc++/observability.hpp"
#include "protocol/percent.h"
#include "protocol/timeout.h"
#include "runtime/small_alloc.h"
#include "transport/endpoint.h"
#include "web/http1_server.h"

namespace polyrpc {

namespace {
// What an admitted stream costs before any message arrives: the call object, nghttp2's stream,
// the request headers kept (up to the header list limit, usually a few hundred bytes) and the
// control blocks around them.
constexpr size_t kStreamCharge = sizeof(ServerCallImpl) + 2048;
// Per connection: 32 messages of the default 4 MiB limit in flight at once.
constexpr int64_t kDefaultConnectionMemory = int64_t{128} << 20;
}  // namespace

// ---- ServerCall ----------------------------------------------------------------------------

ServerCallImpl::ServerCallImpl(ServerImpl* server, std::shared_ptr<Http2Connection> conn,
                               std::shared_ptr<MemoryQuota> quota, MemoryReservation stream_charge)
    : CallBase(conn->loop(), server->max_recv(), server->max_send()),
      server_(server),
      stream_charge_(std::move(stream_charge)) {
  conn_ = std::move(conn);
  peer_ = conn_->shared_peer();
  recv_quota_ = std::move(quota);
  recv_quota_->CountHolder(1);
  metrics_side_ = metrics::kServer;
  dispatch_task_.call = this;
  xwork_.call = this;
}

ServerCallImpl::~ServerCallImpl() {
  // The server may be gone (an application can keep a call longer): only what the call holds
  // itself is touched here.
  recv_quota_->CountHolder(-1);
  // Loop thread (LoopDeleter). A handler that drops its call without a status cancels it.
  if (!status_sent_ && !stream_closed_ && conn_ && !conn_->closed() && got_request_) {
    conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
  }
  if (conn_ && stream_id() > 0) conn_->DetachStream(stream_id());
}

void ServerCallImpl::OnHeader(std::string_view name, std::string_view value) {
  if (!CountHeader(name, value) || got_request_) return;
  RequestFields& f = fields_;
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      f.post = value == "POST";
      if (!f.post) f.http_method.assign(value);
    } else if (name == ":path") {
      if (const ServerImpl::Method* m = server_->FindMethod(value)) {
        method_ = m->path;
        handler_ = &m->handler;
        method_options_ = &m->options;
      } else {
        method_ = std::make_shared<const std::string>(value);
        handler_ = nullptr;
        method_options_ = nullptr;
      }
    } else if (name == ":authority") {
      authority_.assign(value);
    }
  } else if (name == "content-type") {
    f.grpc_content_type = IsGrpcContentType(value);
    f.content_type.assign(value);
    web_.mode = web::ParseContentType(value, &web_.other_subtype);
    if (web_.mode != web::Mode::kNone) {
      f.grpc_content_type = true;
      web_.content_type.assign(value);
    }
  } else if (name == "grpc-timeout") {
    f.have_timeout = true;
    f.timeout_ok = ParseGrpcTimeout(value, &f.timeout_ns);
    if (!f.timeout_ok) f.bad_timeout.assign(value);
  } else if (name == "grpc-encoding") {
    if (value != "identity") f.encoding.assign(value);
  } else if (name == "grpc-accept-encoding") {
    client_accept_encoding_.assign(value);
  } else if (name == "host") {
    if (authority_.empty()) authority_.assign(value);
  } else if (name == "access-control-request-headers") {
    web_.request_headers.assign(value);
  } else if (!raw_metadata_.Add(name, value)) {
    f.bad_binary = true;
  }
  if (name == "origin") web_.origin.assign(value);
}

const Metadata& ServerCallImpl::client_metadata() const {
  std::call_once(metadata_once_, [this] { raw_metadata_.AppendTo(&client_metadata_); });
  return client_metadata_;
}

void ServerCallImpl::OnHeadersEnd(bool end_stream) {
  header_block_bytes_ = 0;
  if (!got_request_) {
    HandleRequestHeaders(end_stream);
    return;
  }
  // Request trailers from the client: the end of its stream.
  if (end_stream) OnRemoteEndStream();
}

void ServerCallImpl::RejectHttp(int http_status, StatusCode code, const std::string& message) {
  std::vector<std::pair<std::string, std::string>> h = {
      {":status", std::to_string(http_status)},
      {"content-type", web_.mode == web::Mode::kNone ? "application/grpc" : web_.content_type},
      {"grpc-status", std::to_string(static_cast<int>(code))},
      {"grpc-message", PercentEncode(message)},
  };
  if (web_.mode != web::Mode::kNone && !web_.origin.empty()) {
    h.emplace_back("access-control-allow-origin", web_.origin);
    h.emplace_back("access-control-expose-headers", web::kExposeHeaders);
  }
  if (code == StatusCode::UNIMPLEMENTED) {
    h.emplace_back("grpc-accept-encoding", SupportedEncodingsHeader());
  }
  headers_sent_ = true;
  status_sent_ = true;
  conn_->SubmitResponse(stream_id(), MakeNv(h), false);
  AfterStatusSent();
}

void ServerCallImpl::RespondPreflight() {
  const std::string& allow =
      web_.request_headers.empty() ? std::string(web::kDefaultAllowHeaders) : web_.request_headers;
  NvList nv;
  nv.push_back(NvStatic(":status", "204"));
  nv.push_back(NvRef("access-control-allow-origin", web_.origin));
  nv.push_back(NvStatic("access-control-allow-methods", web::kAllowMethods));
  nv.push_back(NvRef("access-control-allow-headers", allow));
  nv.push_back(NvStatic("access-control-max-age", web::kMaxAge));
  nv.push_back(NvStatic("vary", "Origin"));
  headers_sent_ = true;
  status_sent_ = true;
  conn_->SubmitResponse(stream_id(), nv, false);
  AfterStatusSent();
}

void ServerCallImpl::HandleRequestHeaders(bool end_stream) {
  got_request_ = true;
  MetricsStarted();
  if (end_stream) remote_closed_ = true;
  RequestFields f = std::move(fields_);
  if (header_block_too_large_) {
    RejectHttp(200, StatusCode::RESOURCE_EXHAUSTED, "Request header list larger than the limit");
    return;
  }
  if (f.http_method == "OPTIONS" && !web_.origin.empty()) {
    RespondPreflight();
    return;
  }
  if (web_.other_subtype) {
    RejectHttp(200, StatusCode::UNIMPLEMENTED,
               "Unsupported gRPC-Web content-subtype: '" + web_.content_type + "'");
    return;
  }
  if (!f.post && !server_->testing_accept_any_request()) {
    RejectHttp(405, StatusCode::INTERNAL, "Method not allowed: " + f.http_method);
    return;
  }
  if (!f.grpc_content_type) {
    if (!server_->testing_accept_any_request()) {
      RejectHttp(415, StatusCode::INTERNAL, "Unsupported content-type: '" + f.content_type + "'");
      return;
    }
    discard_body_ = true;  // not gRPC-framed: the handler sees only the end of the stream
  } else if (f.content_type.size() > 16 && f.content_type[16] == '+' &&
             std::string_view(f.content_type).substr(17, f.content_type.find(';', 17) - 17) !=
                 "proto" &&
             !server_->testing_accept_any_request()) {
    // "application/grpc+json" and other message codecs: handlers get the bytes as protobuf
    // (what plain "application/grpc" means, PROTOCOL-HTTP2.md), so a request in another
    // encoding is refused, as an unsupported grpc-encoding is (doc/compression.md).
    RejectHttp(200, StatusCode::UNIMPLEMENTED,
               "Unsupported content-subtype: '" + f.content_type + "'");
    return;
  }
  if (f.have_timeout) {
    if (!f.timeout_ok) {
      RejectHttp(200, StatusCode::INTERNAL, "Invalid grpc-timeout: '" + f.bad_timeout + "'");
      return;
    }
    auto now = Clock::now();
    auto max_left = Deadline::max() - now;
    auto left = std::chrono::nanoseconds(f.timeout_ns);
    deadline_ = left >= max_left ? InfiniteDeadline()
                                 : now + std::chrono::duration_cast<Clock::duration>(left);
  }
  if (!f.encoding.empty()) {
    recv_encoding_name_ = f.encoding;
    recv_compression_ = ParseCompression(f.encoding);
    if (recv_compression_ == Compression::kUnknown) {
      RejectHttp(200, StatusCode::UNIMPLEMENTED,
                 "Compression algorithm '" + f.encoding + "' not supported");
      return;
    }
  }
  if (f.bad_binary) {
    RejectHttp(200, StatusCode::INTERNAL, "Invalid base64 in binary metadata");
    return;
  }
  const Handler* handler = handler_ != nullptr ? handler_ : server_->generic_handler();
  if (handler == nullptr) {
    RejectHttp(200, StatusCode::UNIMPLEMENTED, "Method not found: " + method());
    return;
  }
  if (deadline_ != InfiniteDeadline()) {
    deadline_timer_ = std::make_unique<Timer>(loop_);
    std::weak_ptr<Stream> weak = shared_from_this();
    deadline_timer_->StartAt(deadline_, [weak] {
      auto s = weak.lock();
      if (!s) return;
      auto* call = static_cast<ServerCallImpl*>(s.get());
      if (call->status_sent_ || call->done_) return;
      call->FailWithStatus(StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
    });
  }
  dispatch_handler_ = handler;
  if (handler_ == nullptr) method_options_ = nullptr;  // the generic handler runs inline
  if (method_options_ != nullptr && method_options_->expect_one_request) {
    expect_one_message_ = true;
    if (CheckOneRequest()) return;
  }
  if (method_options_ != nullptr && method_options_->wait_for_request && !remote_closed_) {
    awaiting_request_ = true;  // OnData or OnRemoteEndStream dispatches
    return;
  }
  Dispatch();
}

std::shared_ptr<ServerCall> ServerCallImpl::MakeHandle(std::shared_ptr<ServerCallImpl> impl) {
  // As on the client, the handler's handle cancels an unfinished call when dropped. Once the
  // status is on its way a cancel could only come too late (it is a no-op then): skip posting
  // it from a handler thread.
  ServerCallImpl* raw = impl.get();
  return std::shared_ptr<ServerCall>(
      raw,
      [impl = std::move(impl)](ServerCall*) mutable {
        if (!impl->status_started_.load(std::memory_order_acquire)) impl->Cancel();
        impl.reset();
      },
      SmallAllocator<char>());
}

void ServerCallImpl::Dispatch() {
  awaiting_request_ = false;
  if (done_) return;  // ended before its handler could run: nobody needs to see it
  ThreadPool* pool = method_options_ != nullptr ? method_options_->executor : nullptr;
  if (pool == nullptr) {
    (*dispatch_handler_)(MakeHandle(self()));
    return;
  }
  // To the pool at the end of this loop turn, batched with the turn's other calls. The handle
  // is made on the pool thread, so that its control block is allocated and freed there.
  dispatch_keep_ = self();
  loop_->SubmitToPool(pool, &dispatch_task_);
}

void ServerCallImpl::DispatchTask::Run() {
  std::shared_ptr<ServerCallImpl> impl = std::move(call->dispatch_keep_);
  const Handler& handler = *call->dispatch_handler_;
  handler(MakeHandle(std::move(impl)));
}

void ServerCallImpl::DispatchTask::Rejected() {
  // The pool is shut down; on the loop thread (the submitter).
  std::shared_ptr<ServerCallImpl> impl = std::move(call->dispatch_keep_);
  if (!impl->done_) {
    impl->DoSendStatus(Status(StatusCode::UNAVAILABLE, "Server is shutting down"), {}, nullptr);
  }
}

void ServerCallImpl::OnData(const uint8_t* data, size_t len) {
  uint64_t before = messages_received_;
  if (web_.mode == web::Mode::kText) {
    std::string decoded;
    if (!web_.decoder.Feed(data, len, &decoded)) {
      FailWithStatus(StatusCode::INTERNAL, "gRPC-Web text request body is not valid base64");
      return;
    }
    CallBase::OnData(reinterpret_cast<const uint8_t*>(decoded.data()), decoded.size());
  } else {
    CallBase::OnData(data, len);
  }
  if (awaiting_request_ && messages_received_ != before) Dispatch();
}

bool ServerCallImpl::ClaimCrossSlot(std::atomic<bool>& busy, uint32_t bit) {
  // Only from a thread that is not the loop's, and only while nothing of this call is posted:
  // the slots' node must not overtake a posted operation (see the header). Nor while a slot the
  // loop runs after this one is pending: this operation would overtake it.
  if (loop_->InLoopThread() || posted_ops_.load(std::memory_order_acquire) != 0) return false;
  if ((xbits_.load(std::memory_order_acquire) & ~((bit << 1) - 1)) != 0) return false;
  return !busy.exchange(true, std::memory_order_acquire);
}

void ServerCallImpl::ScheduleCross(uint32_t bit) {
  uint32_t prev = xbits_.fetch_or(bit, std::memory_order_acq_rel);
  if (prev != 0) return;  // the node is pushed already; its run takes this bit too
  xkeep_ = self();
  if (!loop_->PostWork(&xwork_)) {
    // The loop is stopped: nothing runs any more. Keep the call reachable (as posted tasks of
    // a stopped loop are) rather than run its destructor off its loop.
    loop_->Post([keep = std::move(xkeep_)] {});
  }
}

void ServerCallImpl::CrossOps::RunWork() {
  // keep first, so that it is released last: it may hold the call's last reference.
  std::shared_ptr<ServerCallImpl> keep = std::move(call->xkeep_);
  ServerCallImpl* c = keep.get();
  uint32_t bits = c->xbits_.exchange(0, std::memory_order_acq_rel);
  if (bits & kXInitialMetadata) {
    Metadata md = std::move(c->x_md_);
    Completion done = std::move(c->x_md_done_);
    c->x_md_busy_.store(false, std::memory_order_release);
    c->DoSendInitialMetadata(std::move(md), std::move(done));
  }
  if (bits & kXSend) {
    Slice prefix = std::move(c->x_prefix_);
    Slice payload = std::move(c->x_payload_);
    Completion done = std::move(c->x_send_done_);
    c->x_send_busy_.store(false, std::memory_order_release);
    c->DoSendMessage(std::move(prefix), std::move(payload), std::move(done));
  }
  if (bits & kXStatus) {
    Status status = std::move(c->x_status_);
    Metadata trailers = std::move(c->x_trailers_);
    Completion done = std::move(c->x_status_done_);
    c->x_status_busy_.store(false, std::memory_order_release);
    c->DoSendStatus(status, trailers, std::move(done));
  }
}

void ServerCallImpl::SetCompression(const std::string& algorithm) {
  Compression c = ParseCompression(algorithm);
  if (c == Compression::kUnknown) return;
  // Only what the client says it accepts (client_accept_encoding_ is fixed before the handler
  // runs), and only while the response headers, which announce it, are not out yet.
  if (c != Compression::kIdentity &&
      client_accept_encoding_.find(CompressionName(c)) == std::string::npos) {
    c = Compression::kIdentity;
  }
  std::lock_guard<std::mutex> lock(compression_mu_);
  if (headers_sent_) return;
  send_compression_ = c;
}

void ServerCallImpl::SendHeadersIfNeeded() {
  Compression compression;
  {
    // Decides the compression for good, together with SetCompression (any thread).
    std::lock_guard<std::mutex> lock(compression_mu_);
    if (headers_sent_) return;
    headers_sent_ = true;
    compression = send_compression_;
  }
  // Literal values are referenced, not copied into strings (this runs once per call).
  std::vector<std::pair<std::string, std::string>> md;
  std::string err;
  if (!AppendMetadata(initial_metadata_to_send_, &md, &err)) md.clear();  // validated above us
  NvList nv;
  nv.push_back(NvStatic(":status", "200"));
  std::string expose;
  if (web_.mode == web::Mode::kNone) {
    nv.push_back(NvStatic("content-type", "application/grpc"));
  } else {
    nv.push_back(NvRef("content-type", web_.content_type));
    if (!web_.origin.empty()) {
      expose = web::ExposeHeaders(md);
      nv.push_back(NvRef("access-control-allow-origin", web_.origin));
      nv.push_back(NvRef("access-control-expose-headers", expose));
      nv.push_back(NvStatic("vary", "Origin"));
    }
  }
  nv.push_back(NvStatic("grpc-accept-encoding", SupportedEncodingsHeader()));
  if (compression != Compression::kIdentity) {
    nv.push_back(NvStatic("grpc-encoding", CompressionName(compression)));
  }
  for (const auto& [k, v] : md) nv.push_back(NvRef(k, v));
  conn_->SubmitResponse(stream_id(), nv, true);
}

void ServerCallImpl::SendInitialMetadata(Metadata metadata, Completion done) {
  if (ClaimCrossSlot(x_md_busy_, kXInitialMetadata)) {
    x_md_ = std::move(metadata);
    x_md_done_ = std::move(done);
    ScheduleCross(kXInitialMetadata);
    return;
  }
  RunOrPostSelf(this, [md = std::move(metadata), done = std::move(done)](auto* self) mutable {
    self->DoSendInitialMetadata(std::move(md), std::move(done));
  });
}

void ServerCallImpl::DoSendInitialMetadata(Metadata md, Completion done) {
  if (headers_sent_ || status_sent_ || done_) {
    Complete(std::move(done), false);
    return;
  }
  initial_metadata_to_send_ = std::move(md);
  SendHeadersIfNeeded();
  Complete(std::move(done), true);
}

void ServerCallImpl::SendMessage(Slice message, uint32_t flags, Completion done) {
  Slice prefix, payload;
  std::string error;
  if (!FrameMessage(std::move(message), flags, &prefix, &payload, &error)) {
    RunOrPostSelf(this, [error, done = std::move(done)](auto* self) mutable {
      self->DoSendStatus(Status(StatusCode::RESOURCE_EXHAUSTED, error), {}, nullptr);
      self->Complete(std::move(done), false);
    });
    return;
  }
  if (ClaimCrossSlot(x_send_busy_, kXSend)) {
    x_prefix_ = std::move(prefix);
    x_payload_ = std::move(payload);
    x_send_done_ = std::move(done);
    ScheduleCross(kXSend);
    return;
  }
  RunOrPostSelf(this, [prefix = std::move(prefix), payload = std::move(payload),
                       done = std::move(done)](auto* self) mutable {
    self->DoSendMessage(std::move(prefix), std::move(payload), std::move(done));
  });
}

void ServerCallImpl::DoSendMessage(Slice prefix, Slice payload, Completion done) {
  if (status_sent_ || status_pending_ || done_) {
    Complete(std::move(done), false);
    return;
  }
  SendHeadersIfNeeded();
  if (web_.mode == web::Mode::kText) {
    // Each message is its own padded base64 chunk (PROTOCOL-WEB.md, text mode).
    std::string framed(reinterpret_cast<const char*>(prefix.data()), prefix.size());
    framed.append(reinterpret_cast<const char*>(payload.data()), payload.size());
    prefix = Slice::FromString(web::EncodeText(framed));
    payload = Slice();
  }
  EnqueueFramed(std::move(prefix), std::move(payload), std::move(done));
}

void ServerCallImpl::RecvMessage(Completion done) {
  RunOrPostSelf(this,
                [done = std::move(done)](auto* self) mutable { self->StartRecv(std::move(done)); });
}

void ServerCallImpl::SendStatus(const Status& status, Metadata trailers, Completion done) {
  status_started_.store(true, std::memory_order_release);
  if (ClaimCrossSlot(x_status_busy_, kXStatus)) {
    x_status_ = status;
    x_trailers_ = std::move(trailers);
    x_status_done_ = std::move(done);
    ScheduleCross(kXStatus);
    return;
  }
  RunOrPostSelf(
      this, [status, trailers = std::move(trailers), done = std::move(done)](auto* self) mutable {
        self->DoSendStatus(status, trailers, std::move(done));
      });
}

void ServerCallImpl::DoSendStatus(const Status& status, const Metadata& trailers,
                                  Completion done) {
  if (status_sent_ || status_pending_ || stream_closed_ || (done_ && cancelled_)) {
    Complete(std::move(done), false);
    return;
  }
  if (!headers_sent_ && out_bytes_ == 0 && web_.mode == web::Mode::kNone) {
    // Trailers-only response (gRPC-Web: headers, then the trailers frame, which browsers'
    // clients read more reliably than grpc-status in the headers).
    {
      std::lock_guard<std::mutex> lock(compression_mu_);
      headers_sent_ = true;
    }
    status_sent_ = true;
    SubmitStatus(status, trailers, /*trailers_only=*/true);
    Complete(std::move(done), true);
    AfterStatusSent();
    return;
  }
  SendHeadersIfNeeded();
  if (web_.mode != web::Mode::kNone) {
    // gRPC-Web: the trailers are the body's last frame (flag 0x80), then END_STREAM on DATA.
    std::vector<std::pair<std::string, std::string>> md;
    std::string err;
    if (!AppendMetadata(trailers, &md, &err)) md.clear();
    std::string frame = web::TrailersFrame(
        static_cast<int>(status.code()),
        status.message().empty() ? std::string() : PercentEncode(status.message()), md);
    if (web_.mode == web::Mode::kText) frame = web::EncodeText(frame);
    out_bytes_ += frame.size();
    out_enqueued_ += frame.size();
    out_.push_back(Slice::FromString(std::move(frame)));
  }
  pending_status_ = status;
  pending_trailers_ = trailers;
  status_pending_ = true;
  status_done_ = std::move(done);
  data_deferred_ = true;  // make KickOutput resume the provider
  KickOutput();
}

void ServerCallImpl::SubmitStatus(const Status& status, const Metadata& trailers,
                                  bool trailers_only) {
  MetricsFinished(static_cast<int>(status.code()));
  std::vector<std::pair<std::string, std::string>> md;
  std::string err;
  if (!AppendMetadata(trailers, &md, &err)) md.clear();  // validated above us
  std::string message;
  if (!status.message().empty()) message = PercentEncode(status.message());
  NvList nv;
  if (trailers_only) {
    nv.push_back(NvStatic(":status", "200"));
    nv.push_back(NvStatic("content-type", "application/grpc"));
  }
  nv.push_back(NvStatic("grpc-status", StatusCodeDigits(status.code())));
  if (!message.empty()) nv.push_back(NvLit("grpc-message", message));
  for (const auto& [k, v] : md) nv.push_back(NvRef(k, v));
  if (trailers_only) {
    conn_->SubmitResponse(stream_id(), nv, false);
  } else {
    conn_->SubmitTrailer(stream_id(), nv);
  }
}

bool ServerCallImpl::OnOutputDrained(uint32_t* data_flags) {
  if (!status_pending_) return false;
  status_pending_ = false;
  if (web_.mode != web::Mode::kNone) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;  // the trailers frame is queued already
    MetricsFinished(static_cast<int>(pending_status_.code()));
  } else {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    SubmitStatus(pending_status_, pending_trailers_, /*trailers_only=*/false);
  }
  pending_trailers_.clear();
  status_sent_ = true;
  if (status_done_) {
    Completion d = std::move(status_done_);
    status_done_ = nullptr;
    Complete(std::move(d), true);
  }
  // Deferred with a raw pointer and the call kept alive beside it: no closure allocation.
  loop_->DeferCompletion([this](bool) { AfterStatusSent(); }, true, shared_from_this());
  return true;
}

void ServerCallImpl::OnLocalEndStreamSent() {
  if (!remote_closed_ && !stream_closed_ && conn_) {
    // Our status is on the wire; tell the client to stop sending (after it, not before: a
    // RST_STREAM queued earlier would overtake the trailers).
    conn_->SubmitRstStream(stream_id(), NGHTTP2_NO_ERROR);
  }
}

void ServerCallImpl::AfterStatusSent() {
  if (deadline_timer_) deadline_timer_->Stop();
  recv_failed_ = recv_failed_ || !remote_closed_;
  MarkDone(cancelled_.load());
}

void ServerCallImpl::FailWithStatus(StatusCode code, const std::string& message) {
  cancelled_ = true;
  recv_failed_ = true;
  ClearRecvQueue();
  if (!status_pending_ && out_bytes_ == 0) {
    // Nothing half-written: the client gets this status (AfterStatusSent marks the call done).
    DoSendStatus(Status(code, message), {}, nullptr);
    if (status_sent_ || status_pending_) return;
  }
  // A message or the handler's own status is part-way out: the only honest end is a reset.
  MarkDone(true);
}

void ServerCallImpl::MarkDone(bool cancelled) {
  if (done_) return;
  done_ = true;
  finished_ = true;
  if (cancelled) cancelled_ = true;
  if (cancelled && !status_sent_) {
    MetricsFinished(static_cast<int>(StatusCode::CANCELLED));
    // Drop a status waiting behind the output (it must not follow a truncated message) and
    // reset the stream.
    status_pending_ = false;
    if (status_done_) {
      Completion d = std::move(status_done_);
      status_done_ = nullptr;
      Complete(std::move(d), false);
    }
    if (!stream_closed_ && !rst_sent_ && conn_) {
      rst_sent_ = true;
      conn_->SubmitRstStream(stream_id(), NGHTTP2_CANCEL);
    }
  }
  FailPendingOps();
  auto fns = std::move(on_done_);
  on_done_.clear();
  for (auto& fn : fns) {
    loop_->Defer([fn = std::move(fn), cancelled] { fn(cancelled); });
  }
}

void ServerCallImpl::OnDone(std::function<void(bool)> fn) {
  RunOrPostSelf(this, [fn = std::move(fn)](auto* self) mutable {
    if (self->done_) {
      bool c = self->cancelled_.load();
      self->loop_->Defer([fn = std::move(fn), c] { fn(c); });
    } else {
      self->on_done_.push_back(std::move(fn));
    }
  });
}

void ServerCallImpl::Cancel() {
  RunOrPostSelf(this, [](auto* self) {
    if (self->done_ || self->status_sent_ || self->status_pending_) return;
    self->recv_failed_ = true;
    self->MarkDone(true);  // resets the stream
  });
}

void ServerCallImpl::CloseConnectionForTesting() {
  RunOrPostSelf(this, [](auto* self) {
    if (self->conn_) self->conn_->Close("closed by the server for testing");
  });
}

void ServerCallImpl::OnRemoteEndStream() {
  remote_closed_ = true;
  if (deframer_.InMiddleOfMessage() && !done_ && !status_sent_) {
    OnRecvError(StatusCode::INTERNAL, "Client ended the stream in the middle of a message");
    return;
  }
  if (CheckOneRequest()) return;
  DeliverMessages();
  if (awaiting_request_) Dispatch();  // the client sent no message: the handler says what then
}

void ServerCallImpl::OnClose(uint32_t h2_error, const std::string& connection_error) {
  ReturnAllCredit();  // the connection's window must not keep what this stream held back
  stream_closed_ = true;
  remote_closed_ = true;
  if (!status_sent_) {
    recv_failed_ = true;
    status_pending_ = false;
    if (status_done_) {
      Completion d = std::move(status_done_);
      status_done_ = nullptr;
      Complete(std::move(d), false);
    }
    MarkDone(true);
  } else {
    MarkDone(cancelled_.load());
  }
  DeliverMessages();
  if (deadline_timer_) deadline_timer_->Stop();
  conn_ = nullptr;
}

void ServerCallImpl::OnRecvError(StatusCode code, const std::string& message) {
  FailWithStatus(code, message);
}

void ServerCallImpl::OnCardinalityViolation(const std::string& message) {
  FailWithStatus(StatusCode::UNIMPLEMENTED, message);
}

bool ServerCallImpl::CheckOneRequest() {
  if (!expect_one_message_ || done_ || status_sent_) return false;
  if (messages_received_ > 1) {
    OnCardinalityViolation("More than one request message received where the method takes exactly one");
    return true;
  }
  if (remote_closed_ && messages_received_ == 0 && !deframer_.InMiddleOfMessage()) {
    OnCardinalityViolation("No request message received where the method takes exactly one");
    return true;
  }
  return false;
}

void ServerCallImpl::ExpectOneRequest() {
  RunOrPostSelf(this, [](auto* self) {
    self->expect_one_message_ = true;
    self->CheckOneRequest();
  });
}

// ---- Server ------------------------------------------------------------------------------------

std::unique_ptr<Server> Server::Create(const Options& options) {
  return std::make_unique<ServerImpl>(options);
}

ServerImpl::ServerImpl(const Options& options)
    : options_(options), runtime_(Runtime::Get()) {
  int64_t mr = options.GetInt("grpc.max_receive_message_length", 4 << 20);
  max_recv_ = mr < 0 ? SIZE_MAX : static_cast<size_t>(mr);
  max_send_ = options.GetInt("grpc.max_send_message_length", -1);
  settings_.keepalive_time_ms = options.GetInt("grpc.keepalive_time_ms", 7200000);
  settings_.keepalive_timeout_ms = options.GetInt("grpc.keepalive_timeout_ms", 20000);
  settings_.keepalive_permit_without_calls =
      options.GetInt("grpc.keepalive_permit_without_calls", 0) != 0;
  settings_.min_recv_ping_interval_ms =
      options.GetInt("grpc.http2.min_recv_ping_interval_without_data_ms", 300000);
  settings_.max_ping_strikes =
      static_cast<int>(options.GetInt("grpc.http2.max_ping_strikes", 2));
  // A connection that never sends its preface and SETTINGS is closed after this (gRPC's
  // server handshake timeout, 120 s), not kept for ever.
  settings_.handshake_timeout_ms = options.GetInt("grpc.server_handshake_timeout_ms", 120000);
  // The same bound for the sniffing stage of web::Http1Hub (before HTTP/2 or HTTP/1.1 is known).
  const int64_t handshake_timeout_ms = settings_.handshake_timeout_ms;
  int64_t mcs = options.GetInt("grpc.max_concurrent_streams", settings_.max_concurrent_streams);
  settings_.max_concurrent_streams =
      mcs <= 0 || mcs > 0xffffffffLL ? 0xffffffffu : static_cast<uint32_t>(mcs);
  int64_t server_limit = options.GetInt("polyrpc.max_server_memory", DefaultServerMemoryLimit());
  quota_ = std::make_shared<MemoryQuota>(server_limit);
  connection_memory_limit_ =
      options.GetInt("polyrpc.max_connection_memory", kDefaultConnectionMemory);
  testing_accept_any_request_ = options.GetInt("polyrpc.testing_accept_any_request", 0) != 0;
  if (options.HasInt("polyrpc.initial_window_size")) {
    settings_.initial_window_size =
        static_cast<uint32_t>(options.GetInt("polyrpc.initial_window_size", 4 << 20));
  }
  size_t max_web_body = max_recv_ > (SIZE_MAX - 1024) / 2 ? SIZE_MAX : max_recv_ * 2 + 1024;
  web_hub_ = std::make_shared<web::Http1Hub>(
      [this](EventLoop* loop, std::unique_ptr<Endpoint> ep) { ServeEndpoint(loop, std::move(ep)); },
      max_web_body, handshake_timeout_ms);
}

ServerImpl::~ServerImpl() {
  if (started_) Shutdown(Clock::now());
  for (auto& l : listeners_) l->Close();
}

int ServerImpl::AddListener(const std::string& address, std::shared_ptr<ServerCredentials> creds,
                            std::string* error) {
  std::string err;
  std::shared_ptr<TlsContext> tls;
  if (creds && creds->tls) {
    TlsServerOptions to;
    to.cert_chain_pem = creds->cert_chain_pem;
    to.private_key_pem = creds->private_key_pem;
    to.client_ca_pem = creds->client_ca_pem;
    to.require_client_cert = creds->require_client_cert;
    tls = TlsContext::CreateServer(to, &err);
    if (!tls) {
      if (error) *error = err;
      return -1;
    }
  }
  int port = -1;
  auto listener = Listener::Create(
      runtime_->loop(0), address,
      [this, tls](int fd, std::string peer) { OnAccept(fd, std::move(peer), tls); }, &port, &err);
  if (!listener) {
    if (error) *error = err;
    return -1;
  }
  listeners_.push_back(std::move(listener));
  if (LogEnabled(LogLevel::kInfo)) {
    Log(LogLevel::kInfo, "server", "listening on " + address + (tls ? " (TLS)" : "") +
                                       (port > 0 ? ", port " + std::to_string(port) : ""));
  }
  return port;
}

void ServerImpl::RegisterMethod(const std::string& path, Handler handler) {
  RegisterMethod(path, std::move(handler), MethodOptions());
}

void ServerImpl::RegisterMethod(const std::string& path, Handler handler,
                                const MethodOptions& options) {
  methods_[path] =
      Method{std::make_shared<const std::string>(path), std::move(handler), options};
}

void ServerImpl::SetGenericHandler(Handler handler) { generic_ = std::move(handler); }

bool ServerImpl::Start(std::string* error) {
  if (listeners_.empty()) {
    if (error) *error = "Server has no listeners";
    return false;
  }
  started_ = true;
  return true;
}

const ServerImpl::Method* ServerImpl::FindMethod(std::string_view path) const {
  auto it = methods_.find(path);
  return it == methods_.end() ? nullptr : &it->second;
}

void ServerImpl::OnAccept(int fd, std::string peer, std::shared_ptr<TlsContext> tls) {
  if (!started_) {
    ::close(fd);
    return;
  }
  EventLoop* loop = runtime_->NextLoop();
  loop->Post([this, loop, fd, peer = std::move(peer), tls] {
    std::string err;
    auto ep = CreateEndpoint(loop, fd, peer, tls, true, "", &err);
    if (ep) web_hub_->Serve(loop, std::move(ep));  // HTTP/2, or HTTP/1.1 for gRPC-Web
  });
}

void ServerImpl::ServeEndpoint(EventLoop* loop, std::unique_ptr<Endpoint> ep) {
  std::shared_ptr<Http2Connection> conn(new Http2Connection(std::move(ep), true, settings_),
                                        LoopDeleter{loop});
  std::weak_ptr<Http2Connection> weak = conn;
  auto quota = std::make_shared<MemoryQuota>(connection_memory_limit_, quota_);
  conn->set_stream_factory([this, weak, loop, quota](int32_t) -> std::shared_ptr<Stream> {
    auto c = weak.lock();
    if (!c) return nullptr;
    // A new stream must leave an eighth of either budget to the calls already admitted.
    if (!quota->TryReserve(kStreamCharge, 7)) {
      streams_refused_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;  // REFUSED_STREAM: the client may retry it elsewhere
    }
    MemoryReservation charge(quota, kStreamCharge);
    return std::shared_ptr<ServerCallImpl>(new ServerCallImpl(this, c, quota, std::move(charge)),
                                           LoopDeleter{loop}, SmallAllocator<char>());
  });
  Http2Connection* raw = conn.get();
  conn->set_on_closed([this, raw](const std::string&) { OnConnectionClosed(raw); });
  bool shutting_down;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down = shutting_down_;
    if (!shutting_down) conns_[raw] = conn;
  }
  if (shutting_down) return;  // conn destroyed here, closing the socket
  conn->Start();
}

void ServerImpl::OnConnectionClosed(Http2Connection* conn) {
  std::shared_ptr<Http2Connection> keep;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = conns_.find(conn);
    if (it == conns_.end()) return;
    keep = std::move(it->second);
    conns_.erase(it);
    // Notified under the lock: once conns_ is empty, Shutdown may return and the server be
    // destroyed, condition variable included (ThreadSanitizer saw a notify after that).
    cv_.notify_all();
  }
  // Drop the last reference after the connection's own callback has returned.
  conn->loop()->Defer([keep] {});
}

void ServerImpl::Shutdown(Deadline deadline) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (shutting_down_) {
      cv_.wait(lock, [this] { return shutdown_done_; });
      return;
    }
    shutting_down_ = true;
  }
  Log(LogLevel::kInfo, "server", "shutting down");
  for (auto& fn : on_shutdown_) fn();
  for (auto& l : listeners_) l->Close();
  // Accepted sockets may still be on their way to a loop (posted by the listener): wait for
  // every loop to run what was posted before now, so none arrives after we are gone.
  for (size_t i = 0; i < runtime_->size(); ++i) {
    std::promise<void> passed;
    runtime_->loop(i)->Post([&passed] { passed.set_value(); });
    passed.get_future().wait();
  }
  web_hub_->Close();  // connections not yet past their first bytes
  std::vector<std::shared_ptr<Http2Connection>> conns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [raw, c] : conns_) conns.push_back(c);
  }
  for (auto& c : conns) {
    c->loop()->Post([c] { c->Goaway(); });
  }
  conns.clear();
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline, [this] { return conns_.empty(); })) {
    for (auto& [raw, c] : conns_) {
      auto conn = c;
      conn->loop()->Post([conn] { conn->Close("Server shutdown: deadline reached"); });
    }
    // Connections call back into this object until they are gone: wait for all of them.
    cv_.wait(lock, [this] { return conns_.empty(); });
  }
  shutdown_done_ = true;
  cv_.notify_all();
}

std::vector<std::string> ServerImpl::RegisteredMethods() const {
  std::vector<std::string> paths;
  paths.reserve(methods_.size());
  for (const auto& [path, m] : methods_) paths.push_back(path);
  std::sort(paths.begin(), paths.end());
  return paths;
}

ServerStats ServerImpl::GetStats() const {
  ServerStats st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    st.connections = conns_.size();
  }
  st.calls = static_cast<size_t>(std::max<int64_t>(0, quota_->holders()));
  st.memory_used = quota_->used();
  st.memory_peak = quota_->peak();
  st.memory_limit = quota_->limit();
  st.connection_memory_limit = connection_memory_limit_;
  st.streams_refused = streams_refused_.load();
  return st;
}

void ServerImpl::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shutdown_done_; });
}

}  // namespace polyrpc
