#include "web/http1_server.h"

#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include <cctype>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "polyrpc++/observability.hpp"
#include "runtime/timer.h"
#include "transport/write_batch.h"
#include "web/grpc_web.h"

namespace polyrpc::web {

namespace {

// Bytes of the response not yet taken by the kernel beyond which the in-process HTTP/2 stream
// gets no more window (the server then holds its messages back).
constexpr size_t kMaxPendingOut = 1u << 20;

std::string Flatten(const WriteBatch& batch) {
  std::string s;
  s.reserve(batch.size());
  for (const uv_buf_t& b : batch.Iovecs()) s.append(b.base, b.len);
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Request headers that describe the HTTP/1.1 hop, not the request: not passed on.
bool IsHopHeader(const std::string& k) {
  return k == "connection" || k == "keep-alive" || k == "proxy-connection" ||
         k == "transfer-encoding" || k == "upgrade" || k == "te" || k == "host" ||
         k == "content-length" || k == "expect" || k == "http2-settings";
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

// ---- the first bytes of a connection ----

// Whether buf begins with word, or is (so far) a prefix of it.
static bool StartsAsOrIsPrefix(const std::string& buf, std::string_view word) {
  size_t n = buf.size() < word.size() ? buf.size() : word.size();
  return std::memcmp(buf.data(), word.data(), n) == 0;
}

// Wraps an accepted endpoint while its first bytes are read, and after the decision replays
// them to whoever serves the connection (the HTTP/2 server or the HTTP/1.1 bridge).
class SniffEndpoint final : public Endpoint, public Endpoint::Handler {
 public:
  SniffEndpoint(std::unique_ptr<Endpoint> real, std::shared_ptr<Http1Hub> hub)
      : real_(std::move(real)), hub_(std::move(hub)), timer_(real_->loop()) {}
  ~SniffEndpoint() override { *alive_ = false; }

  // timeout_ms > 0: a connection that has not said which protocol by then is closed (as an
  // HTTP/2 connection without the peer's SETTINGS is: Http2Settings::handshake_timeout_ms).
  void Begin(int64_t timeout_ms) {
    real_->Start(this);
    if (timeout_ms > 0 && !decided_) {
      timer_.Start(static_cast<uint64_t>(timeout_ms), [this] {
        if (!decided_) Decide(Outcome::kGone);
      });
    }
  }

  // Endpoint::Handler (the real endpoint's)
  void OnEndpointRead(const uint8_t* data, size_t len) override {
    if (handler_ && replayed_) {
      handler_->OnEndpointRead(data, len);
      return;
    }
    buf_.append(reinterpret_cast<const char*>(data), len);
    if (decided_) return;
    // HTTP/1.1 only for the request lines gRPC-Web sends (POST, and OPTIONS for CORS
    // preflight); everything else, the HTTP/2 preface or not, goes to the HTTP/2 server, which
    // answers a bad preface with GOAWAY and closes (RFC 9113 3.4), never with an HTTP/1 reply.
    bool maybe_post = StartsAsOrIsPrefix(buf_, "POST ");
    bool maybe_options = StartsAsOrIsPrefix(buf_, "OPTIONS ");
    if ((maybe_post && buf_.size() < 5) || (maybe_options && buf_.size() < 8)) return;  // more
    Decide(maybe_post || maybe_options ? Outcome::kHttp1 : Outcome::kHttp2);
  }
  void OnEndpointWritable() override {
    if (handler_) handler_->OnEndpointWritable();
  }
  void OnEndpointClosed(const std::string& reason) override {
    if (handler_ && replayed_) {
      handler_->OnEndpointClosed(reason);
      return;
    }
    closed_ = true;
    close_reason_ = reason;
    if (!decided_) Decide(Outcome::kGone);
  }

  // Endpoint (what the server or bridge sees)
  void Start(Endpoint::Handler* handler) override {
    handler_ = handler;
    std::weak_ptr<bool> alive = alive_;
    real_->loop()->Post([this, alive] {
      if (alive.expired()) return;
      replayed_ = true;
      std::string buf = std::move(buf_);
      buf_.clear();
      std::weak_ptr<bool> still = alive_;
      if (!buf.empty()) handler_->OnEndpointRead(reinterpret_cast<const uint8_t*>(buf.data()),
                                                 buf.size());
      if (still.expired()) return;
      if (closed_) {
        handler_->OnEndpointClosed(close_reason_);
        return;
      }
      if (!handler_paused_) real_->SetReadPaused(false);
    });
  }
  void Write(std::unique_ptr<WriteBatch> batch) override { real_->Write(std::move(batch)); }
  size_t PendingWriteBytes() const override { return real_->PendingWriteBytes(); }
  void SetReadPaused(bool paused) override {
    handler_paused_ = paused;
    if (replayed_) real_->SetReadPaused(paused);
  }
  void ShutdownWrite() override { real_->ShutdownWrite(); }
  void Close() override {
    handler_ = nullptr;
    replayed_ = false;
    real_->Close();
  }
  EventLoop* loop() const override { return real_->loop(); }
  const std::string& peer() const override { return real_->peer(); }
  bool is_tls() const override { return real_->is_tls(); }
  std::string alpn() const override { return real_->alpn(); }

  enum class Outcome { kHttp2, kHttp1, kGone };

 private:
  void Decide(Outcome o) {
    decided_ = true;
    timer_.Stop();
    if (!closed_) real_->SetReadPaused(true);
    // Off the endpoint's callback: the decision may destroy this object.
    std::shared_ptr<Http1Hub> hub = hub_;
    real_->loop()->Post([hub, this, o] { hub->Decided(this, static_cast<int>(o)); });
  }

  std::unique_ptr<Endpoint> real_;
  std::shared_ptr<Http1Hub> hub_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string buf_;
  bool decided_ = false;
  bool replayed_ = false;
  bool closed_ = false;
  bool handler_paused_ = false;
  std::string close_reason_;
  Endpoint::Handler* handler_ = nullptr;
  Timer timer_;
};

// ---- the HTTP/1.1 bridge ----

class Http1Connection;

// The in-process HTTP/2 connection's endpoint: what the server writes goes to the bridge's
// nghttp2 client session, and what that session sends is read by the server. Deliveries are
// posted (never inside the other side's callback).
class InnerEndpoint final : public Endpoint {
 public:
  InnerEndpoint(EventLoop* loop, std::string peer, std::weak_ptr<Http1Connection> bridge)
      : loop_(loop), peer_(std::move(peer)), bridge_(std::move(bridge)) {}
  ~InnerEndpoint() override;

  void Start(Handler* handler) override { handler_ = handler; }
  void Write(std::unique_ptr<WriteBatch> batch) override;
  size_t PendingWriteBytes() const override { return 0; }
  void SetReadPaused(bool paused) override;
  void ShutdownWrite() override;
  void Close() override;
  EventLoop* loop() const override { return loop_; }
  const std::string& peer() const override { return peer_; }
  bool is_tls() const override { return false; }
  std::string alpn() const override { return ""; }

  // From the bridge: bytes for the server (queued while the server pauses reading).
  void Deliver(std::string bytes);
  void Hangup(const std::string& reason);
  std::weak_ptr<bool> alive() const { return alive_; }

 private:
  void Flush();
  EventLoop* loop_;
  std::string peer_;
  std::weak_ptr<Http1Connection> bridge_;
  Handler* handler_ = nullptr;
  bool paused_ = false;
  bool closed_ = false;
  bool told_bridge_ = false;
  std::string queued_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  void TellBridgeClosed();
};

class Http1Connection final : public Endpoint::Handler,
                              public std::enable_shared_from_this<Http1Connection> {
 public:
  static void Create(EventLoop* loop, std::unique_ptr<SniffEndpoint> outer,
                     const Http1Hub::ServeHttp2& serve_http2, size_t max_body) {
    auto c = std::make_shared<Http1Connection>(loop, max_body);
    c->self_ = c;
    std::string peer = outer->peer();
    auto inner = std::make_unique<InnerEndpoint>(loop, peer, c);
    c->inner_ = inner.get();
    c->inner_alive_ = inner->alive();
    c->outer_ = std::move(outer);
    serve_http2(loop, std::move(inner));  // may drop it (shutting down): InnerClosed follows
    c->outer_->Start(c.get());
    c->Pump();  // the client preface and SETTINGS
  }

  Http1Connection(EventLoop* loop, size_t max_body) : loop_(loop), max_body_(max_body) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, &SendCb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &HeaderCb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &FrameRecvCb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &DataCb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &StreamCloseCb);
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&h2_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, nullptr, 0);

    http_parser_settings_init(&ps_);
    ps_.on_message_begin = &OnMessageBegin;
    ps_.on_url = &OnUrl;
    ps_.on_header_field = &OnHeaderField;
    ps_.on_header_value = &OnHeaderValue;
    ps_.on_headers_complete = &OnHeadersComplete;
    ps_.on_body = &OnBody;
    ps_.on_message_complete = &OnMessageComplete;
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
  }
  ~Http1Connection() override { nghttp2_session_del(h2_); }

