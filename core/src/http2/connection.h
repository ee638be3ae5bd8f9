// Http2Connection: one HTTP/2 connection (client or server role) over an Endpoint, driven by
// nghttp2. It owns the nghttp2 session, routes frames to Stream objects (gRPC calls), and writes
// everything produced in one loop turn with one Endpoint::Write (one writev). Payload bytes are
// never copied on the send path: DATA frames are emitted with NGHTTP2_DATA_FLAG_NO_COPY and the
// stream appends its payload slices to the write batch by reference.
//
// Threading: loop thread only, except where noted.
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/event_loop.h"
#include "runtime/small_alloc.h"
#include "runtime/timer.h"
#include "transport/endpoint.h"

namespace polyrpc {

class Http2Connection;

// A gRPC call's side of an HTTP/2 stream. Callbacks run on the loop thread.
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  virtual ~Stream() = default;
  // One header field of the current HEADERS block (request/response headers or trailers).
  virtual void OnHeader(std::string_view name, std::string_view value) = 0;
  // The current HEADERS block is complete. end_stream: it carried END_STREAM.
  virtual void OnHeadersEnd(bool end_stream) = 0;
  virtual void OnData(const uint8_t* data, size_t len) = 0;
  // END_STREAM arrived on a DATA frame.
  virtual void OnRemoteEndStream() = 0;
  // The stream is gone: h2_error is the RST_STREAM code (NGHTTP2_NO_ERROR for a normal close);
  // connection_error is non-empty when the whole connection died.
  virtual void OnClose(uint32_t h2_error, const std::string& connection_error) = 0;
  // Outgoing data provider: how many payload bytes can go now (<= max), and flags
  // (NGHTTP2_DATA_FLAG_EOF/NO_END_STREAM); NGHTTP2_ERR_DEFERRED when nothing is ready.
  virtual ssize_t ReadData(size_t max, uint32_t* data_flags) = 0;
  // Appends exactly len payload bytes (announced by ReadData) to batch.
  virtual void WriteData(size_t len, WriteBatch* batch) = 0;
  // A frame carrying our END_STREAM has been written (the stream is half-closed locally).
  virtual void OnLocalEndStreamSent() {}

  int32_t stream_id() const { return stream_id_; }
  void set_stream_id(int32_t id) { stream_id_ = id; }

 private:
  int32_t stream_id_ = -1;
};

struct Http2Settings {
  uint32_t initial_window_size = 4u << 20;      // per stream
  uint32_t connection_window_size = 16u << 20;  // whole connection
  uint32_t max_frame_size = 1u << 20;
  // Server: SETTINGS_MAX_CONCURRENT_STREAMS. 100, as RFC 9113 recommends at least and as
  // grpc-dotnet (Kestrel) and nginx default to: gRPC clients queue calls beyond it.
  uint32_t max_concurrent_streams = 100;
  uint32_t max_header_list_size = 16384;
  // Keepalive: 0 disables pings.
  int64_t keepalive_time_ms = 0;
  int64_t keepalive_timeout_ms = 20000;
  bool keepalive_permit_without_calls = false;
  // Server enforcement of client pings.
  int64_t min_recv_ping_interval_ms = 300000;
  int max_ping_strikes = 2;
  // The peer's first SETTINGS frame (after TLS, if any) must arrive within this many ms, or
  // the connection is closed (0: wait forever). gRPC's bounds: a client's connect timeout
  // (grpc.min_reconnect_backoff_ms, 20 s) and a server's handshake timeout
  // (grpc.server_handshake_timeout_ms, 120 s). Without it a client whose path stalled after
  // the TCP connect stayed CONNECTING for good (its calls without a deadline hung), and a server
  // kept every connection that never sent a preface (slowloris).
  int64_t handshake_timeout_ms = 0;
};

