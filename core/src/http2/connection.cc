#include "http2/connection.h"

#include <algorithm>
#include <cstring>

#include "runtime/small_alloc.h"

namespace polyrpc {

namespace {
constexpr size_t kMaxPendingWrite = 8u << 20;  // stop producing frames above this backlog
// Stop reading above this backlog: every frame read may queue an answer (a RST_STREAM, a
// response, a PING ack), and a peer that never reads would otherwise make that queue grow.
constexpr size_t kPauseReadAbove = 4u << 20;
constexpr uint64_t kLingerMs = 1000;  // LingeringClose: how long the peer has to close its side
// Goaway: the PING that follows the first GOAWAY, and how long its answer may take.
constexpr uint8_t kGoawayPing[8] = {'p', 'o', 'l', 'y', 'b', 'y', 'e', 0};
constexpr uint64_t kGoawayPingTimeoutMs = 1000;

Http2Connection* Self(void* user_data) { return static_cast<Http2Connection*>(user_data); }

// nghttp2 allocates a stream, header-list copies and outbound items for every call, and frees
// them a turn later: from the per-thread free lists (runtime/small_alloc.h), not malloc.
void* MemMalloc(size_t n, void*) {
  try {
    return SmallAlloc(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void MemFree(void* p, void*) { SmallFree(p); }
void* MemCalloc(size_t n, size_t size, void*) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = MemMalloc(n * size, nullptr);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}
void* MemRealloc(void* p, size_t n, void*) { return SmallRealloc(p, n); }
nghttp2_mem kSessionMem = {nullptr, MemMalloc, MemFree, MemCalloc, MemRealloc};
}  // namespace

Http2Connection::Http2Connection(std::unique_ptr<Endpoint> endpoint, bool is_server,
                                 const Http2Settings& settings)
    : loop_(endpoint->loop()),
      endpoint_(std::move(endpoint)),
      is_server_(is_server),
      settings_(settings),
      peer_(std::make_shared<const std::string>(endpoint_->peer())),
      keepalive_timer_(loop_),
      keepalive_timeout_(loop_),
      linger_timer_(loop_),
      goaway_ping_timer_(loop_),
      handshake_timer_(loop_) {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &Http2Connection::SendCallback);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &Http2Connection::SendDataCallback);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Http2Connection::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Http2Connection::OnHeaderCallback);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Http2Connection::OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Http2Connection::OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Http2Connection::OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Http2Connection::OnFrameSend);
  // DATA frames as large as the peer allows (nghttp2 sends 16 KiB frames otherwise): a 16 MiB
  // message then costs a few frames instead of a thousand.
  nghttp2_session_callbacks_set_data_source_read_length_callback(
      cbs, [](nghttp2_session* session, uint8_t, int32_t stream_id, int32_t session_window,
              int32_t stream_window, uint32_t peer_max_frame, void*) -> ssize_t {
        (void)session;
        (void)stream_id;
        int64_t n = std::min<int64_t>({session_window, stream_window, peer_max_frame});
        return static_cast<ssize_t>(std::max<int64_t>(n, 1));
      });
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs,
                                                               &Http2Connection::OnInvalidFrame);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // Flow-control credit is returned when the application takes a message (Consume), so a slow
  // reader pushes back on its peer instead of buffering without bound.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, 1000);
  // nghttp2 keeps up to SETTINGS_MAX_CONCURRENT_STREAMS closed streams (~200 bytes each): how
  // it tells a frame on a closed stream (STREAM_CLOSED, RFC 9113 5.1) from one on a stream it
  // never saw. A server's limit is finite (100 by default), so it keeps them; a client announces
  // none, and would keep every call it ever made on a long-lived connection.
  if (!is_server_ || settings_.max_concurrent_streams == 0xffffffffu) {
    nghttp2_option_set_no_closed_streams(opt, 1);
  }
  if (is_server_) {
    nghttp2_session_server_new3(&session_, cbs, this, opt, &kSessionMem);
  } else {
    nghttp2_session_client_new3(&session_, cbs, this, opt, &kSessionMem);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

Http2Connection::~Http2Connection() {
  loop_->CancelFlush(this);
  if (endpoint_) endpoint_->Close();
  if (session_) nghttp2_session_del(session_);
}

void Http2Connection::Start() {
  std::vector<nghttp2_settings_entry> iv = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_list_size},
  };
  if (is_server_) {
    iv.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams});
  } else {
    iv.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  }
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(settings_.connection_window_size));
  endpoint_->Start(this);
  StartKeepalive();
  if (settings_.handshake_timeout_ms > 0) {
    std::weak_ptr<Http2Connection> weak = shared_from_this();
    int64_t ms = settings_.handshake_timeout_ms;
    handshake_timer_.Start(static_cast<uint64_t>(ms), [weak, ms] {
      auto c = weak.lock();
      if (c && !c->ready_) {
        c->CloseInternal("HTTP/2 handshake timed out: no SETTINGS from the peer within " +
                         std::to_string(ms) + " ms");
      }
    });
  }
  ScheduleFlush();
}