  // From InnerEndpoint (posted).
  void FromInner(const std::string& bytes) {
    if (finished_) return;
    ssize_t rv = nghttp2_session_mem_recv(h2_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                          bytes.size());
    if (rv < 0) {
      InnerGone("in-process HTTP/2 error: " + std::string(nghttp2_strerror(static_cast<int>(rv))));
      return;
    }
    Pump();
  }
  void InnerClosed() {
    inner_ = nullptr;
    InnerGone("the server closed the connection");
  }

  // Endpoint::Handler (the browser's connection)
  void OnEndpointRead(const uint8_t* data, size_t len) override {
    if (finished_) return;
    if (busy_) {
      if (pending_in_.size() + len > max_body_ + 65536) {
        Finish("HTTP/1.1 client sent too much ahead of its response");
        return;
      }
      pending_in_.append(reinterpret_cast<const char*>(data), len);
      return;
    }
    Parse(reinterpret_cast<const char*>(data), len);
  }
  void OnEndpointWritable() override {
    if (owed_ > 0 && stream_id_ > 0 && !finished_) {
      nghttp2_session_consume(h2_, stream_id_, owed_);
      owed_ = 0;
      Pump();
    }
  }
  void OnEndpointClosed(const std::string& reason) override {
    outer_closed_ = true;
    Finish(reason.empty() ? "HTTP/1.1 peer closed the connection" : reason);
  }