class Http2Connection : public Endpoint::Handler,
                        public EventLoop::Flushable,
                        public std::enable_shared_from_this<Http2Connection> {
 public:
  using StreamFactory = std::function<std::shared_ptr<Stream>(int32_t stream_id)>;

  Http2Connection(std::unique_ptr<Endpoint> endpoint, bool is_server,
                  const Http2Settings& settings);
  ~Http2Connection() override;

  // Server role: creates the Stream for each new request. Set before Start().
  void set_stream_factory(StreamFactory f) { stream_factory_ = std::move(f); }
  // Called once the peer's first SETTINGS frame has arrived (client: the channel is READY).
  void set_on_ready(std::function<void()> f) { on_ready_ = std::move(f); }
  // Called once when the connection is closed (after every stream got OnClose).
  void set_on_closed(std::function<void(const std::string&)> f) { on_closed_ = std::move(f); }
  // Client role: GOAWAY received (no new streams on this connection).
  // error_code and debug are the GOAWAY's (ENHANCE_YOUR_CALM "too_many_pings": back off).
  void set_on_goaway(std::function<void(uint32_t error_code, const std::string& debug)> f) {
    on_goaway_ = std::move(f);
  }

  void Start();

  // Client: opens a stream with these headers and a data provider; returns the stream id or
  // a negative nghttp2 error.
  int32_t SubmitRequest(const nghttp2_nv* nv, size_t n, std::shared_ptr<Stream> stream);
  template <typename List>
  int32_t SubmitRequest(const List& l, std::shared_ptr<Stream> stream) {
    return SubmitRequest(l.data(), l.size(), std::move(stream));
  }
  // Server: response headers, with the data provider (with_data) or as trailers-only (END_STREAM).
  int SubmitResponse(int32_t stream_id, const nghttp2_nv* nv, size_t n, bool with_data);
  template <typename List>
  int SubmitResponse(int32_t stream_id, const List& l, bool with_data) {
    return SubmitResponse(stream_id, l.data(), l.size(), with_data);
  }
  int SubmitTrailer(int32_t stream_id, const nghttp2_nv* nv, size_t n);
  template <typename List>
  int SubmitTrailer(int32_t stream_id, const List& l) {
    return SubmitTrailer(stream_id, l.data(), l.size());
  }
  void ResumeData(int32_t stream_id);
  void SubmitRstStream(int32_t stream_id, uint32_t error_code);
  // Streams refused because the stream factory returned null (the memory quota is full).
  uint64_t streams_refused() const { return streams_refused_; }
  // Returns flow-control credit for len received bytes of the stream.
  void Consume(int32_t stream_id, size_t len);
  // Forgets the stream early (it already reported its final state).
  void DetachStream(int32_t stream_id);

  // Server graceful shutdown, in two phases (RFC 9113 6.8, gRPC's PROTOCOL-HTTP2.md): a GOAWAY
  // with the last stream id 2^31-1 and a PING now; the final GOAWAY, with the last stream id
  // processed, once the PING is answered (or after kGoawayPingTimeoutMs). A request the client
  // sent before it saw the first GOAWAY is still served, so a request racing a shutdown is
  // never refused. The connection closes itself once its streams are done. Loop thread.
  void Goaway();
  // Closes immediately; every stream gets OnClose with reason.
  void Close(const std::string& reason);

  bool closed() const { return closed_; }
  bool draining() const { return goaway_sent_ || goaway_received_; }
  bool is_server() const { return is_server_; }
  size_t active_streams() const { return streams_.size(); }
  EventLoop* loop() const { return loop_; }
  const std::string& peer() const { return *peer_; }
  // The same string, shared: a call keeps it without a copy per call.
  const std::shared_ptr<const std::string>& shared_peer() const { return peer_; }
  bool is_tls() const { return endpoint_ && endpoint_->is_tls(); }
  // Ask for a flush at the end of this loop turn.
  void ScheduleFlush() {
    if (!closed_) loop_->ScheduleFlush(this);
  }

  // Endpoint::Handler
  void OnEndpointRead(const uint8_t* data, size_t len) override;
  void OnEndpointWritable() override;
  void OnEndpointClosed(const std::string& reason) override;
  // Flushable
  void FlushNow() override;

 private:
  static ssize_t SendCallback(nghttp2_session*, const uint8_t* data, size_t len, int flags,
                              void* user_data);
  static int SendDataCallback(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                              size_t length, nghttp2_data_source* source, void* user_data);
  static ssize_t ReadCallback(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                              uint32_t* data_flags, nghttp2_data_source* source,
                              void* user_data);
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int OnHeaderCallback(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                              size_t namelen, const uint8_t* value, size_t valuelen,
                              uint8_t flags, void* user_data);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user_data);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data);
  static int OnInvalidFrame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                            void* user_data);

  Stream* FindStream(int32_t id);
  // Call before a stream enters or leaves streams_.
  void ForgetFound(int32_t id) {
    if (id == found_id_) {
      found_id_ = 0;
      found_ = nullptr;
    }
  }
  void MaybeCloseIdle();
  // Stops reading the socket while the peer does not take what we write (and resumes once it
  // does), so a peer that sends without reading cannot make us queue answers without bound.
  void UpdateReadPause();
  void StartKeepalive();
  void OnKeepaliveTimer();
  void OnPingReceived();
  void CloseInternal(const std::string& reason);
  // After a connection error: every stream ends now with reason, the GOAWAY nghttp2 queued is
  // written, the write side is shut down, and the socket is closed once the peer closes its
  // side or after kLingerMs, whichever is first. Reads meanwhile are discarded. Closing at once
  // would make the kernel answer the peer's unread bytes with a reset, which may reach the peer
  // before the GOAWAY and lose its error code.
  void LingeringClose(const std::string& reason);
  void EndStreams(const std::string& reason);

  EventLoop* loop_;
  std::unique_ptr<Endpoint> endpoint_;
  bool is_server_;
  Http2Settings settings_;
  std::shared_ptr<const std::string> peer_;
  nghttp2_session* session_ = nullptr;
  using StreamEntry = std::pair<const int32_t, std::shared_ptr<Stream>>;
  std::unordered_map<int32_t, std::shared_ptr<Stream>, std::hash<int32_t>,
                     std::equal_to<int32_t>, SmallAllocator<StreamEntry>>
      streams_;
  int32_t found_id_ = 0;  // FindStream's last answer (0: none; stream ids start at 1)
  Stream* found_ = nullptr;
  StreamFactory stream_factory_;
  std::function<void()> on_ready_;
  std::function<void(const std::string&)> on_closed_;
  std::function<void(uint32_t, const std::string&)> on_goaway_;
  std::unique_ptr<WriteBatch> batch_;  // being filled during FlushNow
  bool closed_ = false;
  bool ready_ = false;
  bool goaway_sent_ = false;      // the final GOAWAY: no new streams
  bool shutdown_notice_ = false;  // the first of the two (Goaway)
  void FinalGoaway();
  bool goaway_received_ = false;
  bool in_flush_ = false;
  bool read_paused_ = false;
  bool lingering_ = false;
  bool linger_started_ = false;
  std::string linger_reason_;
  uint64_t streams_refused_ = 0;
  std::string close_after_flush_;  // close once the queued frames (a GOAWAY) are written
  // Keepalive
  Timer keepalive_timer_;
  Timer keepalive_timeout_;
  Timer linger_timer_;       // LingeringClose
  Timer goaway_ping_timer_;  // Goaway: the final GOAWAY if the PING is not answered
  Timer handshake_timer_;    // Http2Settings::handshake_timeout_ms
  bool ping_outstanding_ = false;
  // Ping abuse enforcement (server)
  std::chrono::steady_clock::time_point last_ping_recv_{};
  int ping_strikes_ = 0;
};

}  // namespace polyrpc