int32_t Http2Connection::SubmitRequest(const nghttp2_nv* nv, size_t n,
                                       std::shared_ptr<Stream> stream) {
  if (closed_ || goaway_received_) return NGHTTP2_ERR_STREAM_CLOSING;
  nghttp2_data_provider prd;
  prd.source.ptr = nullptr;
  prd.read_callback = &Http2Connection::ReadCallback;
  int32_t id = nghttp2_submit_request(session_, nullptr, nv, n, &prd,
                                      nullptr);
  if (id > 0) {
    stream->set_stream_id(id);
    ForgetFound(id);
    streams_[id] = std::move(stream);
    ScheduleFlush();
  }
  return id;
}

int Http2Connection::SubmitResponse(int32_t stream_id, const nghttp2_nv* nv, size_t n,
                                    bool with_data) {
  if (closed_) return NGHTTP2_ERR_STREAM_CLOSED;
  nghttp2_data_provider prd;
  prd.source.ptr = nullptr;
  prd.read_callback = &Http2Connection::ReadCallback;
  int rv = nghttp2_submit_response(session_, stream_id, nv, n,
                                   with_data ? &prd : nullptr);
  ScheduleFlush();
  return rv;
}

int Http2Connection::SubmitTrailer(int32_t stream_id, const nghttp2_nv* nv, size_t n) {
  if (closed_) return NGHTTP2_ERR_STREAM_CLOSED;
  int rv = nghttp2_submit_trailer(session_, stream_id, nv, n);
  ScheduleFlush();
  return rv;
}

void Http2Connection::ResumeData(int32_t stream_id) {
  if (closed_) return;
  nghttp2_session_resume_data(session_, stream_id);
  ScheduleFlush();
}

void Http2Connection::SubmitRstStream(int32_t stream_id, uint32_t error_code) {
  if (closed_) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
  ScheduleFlush();
}

void Http2Connection::Consume(int32_t stream_id, size_t len) {
  if (closed_ || len == 0) return;
  if (nghttp2_session_consume(session_, stream_id, len) != 0) {
    nghttp2_session_consume_connection(session_, len);
  }
  ScheduleFlush();
}

void Http2Connection::DetachStream(int32_t stream_id) {
  ForgetFound(stream_id);
  streams_.erase(stream_id);
}

void Http2Connection::Goaway() {
  if (closed_ || goaway_sent_ || shutdown_notice_) return;
  if (!is_server_) {
    FinalGoaway();
    return;
  }
  shutdown_notice_ = true;
  nghttp2_submit_shutdown_notice(session_);  // GOAWAY, last stream id 2^31-1
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, kGoawayPing);
  std::weak_ptr<Http2Connection> weak = shared_from_this();
  goaway_ping_timer_.Start(kGoawayPingTimeoutMs, [weak] {
    if (auto c = weak.lock()) c->FinalGoaway();
  });
  ScheduleFlush();
}

void Http2Connection::FinalGoaway() {
  if (closed_ || goaway_sent_) return;
  goaway_sent_ = true;
  goaway_ping_timer_.Stop();
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  ScheduleFlush();
}

void Http2Connection::Close(const std::string& reason) { CloseInternal(reason); }