 private:
  // ---- HTTP/1.1 requests ----
  void Parse(const char* data, size_t len) {
    size_t n = http_parser_execute(&parser_, &ps_, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&parser_);
    if (err == HPE_PAUSED) {
      pending_in_.append(data + n, len - n);
    } else if (err != HPE_OK) {
      std::string what = std::string(http_errno_name(err)) + ": " + http_errno_description(err);
      int status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
      keep_alive_ = false;
      WriteSimple(status, {}, "Bad HTTP/1.1 request (" + what + ")\n");
      CloseAfterWrite();
      return;
    }
    if (request_ready_) {
      request_ready_ = false;
      HandleRequest();
    }
  }

  static Http1Connection* P(http_parser* p) { return static_cast<Http1Connection*>(p->data); }
  static int OnMessageBegin(http_parser* p) {
    Http1Connection* c = P(p);
    c->url_.clear();
    c->req_headers_.clear();
    c->field_.clear();
    c->value_.clear();
    c->in_value_ = false;
    c->body_.clear();
    c->too_large_ = false;
    return 0;
  }
  static int OnUrl(http_parser* p, const char* at, size_t len) {
    P(p)->url_.append(at, len);
    return 0;
  }
  static int OnHeaderField(http_parser* p, const char* at, size_t len) {
    Http1Connection* c = P(p);
    if (c->in_value_) {
      c->req_headers_.emplace_back(Lower(std::move(c->field_)), std::move(c->value_));
      c->field_.clear();
      c->value_.clear();
      c->in_value_ = false;
    }
    c->field_.append(at, len);
    return 0;
  }
  static int OnHeaderValue(http_parser* p, const char* at, size_t len) {
    Http1Connection* c = P(p);
    c->in_value_ = true;
    c->value_.append(at, len);
    return 0;
  }
  static int OnHeadersComplete(http_parser* p) {
    Http1Connection* c = P(p);
    if (!c->field_.empty()) {
      c->req_headers_.emplace_back(Lower(std::move(c->field_)), std::move(c->value_));
    }
    c->field_.clear();
    c->value_.clear();
    c->in_value_ = false;
    c->method_ = static_cast<enum http_method>(p->method);
    c->keep_alive_ = http_should_keep_alive(p) != 0;
    return 0;
  }
  static int OnBody(http_parser* p, const char* at, size_t len) {
    Http1Connection* c = P(p);
    if (c->body_.size() + len > c->max_body_) {
      c->too_large_ = true;
    } else {
      c->body_.append(at, len);
    }
    return 0;
  }
  static int OnMessageComplete(http_parser* p) {
    Http1Connection* c = P(p);
    c->request_ready_ = true;
    c->busy_ = true;
    http_parser_pause(p, 1);  // one request at a time: responses go out in order
    return 0;
  }