void Http2Connection::CloseInternal(const std::string& reason) {
  if (closed_) return;
  auto self = shared_from_this();
  closed_ = true;
  loop_->CancelFlush(this);
  keepalive_timer_.Close();
  keepalive_timeout_.Close();
  linger_timer_.Close();
  goaway_ping_timer_.Close();
  handshake_timer_.Close();
  if (endpoint_) endpoint_->Close();
  EndStreams(reason);
  if (on_closed_) {
    auto fn = std::move(on_closed_);
    on_closed_ = nullptr;
    fn(reason);
  }
  on_ready_ = nullptr;
  on_goaway_ = nullptr;
  stream_factory_ = nullptr;
}

void Http2Connection::EndStreams(const std::string& reason) {
  ForgetFound(found_id_);
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s->OnClose(NGHTTP2_INTERNAL_ERROR, reason);
}

void Http2Connection::LingeringClose(const std::string& reason) {
  if (closed_ || lingering_ || linger_started_) return;
  auto self = shared_from_this();
  linger_started_ = true;
  FlushNow();  // the GOAWAY
  if (closed_) return;
  lingering_ = true;
  linger_reason_ = reason;
  keepalive_timer_.Close();
  keepalive_timeout_.Close();
  EndStreams(reason);
  if (closed_) return;
  endpoint_->ShutdownWrite();
  std::weak_ptr<Http2Connection> weak = self;
  linger_timer_.Start(kLingerMs, [weak] {
    if (auto c = weak.lock()) c->CloseInternal(c->linger_reason_);
  });
}

// ---- I/O -----------------------------------------------------------------------------------

void Http2Connection::OnEndpointRead(const uint8_t* data, size_t len) {
  if (closed_ || lingering_) return;  // lingering: what the peer still sends is discarded
  auto self = shared_from_this();
  ssize_t rv = nghttp2_session_mem_recv(session_, data, len);
  if (rv < 0) {
    // nghttp2 has queued a GOAWAY for protocol errors: send it, then close.
    LingeringClose(std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(rv)));
    return;
  }
  ScheduleFlush();
}

void Http2Connection::OnEndpointWritable() {
  UpdateReadPause();
  ScheduleFlush();
}

void Http2Connection::UpdateReadPause() {
  if (closed_ || !endpoint_) return;
  bool pause = endpoint_->PendingWriteBytes() > kPauseReadAbove;
  if (pause == read_paused_) return;
  read_paused_ = pause;
  endpoint_->SetReadPaused(pause);
}

void Http2Connection::OnEndpointClosed(const std::string& reason) {
  CloseInternal(reason.empty() ? "Connection closed by peer" : reason);
}

void Http2Connection::FlushNow() {
  if (closed_ || in_flush_ || lingering_) return;
  auto self = shared_from_this();
  in_flush_ = true;
  if (endpoint_->PendingWriteBytes() < kMaxPendingWrite) {
    batch_ = std::make_unique<WriteBatch>();
    int rv = nghttp2_session_send(session_);
    std::unique_ptr<WriteBatch> batch = std::move(batch_);
    if (!batch->empty()) endpoint_->Write(std::move(batch));
    if (rv != 0) {
      in_flush_ = false;
      CloseInternal(std::string("HTTP/2 send error: ") + nghttp2_strerror(rv));
      return;
    }
  }
  in_flush_ = false;
  if (!close_after_flush_.empty()) {
    std::string reason = std::move(close_after_flush_);
    close_after_flush_.clear();
    LingeringClose(reason);
    return;
  }
  UpdateReadPause();
  MaybeCloseIdle();
}

void Http2Connection::MaybeCloseIdle() {
  if (closed_) return;
  bool done = nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
  if (goaway_sent_ && streams_.empty() && nghttp2_session_want_write(session_) == 0) done = true;
  if (done && endpoint_->PendingWriteBytes() == 0 && !linger_started_) {
    // The peer may still be sending (a connection error nghttp2 answered with GOAWAY, or a
    // client that has not seen ours yet): half-close and let it close first.
    LingeringClose(goaway_sent_ ? "Connection closed after GOAWAY" : "Connection finished");
  }
}

ssize_t Http2Connection::SendCallback(nghttp2_session*, const uint8_t* data, size_t len, int,
                                      void* user_data) {
  auto* c = Self(user_data);
  if (c->batch_->size() + c->endpoint_->PendingWriteBytes() > kMaxPendingWrite) {
    return NGHTTP2_ERR_WOULDBLOCK;
  }
  c->batch_->Append(data, len);
  return static_cast<ssize_t>(len);
}

int Http2Connection::SendDataCallback(nghttp2_session*, nghttp2_frame* frame,
                                      const uint8_t* framehd, size_t length,
                                      nghttp2_data_source*, void* user_data) {
  auto* c = Self(user_data);
  if (c->batch_->size() + c->endpoint_->PendingWriteBytes() > kMaxPendingWrite) {
    return NGHTTP2_ERR_WOULDBLOCK;
  }
  Stream* s = c->FindStream(frame->hd.stream_id);
  c->batch_->Append(framehd, 9);
  size_t padlen = frame->data.padlen;
  if (padlen > 0) {
    uint8_t pad_len_byte = static_cast<uint8_t>(padlen - 1);
    c->batch_->Append(&pad_len_byte, 1);
  }
  if (s != nullptr) {
    s->WriteData(length, c->batch_.get());
  } else if (length > 0) {
    // Cannot happen: a stream's data provider only runs while the stream is known.
    std::vector<uint8_t> zeros(length);
    c->batch_->Append(zeros.data(), zeros.size());
  }
  if (padlen > 1) {
    std::vector<uint8_t> zeros(padlen - 1);
    c->batch_->Append(zeros.data(), zeros.size());
  }
  c->ping_strikes_ = 0;
  return 0;
}

ssize_t Http2Connection::ReadCallback(nghttp2_session*, int32_t stream_id, uint8_t*,
                                      size_t length, uint32_t* data_flags, nghttp2_data_source*,
                                      void* user_data) {
  auto* c = Self(user_data);
  Stream* s = c->FindStream(stream_id);
  if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  ssize_t n = s->ReadData(length, data_flags);
  if (n >= 0) *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  return n;
}

Stream* Http2Connection::FindStream(int32_t id) {
  // nghttp2 calls back for one stream many times in a row (a header field each, then the
  // frame; a data read, then the write), so the last stream found answers most lookups.
  if (id == found_id_) return found_;
  auto it = streams_.find(id);
  if (it == streams_.end()) return nullptr;
  found_id_ = id;
  found_ = it->second.get();
  return found_;
}

// ---- Receive callbacks ------------------------------------------------------------------------

int Http2Connection::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                                    void* user_data) {
  auto* c = Self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (c->is_server_ && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (c->goaway_sent_ || !c->stream_factory_) {
      nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    std::shared_ptr<Stream> s = c->stream_factory_(frame->hd.stream_id);
    if (!s) {
      ++c->streams_refused_;
      nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    s->set_stream_id(frame->hd.stream_id);
    c->ForgetFound(frame->hd.stream_id);
    c->streams_[frame->hd.stream_id] = std::move(s);
  }
  return 0;
}

int Http2Connection::OnHeaderCallback(nghttp2_session*, const nghttp2_frame* frame,
                                      const uint8_t* name, size_t namelen, const uint8_t* value,
                                      size_t valuelen, uint8_t, void* user_data) {
  auto* c = Self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = c->FindStream(frame->hd.stream_id);
  if (s != nullptr) {
    s->OnHeader(std::string_view(reinterpret_cast<const char*>(name), namelen),
                std::string_view(reinterpret_cast<const char*>(value), valuelen));
  }
  return 0;
}

int Http2Connection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto* c = Self(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = c->FindStream(frame->hd.stream_id);
      if (s != nullptr) {
        // Keep the stream alive: the callback may finish the call.
        auto keep = s->shared_from_this();
        s->OnHeadersEnd((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
      }
      break;
    }
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        Stream* s = c->FindStream(frame->hd.stream_id);
        if (s != nullptr) {
          auto keep = s->shared_from_this();
          s->OnRemoteEndStream();
        }
      }
      break;
    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !c->ready_) {
        c->ready_ = true;
        c->handshake_timer_.Stop();
        if (c->on_ready_) {
          auto fn = std::move(c->on_ready_);
          c->on_ready_ = nullptr;
          fn();
        }
      }
      break;
    case NGHTTP2_PING:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
        if (c->shutdown_notice_ &&
            std::memcmp(frame->ping.opaque_data, kGoawayPing, sizeof kGoawayPing) == 0) {
          // The client has seen the first GOAWAY: what it sent before is here.
          c->FinalGoaway();
          break;
        }
        c->ping_outstanding_ = false;
        c->keepalive_timeout_.Stop();
      } else if (c->is_server_) {
        c->OnPingReceived();
      }
      break;
    case NGHTTP2_GOAWAY:
      c->goaway_received_ = true;
      if (c->on_goaway_) {
        // A second GOAWAY (the final one of a two-phase shutdown) only narrows the last id.
        auto fn = std::move(c->on_goaway_);
        c->on_goaway_ = nullptr;
        fn(frame->goaway.error_code,
           std::string(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                       frame->goaway.opaque_data_len));
      }
      break;
    default:
      break;
  }
  return 0;
}