  const std::string* ReqHeader(const char* name) const {
    for (const auto& [k, v] : req_headers_) {
      if (k == name) return &v;
    }
    return nullptr;
  }

  void HandleRequest() {
    const std::string* origin = ReqHeader("origin");
    origin_ = origin ? *origin : "";
    if (too_large_) {
      keep_alive_ = false;
      WriteSimple(413, CorsHeaders(), "Request body larger than the limit\n");
      CloseAfterWrite();
      return;
    }
    if (method_ == HTTP_OPTIONS) {
      std::vector<std::pair<std::string, std::string>> h;
      if (!origin_.empty()) {
        const std::string* want = ReqHeader("access-control-request-headers");
        h = {{"access-control-allow-origin", origin_},
             {"access-control-allow-methods", kAllowMethods},
             {"access-control-allow-headers", want ? *want : std::string(kDefaultAllowHeaders)},
             {"access-control-max-age", kMaxAge},
             {"vary", "Origin"}};
      } else {
        h = {{"allow", kAllowMethods}};
      }
      WriteSimple(204, h, "");
      RequestDone();
      return;
    }
    if (method_ != HTTP_POST) {
      auto h = CorsHeaders();
      h.emplace_back("allow", kAllowMethods);
      WriteSimple(405, h,
                  std::string("Method not allowed: ") + http_method_str(method_) +
                      " (gRPC-Web over HTTP/1.1 takes POST, and OPTIONS preflights)\n");
      RequestDone();
      return;
    }
    const std::string* ct = ReqHeader("content-type");
    bool other = false;
    if (!ct || ParseContentType(*ct, &other) == Mode::kNone) {
      WriteSimple(415, CorsHeaders(),
                  "Unsupported content-type: '" + (ct ? *ct : std::string()) +
                      "' (over HTTP/1.1 this port speaks gRPC-Web: application/grpc-web, "
                      "application/grpc-web+proto, application/grpc-web-text)\n");
      RequestDone();
      return;
    }
    if (finished_ || inner_ == nullptr) {
      keep_alive_ = false;
      WriteSimple(503, CorsHeaders(), "Server is shutting down\n");
      CloseAfterWrite();
      return;
    }
    // The request as HTTP/2, to the server on the in-process connection.
    const std::string* host = ReqHeader("host");
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", "POST"},
        {":scheme", "http"},
        {":path", url_},
        {":authority", host && !host->empty() ? *host : std::string("localhost")}};
    for (const auto& [k, v] : req_headers_) {
      if (!IsHopHeader(k)) h.emplace_back(k, v);
    }
    std::vector<nghttp2_nv> nv;
    for (const auto& [k, v] : h) {
      nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    body_pos_ = 0;
    nghttp2_data_provider prd;
    prd.source.ptr = this;
    prd.read_callback = &ReadBodyCb;
    resp_status_ = 0;
    resp_headers_.clear();
    resp_head_sent_ = false;
    resp_done_ = false;
    owed_ = 0;
    stream_id_ = nghttp2_submit_request(h2_, nullptr, nv.data(), nv.size(), &prd, nullptr);
    if (stream_id_ < 0) {
      keep_alive_ = false;
      WriteSimple(503, CorsHeaders(), "Cannot start the call: " +
                                          std::string(nghttp2_strerror(stream_id_)) + "\n");
      CloseAfterWrite();
      return;
    }
    Pump();
  }