int Http2Connection::OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id,
                                 const uint8_t* data, size_t len, void* user_data) {
  auto* c = Self(user_data);
  Stream* s = c->FindStream(stream_id);
  if (s == nullptr) {
    // Data for a stream we already finished: return its credit at once.
    nghttp2_session_consume(c->session_, stream_id, len);
    return 0;
  }
  auto keep = s->shared_from_this();
  s->OnData(data, len);
  return 0;
}

int Http2Connection::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                   void* user_data) {
  auto* c = Self(user_data);
  auto it = c->streams_.find(stream_id);
  if (it == c->streams_.end()) return 0;
  std::shared_ptr<Stream> s = std::move(it->second);
  c->ForgetFound(stream_id);
  c->streams_.erase(it);
  s->OnClose(error_code, "");
  return 0;
}

int Http2Connection::OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    auto* c = Self(user_data);
    Stream* s = c->FindStream(frame->hd.stream_id);
    if (s != nullptr) s->OnLocalEndStreamSent();
  }
  return 0;
}

int Http2Connection::OnInvalidFrame(nghttp2_session*, const nghttp2_frame*, int, void*) {
  return 0;  // nghttp2 answers with RST_STREAM/GOAWAY itself
}

// ---- Keepalive ---------------------------------------------------------------------------------

void Http2Connection::StartKeepalive() {
  if (settings_.keepalive_time_ms <= 0) return;
  keepalive_timer_.Start(static_cast<uint64_t>(settings_.keepalive_time_ms),
                         [this] { OnKeepaliveTimer(); });
}

void Http2Connection::OnKeepaliveTimer() {
  if (closed_) return;
  if (!ping_outstanding_ && (!streams_.empty() || settings_.keepalive_permit_without_calls)) {
    uint8_t payload[8] = {'p', 'o', 'l', 'y', 'r', 'p', 'c', 0};
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, payload);
    ping_outstanding_ = true;
    keepalive_timeout_.Start(static_cast<uint64_t>(settings_.keepalive_timeout_ms), [this] {
      CloseInternal("keepalive watchdog timeout: no PING ack from peer");
    });
    ScheduleFlush();
  }
  StartKeepalive();
}

void Http2Connection::OnPingReceived() {
  auto now = std::chrono::steady_clock::now();
  bool too_soon = last_ping_recv_.time_since_epoch().count() != 0 &&
                  now - last_ping_recv_ <
                      std::chrono::milliseconds(settings_.min_recv_ping_interval_ms);
  last_ping_recv_ = now;
  if (!too_soon) return;
  ++ping_strikes_;
  if (settings_.max_ping_strikes > 0 && ping_strikes_ > settings_.max_ping_strikes) {
    static const char kDebug[] = "too_many_pings";
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_ENHANCE_YOUR_CALM, reinterpret_cast<const uint8_t*>(kDebug),
                          sizeof kDebug - 1);
    goaway_sent_ = true;
    // Not from inside nghttp2's receive callback: flush, then close, at the end of this turn.
    close_after_flush_ = "GOAWAY ENHANCE_YOUR_CALM: too_many_pings";
    ScheduleFlush();
  }
}

}  // namespace polyrpc