  std::vector<std::pair<std::string, std::string>> CorsHeaders() const {
    if (origin_.empty()) return {};
    return {{"access-control-allow-origin", origin_},
            {"access-control-expose-headers", kExposeHeaders},
            {"vary", "Origin"}};
  }

  // The response is complete: the next request, if the connection goes on.
  void RequestDone() {
    busy_ = false;
    stream_id_ = -1;
    if (!keep_alive_) {
      CloseAfterWrite();
      return;
    }
    http_parser_pause(&parser_, 0);
    if (pending_in_.empty()) return;
    // Posted: this may run inside an nghttp2 callback.
    std::weak_ptr<Http1Connection> weak = weak_from_this();
    loop_->Post([weak] {
      auto c = weak.lock();
      if (!c || c->finished_ || c->busy_) return;
      std::string in = std::move(c->pending_in_);
      c->pending_in_.clear();
      c->Parse(in.data(), in.size());
    });
  }

  // ---- writing HTTP/1.1 ----
  void WriteOut(const std::string& s) {
    if (outer_closed_ || !outer_ || s.empty()) return;
    auto batch = std::make_unique<WriteBatch>();
    batch->Append(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    outer_->Write(std::move(batch));
  }
  std::string Head(int status, const std::vector<std::pair<std::string, std::string>>& h) {
    std::string s = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
    for (const auto& [k, v] : h) {
      s += k;
      s += ": ";
      s += v;
      s += "\r\n";
    }
    if (!keep_alive_) s += "connection: close\r\n";
    return s;
  }
  void WriteSimple(int status, std::vector<std::pair<std::string, std::string>> h,
                   const std::string& body) {
    if (!body.empty()) h.emplace_back("content-type", "text/plain; charset=utf-8");
    std::string s = Head(status, h);
    if (status != 204) s += "content-length: " + std::to_string(body.size()) + "\r\n";
    s += "\r\n";
    s += body;
    WriteOut(s);
  }
  void CloseAfterWrite() {
    finished_ = true;
    if (outer_ && !outer_closed_) outer_->ShutdownWrite();
    if (inner_ && !inner_alive_.expired()) inner_->Hangup("HTTP/1.1 connection closing");
    inner_ = nullptr;
  }

  // The in-process connection is gone.
  void InnerGone(const std::string& why) {
    if (finished_) return;
    if (busy_ && stream_id_ > 0 && !resp_done_) {
      if (!resp_head_sent_) {
        keep_alive_ = false;
        WriteSimple(503, CorsHeaders(), "The call could not complete: " + why + "\n");
      }
      // A response part-way out cannot be ended honestly: the connection closes under it.
    }
    CloseAfterWrite();
  }

  void Finish(const std::string& why) {
    bool was = finished_;
    finished_ = true;
    if (!was && inner_ && !inner_alive_.expired()) inner_->Hangup(why);
    inner_ = nullptr;
    if (outer_) outer_->Close();
    // The last reference may be self_: release it after everything above.
    std::shared_ptr<Http1Connection> keep = std::move(self_);
    self_.reset();
    if (keep) loop_->Post([keep] {});
  }

  // ---- HTTP/2 client side ----
  void Pump() {
    if (finished_ && !inner_) return;
    nghttp2_session_send(h2_);
    if (!to_inner_.empty() && inner_ && !inner_alive_.expired()) {
      std::string b = std::move(to_inner_);
      to_inner_.clear();
      inner_->Deliver(std::move(b));
    }
    to_inner_.clear();
  }
  static Http1Connection* S(void* u) { return static_cast<Http1Connection*>(u); }
  static ssize_t SendCb(nghttp2_session*, const uint8_t* data, size_t len, int, void* u) {
    S(u)->to_inner_.append(reinterpret_cast<const char*>(data), len);
    return static_cast<ssize_t>(len);
  }
  static ssize_t ReadBodyCb(nghttp2_session*, int32_t, uint8_t* buf, size_t len,
                            uint32_t* flags, nghttp2_data_source*, void* u) {
    Http1Connection* c = S(u);
    size_t left = c->body_.size() - c->body_pos_;
    size_t n = left < len ? left : len;
    std::memcpy(buf, c->body_.data() + c->body_pos_, n);
    c->body_pos_ += n;
    if (c->body_pos_ == c->body_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int HeaderCb(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* u) {
    Http1Connection* c = S(u);
    if (f->hd.stream_id != c->stream_id_ || c->resp_head_sent_) return 0;  // trailers: none for gRPC-Web
    std::string k(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (k == ":status") {
      c->resp_status_ = std::atoi(v.c_str());
    } else if (k[0] != ':') {
      c->resp_headers_.emplace_back(std::move(k), std::move(v));
    }
    return 0;
  }
  static int FrameRecvCb(nghttp2_session*, const nghttp2_frame* f, void* u) {
    Http1Connection* c = S(u);
    if (f->hd.stream_id != c->stream_id_ || c->stream_id_ <= 0) return 0;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && !c->resp_head_sent_ &&
        f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      c->resp_head_sent_ = true;
      std::string s = c->Head(c->resp_status_ ? c->resp_status_ : 502, c->resp_headers_);
      s += end ? "content-length: 0\r\n\r\n" : "transfer-encoding: chunked\r\n\r\n";
      c->WriteOut(s);
      if (end) c->resp_done_ = true;
    } else if (end && c->resp_head_sent_ && !c->resp_done_) {
      c->resp_done_ = true;
      c->WriteOut("0\r\n\r\n");
    }
    return 0;
  }
  static int DataCb(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* u) {
    Http1Connection* c = S(u);
    if (id != c->stream_id_ || !c->resp_head_sent_ || len == 0) {
      nghttp2_session_consume(s, id, len);
      return 0;
    }
    char hex[20];
    std::snprintf(hex, sizeof hex, "%zx\r\n", len);
    std::string chunk = hex;
    chunk.append(reinterpret_cast<const char*>(data), len);
    chunk += "\r\n";
    c->WriteOut(chunk);
    if (c->outer_ && c->outer_->PendingWriteBytes() < kMaxPendingOut) {
      nghttp2_session_consume(s, id, len);
    } else {
      c->owed_ += len;  // given back once the browser has taken what is written
    }
    return 0;
  }
  static int StreamCloseCb(nghttp2_session*, int32_t id, uint32_t code, void* u) {
    Http1Connection* c = S(u);
    if (id != c->stream_id_) return 0;
    if (!c->resp_done_) {
      if (!c->resp_head_sent_) {
        c->keep_alive_ = false;
        c->WriteSimple(code == NGHTTP2_REFUSED_STREAM ? 503 : 400, c->CorsHeaders(),
                       std::string("The server refused the request (HTTP/2 ") +
                           nghttp2_http2_strerror(code) + ")\n");
      } else {
        c->keep_alive_ = false;  // cut part-way: the browser sees a truncated body
      }
      c->RequestDone();
      return 0;
    }
    c->RequestDone();
    return 0;
  }

  EventLoop* loop_;
  size_t max_body_;
  std::shared_ptr<Http1Connection> self_;  // alive until the browser's connection is closed
  std::unique_ptr<SniffEndpoint> outer_;
  bool outer_closed_ = false;
  InnerEndpoint* inner_ = nullptr;
  std::weak_ptr<bool> inner_alive_;
  bool finished_ = false;
  nghttp2_session* h2_ = nullptr;
  std::string to_inner_;

  http_parser parser_;
  http_parser_settings ps_;
  std::string url_, field_, value_;
  bool in_value_ = false;
  std::vector<std::pair<std::string, std::string>> req_headers_;
  std::string body_;
  size_t body_pos_ = 0;
  bool too_large_ = false;
  enum http_method method_ = HTTP_GET;
  bool keep_alive_ = true;
  bool request_ready_ = false;
  bool busy_ = false;
  std::string pending_in_;
  std::string origin_;

  int32_t stream_id_ = -1;
  int resp_status_ = 0;
  std::vector<std::pair<std::string, std::string>> resp_headers_;
  bool resp_head_sent_ = false;
  bool resp_done_ = false;
  size_t owed_ = 0;
};

InnerEndpoint::~InnerEndpoint() {
  *alive_ = false;
  TellBridgeClosed();
}

void InnerEndpoint::TellBridgeClosed() {
  if (told_bridge_) return;
  told_bridge_ = true;
  std::weak_ptr<Http1Connection> b = bridge_;
  loop_->Post([b] {
    if (auto c = b.lock()) c->InnerClosed();
  });
}

void InnerEndpoint::Write(std::unique_ptr<WriteBatch> batch) {
  if (closed_) return;
  std::string bytes = Flatten(*batch);
  std::weak_ptr<Http1Connection> b = bridge_;
  loop_->Post([b, bytes = std::move(bytes)] {
    if (auto c = b.lock()) c->FromInner(bytes);
  });
}

void InnerEndpoint::SetReadPaused(bool paused) {
  paused_ = paused;
  if (!paused && !queued_.empty()) {
    std::weak_ptr<bool> alive = alive_;
    loop_->Post([this, alive] {
      if (!alive.expired()) Flush();
    });
  }
}

void InnerEndpoint::ShutdownWrite() {
  // What was written is posted already; the bridge hears of the end after it.
  TellBridgeClosed();
}

void InnerEndpoint::Close() {
  closed_ = true;
  handler_ = nullptr;
  TellBridgeClosed();
}

void InnerEndpoint::Deliver(std::string bytes) {
  queued_ += bytes;
  std::weak_ptr<bool> alive = alive_;
  loop_->Post([this, alive] {
    if (!alive.expired()) Flush();
  });
}

void InnerEndpoint::Flush() {
  while (!queued_.empty() && !paused_ && handler_ && !closed_) {
    std::string b = std::move(queued_);
    queued_.clear();
    std::weak_ptr<bool> alive = alive_;
    handler_->OnEndpointRead(reinterpret_cast<const uint8_t*>(b.data()), b.size());
    if (alive.expired()) return;
  }
}

void InnerEndpoint::Hangup(const std::string& reason) {
  std::weak_ptr<bool> alive = alive_;
  loop_->Post([this, alive, reason] {
    if (alive.expired() || closed_ || !handler_) return;
    Handler* h = handler_;
    handler_ = nullptr;
    closed_ = true;
    h->OnEndpointClosed(reason);
  });
}

// ---- the hub ----

Http1Hub::Http1Hub(ServeHttp2 serve_http2, size_t max_body, int64_t handshake_timeout_ms)
    : serve_http2_(std::move(serve_http2)),
      max_body_(max_body),
      handshake_timeout_ms_(handshake_timeout_ms) {}

Http1Hub::~Http1Hub() = default;

void Http1Hub::Serve(EventLoop* loop, std::unique_ptr<Endpoint> ep) {
  (void)loop;
  auto s = std::make_unique<SniffEndpoint>(std::move(ep), shared_from_this());
  SniffEndpoint* raw = s.get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;  // s destroyed here, closing the socket
    pending_[raw] = std::move(s);
  }
  raw->Begin(handshake_timeout_ms_);
}

void Http1Hub::Decided(SniffEndpoint* s, int outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(s);
  if (it == pending_.end()) return;  // closed by Close()
  std::unique_ptr<SniffEndpoint> ep = std::move(it->second);
  pending_.erase(it);
  if (closed_) return;
  EventLoop* loop = ep->loop();
  switch (static_cast<SniffEndpoint::Outcome>(outcome)) {
    case SniffEndpoint::Outcome::kHttp2:
      serve_http2_(loop, std::move(ep));
      break;
    case SniffEndpoint::Outcome::kHttp1:
      if (LogEnabled(LogLevel::kDebug)) {
        Log(LogLevel::kDebug, "server", "HTTP/1.1 connection from " + ep->peer());
      }
      Http1Connection::Create(loop, std::move(ep), serve_http2_, max_body_);
      break;
    case SniffEndpoint::Outcome::kGone:
      break;  // closed before saying anything
  }
}

void Http1Hub::Close() {
  std::unordered_map<SniffEndpoint*, std::unique_ptr<SniffEndpoint>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    pending.swap(pending_);
  }
  for (auto& [raw, s] : pending) {
    EventLoop* loop = s->loop();
    loop->Post([p = s.release()] { delete p; });
  }
}

}  // namespace polyrpc::web
