// Raw HTTP/2 peers for tests that must send or answer what a polyrpc peer never would: a client
// session and a server on plain blocking sockets, driven synchronously with nghttp2, plus a TCP
// acceptor that speaks no HTTP/2 at all. Test-only code: simple, bounded, loopback only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace polyrpc_test {

using Headers = std::vector<std::pair<std::string, std::string>>;
using TestClock = std::chrono::steady_clock;

inline const std::string* FindHeader(const Headers& h, const std::string& name) {
  for (const auto& kv : h) {
    if (kv.first == name) return &kv.second;
  }
  return nullptr;
}

inline std::vector<nghttp2_nv> ToNv(const Headers& h) {
  std::vector<nghttp2_nv> nv;
  for (const auto& [k, v] : h) {
    nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                  reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  return nv;
}

// The 5-byte gRPC message prefix followed by the message.
inline std::string GrpcPrefix(uint8_t flags, uint32_t len) {
  std::string p(5, '\0');
  p[0] = static_cast<char>(flags);
  p[1] = static_cast<char>(len >> 24);
  p[2] = static_cast<char>(len >> 16);
  p[3] = static_cast<char>(len >> 8);
  p[4] = static_cast<char>(len);
  return p;
}
inline std::string GrpcFrame(const std::string& msg, uint8_t flags = 0) {
  return GrpcPrefix(flags, static_cast<uint32_t>(msg.size())) + msg;
}

inline Headers GrpcRequestHeaders(const std::string& path) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":path", path},
          {":authority", "localhost"},
          {"content-type", "application/grpc"},
          {"te", "trailers"}};
}

inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Listens on 127.0.0.1 with an ephemeral port. Returns the fd; *port gets the port.
inline int ListenLoopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// A port on which nothing listens (bound, then closed).
inline int ClosedPort() {
  int port = 0;
  int fd = ListenLoopback(&port);
  ::close(fd);
  return port;
}

// ---- Hand-made frames -----------------------------------------------------------------------
// For peers that must send what an nghttp2 session would refuse to (more streams than the server
// allows, frames after a reset): frames built byte by byte and written with WriteAll.

inline constexpr char kClientPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

inline std::string H2Frame(uint8_t type, uint8_t flags, uint32_t stream_id,
                           const std::string& payload) {
  std::string f(9, '\0');
  size_t n = payload.size();
  f[0] = static_cast<char>(n >> 16);
  f[1] = static_cast<char>(n >> 8);
  f[2] = static_cast<char>(n);
  f[3] = static_cast<char>(type);
  f[4] = static_cast<char>(flags);
  f[5] = static_cast<char>((stream_id >> 24) & 0x7f);
  f[6] = static_cast<char>(stream_id >> 16);
  f[7] = static_cast<char>(stream_id >> 8);
  f[8] = static_cast<char>(stream_id);
  return f + payload;
}

// A SETTINGS frame with these (id, value) pairs.
inline std::string H2Settings(const std::vector<std::pair<uint16_t, uint32_t>>& entries) {
  std::string p;
  for (auto [id, v] : entries) {
    char e[6] = {static_cast<char>(id >> 8), static_cast<char>(id),     static_cast<char>(v >> 24),
                 static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
    p.append(e, 6);
  }
  return H2Frame(NGHTTP2_SETTINGS, 0, 0, p);
}

// An HPACK block of "literal header field without indexing, new name" entries: it leaves the
// decoder's dynamic table alone, so the same block can be sent on any number of streams.
// Names and values shorter than 127 bytes.
inline std::string HpackLiterals(const Headers& h) {
  std::string out;
  for (const auto& [k, v] : h) {
    out.push_back('\0');
    out.push_back(static_cast<char>(k.size()));
    out += k;
    out.push_back(static_cast<char>(v.size()));
    out += v;
  }
  return out;
}

// ---- Client ------------------------------------------------------------------------------------

struct RawStream {
  Headers headers;   // the first HEADERS block (response headers, or a trailers-only response)
  Headers trailers;  // a second HEADERS block
  int header_blocks = 0;
  std::string data;
  bool closed = false;
  uint32_t close_error = 0;  // the RST_STREAM code, NO_ERROR for a normal close
  bool got_rst = false;
  // Outgoing body, fed to nghttp2's data provider.
  std::string out;
  size_t out_pos = 0;
  bool out_eof = true;
};

class RawH2Client {
 public:
  // Connects to 127.0.0.1:port; with send_preface the connection preface and SETTINGS go first.
  explicit RawH2Client(int port, bool send_preface = true) {
    fd_ = ConnectLoopback(port);
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, &SendCb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &HeaderCb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &FrameRecvCb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &DataCb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &StreamCloseCb);
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (send_preface) {
      nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
      nghttp2_session_send(session_);
    }
  }
  ~RawH2Client() {
    nghttp2_session_del(session_);
    CloseSocket();
  }
  bool connected() const { return fd_ >= 0; }

  // Starts a request. With end_stream=false the body stays open: Send() adds to it later.
  int32_t Request(const Headers& h, const std::string& body = "", bool end_stream = true,
                  bool with_body = true) {
    auto nv = ToNv(h);
    auto st = std::make_unique<RawStream>();
    st->out = body;
    st->out_eof = end_stream;
    nghttp2_data_provider prd;
    prd.source.ptr = this;
    prd.read_callback = &ReadCb;
    int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                        with_body ? &prd : nullptr, nullptr);
    if (id > 0) streams_[id] = std::move(st);
    nghttp2_session_send(session_);
    return id;
  }
  void Send(int32_t id, const std::string& bytes, bool end_stream) {
    RawStream& s = stream(id);
    s.out += bytes;
    s.out_eof = end_stream;
    nghttp2_session_resume_data(session_, id);
    nghttp2_session_send(session_);
  }
  void Ping() {
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    nghttp2_session_send(session_);
  }
  void Reset(int32_t id, uint32_t code) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
    nghttp2_session_send(session_);
  }
  // Bytes straight to the socket, around the session (for malformed frames).
  bool SendRaw(const std::string& bytes) { return fd_ >= 0 && WriteAll(fd_, bytes.data(), bytes.size()); }
  void CloseSocket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Reads and answers until pred() holds, the peer closes, or the timeout passes.
  bool PumpUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = TestClock::now() + timeout;
    while (!pred()) {
      if (fd_ < 0 || peer_closed_) return pred();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - TestClock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
      if (r <= 0) continue;
      uint8_t buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        peer_closed_ = true;
        continue;
      }
      raw_received_.append(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
      if (!session_failed_) {
        ssize_t rv = nghttp2_session_mem_recv(session_, buf, static_cast<size_t>(n));
        if (rv < 0) session_failed_ = true;
        nghttp2_session_send(session_);
      }
    }
    return true;
  }
  // Until the stream is closed (or the connection).
  bool WaitStreamClosed(int32_t id, std::chrono::milliseconds timeout) {
    return PumpUntil([&] { return stream(id).closed; }, timeout);
  }
  bool WaitPeerClosed(std::chrono::milliseconds timeout) {
    return PumpUntil([&] { return peer_closed_; }, timeout);
  }

  RawStream& stream(int32_t id) {
    auto& p = streams_[id];
    if (!p) p = std::make_unique<RawStream>();
    return *p;
  }
  bool peer_closed() const { return peer_closed_; }
  bool got_settings() const { return got_settings_; }
  // A SETTINGS value the peer sent (nghttp2's assumption until its SETTINGS arrive).
  uint32_t remote_setting(nghttp2_settings_id id) const {
    return nghttp2_session_get_remote_settings(session_, id);
  }
  bool got_goaway() const { return got_goaway_; }
  uint32_t goaway_error() const { return goaway_error_; }
  const std::string& goaway_debug() const { return goaway_debug_; }
  const std::string& raw_received() const { return raw_received_; }

 private:
  static RawH2Client* Self(void* p) { return static_cast<RawH2Client*>(p); }
  static ssize_t SendCb(nghttp2_session*, const uint8_t* data, size_t len, int, void* u) {
    auto* c = Self(u);
    if (c->fd_ < 0 || !WriteAll(c->fd_, data, len)) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return static_cast<ssize_t>(len);
  }
  static ssize_t ReadCb(nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                        nghttp2_data_source*, void* u) {
    RawStream& s = Self(u)->stream(id);
    size_t n = std::min(len, s.out.size() - s.out_pos);
    memcpy(buf, s.out.data() + s.out_pos, n);
    s.out_pos += n;
    if (s.out_pos == s.out.size()) {
      if (s.out_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
  static int HeaderCb(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t nlen,
                      const uint8_t* value, size_t vlen, uint8_t, void* u) {
    RawStream& s = Self(u)->stream(f->hd.stream_id);
    Headers& h = s.header_blocks == 0 ? s.headers : s.trailers;
    h.emplace_back(std::string(reinterpret_cast<const char*>(name), nlen),
                   std::string(reinterpret_cast<const char*>(value), vlen));
    return 0;
  }
  static int FrameRecvCb(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto* c = Self(u);
    if (f->hd.type == NGHTTP2_HEADERS) {
      c->stream(f->hd.stream_id).header_blocks++;
    } else if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
      c->got_settings_ = true;
    } else if (f->hd.type == NGHTTP2_RST_STREAM) {
      c->stream(f->hd.stream_id).got_rst = true;
    } else if (f->hd.type == NGHTTP2_GOAWAY) {
      c->got_goaway_ = true;
      c->goaway_error_ = f->goaway.error_code;
      c->goaway_debug_.assign(reinterpret_cast<const char*>(f->goaway.opaque_data),
                              f->goaway.opaque_data_len);
    }
    return 0;
  }
  static int DataCb(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* u) {
    Self(u)->stream(id).data.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int StreamCloseCb(nghttp2_session*, int32_t id, uint32_t code, void* u) {
    RawStream& s = Self(u)->stream(id);
    s.closed = true;
    s.close_error = code;
    return 0;
  }

  int fd_ = -1;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<RawStream>> streams_;
  bool peer_closed_ = false;
  bool session_failed_ = false;
  bool got_goaway_ = false;
  bool got_settings_ = false;
  uint32_t goaway_error_ = 0;
  std::string goaway_debug_;
  std::string raw_received_;
};

// ---- Server ------------------------------------------------------------------------------------

// What the raw server answers to one request.
struct RawResponse {
  bool rst = false;  // answer with RST_STREAM rst_code instead
  uint32_t rst_code = NGHTTP2_NO_ERROR;
  Headers headers;   // with no body and no trailers they end the stream (trailers-only)
  std::string body;  // DATA bytes (framed by the caller)
  Headers trailers;
};

// An HTTP/2 server on its own thread, one nghttp2 session per accepted connection. respond()
// runs on that thread when a request's HEADERS have arrived, with the request headers.
class RawH2Server {
 public:
  using Responder = std::function<RawResponse(const Headers& request)>;

  explicit RawH2Server(Responder respond) : respond_(std::move(respond)) {
    listen_fd_ = ListenLoopback(&port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~RawH2Server() {
    stop_ = true;
    thread_.join();
    for (auto& c : conns_) {
      nghttp2_session_del(c->session);
      ::close(c->fd);
    }
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  int pings() const { return pings_.load(); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  struct Conn {
    RawH2Server* server;
    int fd;
    nghttp2_session* session = nullptr;
    bool dead = false;
    std::map<int32_t, Headers> requests;
    std::map<int32_t, RawResponse> responses;
    std::map<int32_t, size_t> body_pos;
  };

  void Run() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& c : conns_) fds.push_back({c->dead ? -1 : c->fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) Accept();
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents) Read(*conns_[i - 1]);
      }
    }
  }
  void Accept() {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    connections_++;
    auto c = std::make_unique<Conn>();
    c->server = this;
    c->fd = fd;
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, &SendCb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &BeginHeadersCb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &HeaderCb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &FrameRecvCb);
    nghttp2_session_server_new(&c->session, cbs, c.get());
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, nullptr, 0);
    nghttp2_session_send(c->session);
    conns_.push_back(std::move(c));
  }
  void Read(Conn& c) {
    uint8_t buf[65536];
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n <= 0 || nghttp2_session_mem_recv(c.session, buf, static_cast<size_t>(n)) < 0) {
      c.dead = true;
      return;
    }
    nghttp2_session_send(c.session);
  }
  static Conn* C(void* u) { return static_cast<Conn*>(u); }
  static ssize_t SendCb(nghttp2_session*, const uint8_t* data, size_t len, int, void* u) {
    if (!WriteAll(C(u)->fd, data, len)) return NGHTTP2_ERR_CALLBACK_FAILURE;
    return static_cast<ssize_t>(len);
  }
  static int BeginHeadersCb(nghttp2_session*, const nghttp2_frame* f, void* u) {
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      C(u)->requests[f->hd.stream_id].clear();
    }
    return 0;
  }
  static int HeaderCb(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t nlen,
                      const uint8_t* value, size_t vlen, uint8_t, void* u) {
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      C(u)->requests[f->hd.stream_id].emplace_back(
          std::string(reinterpret_cast<const char*>(name), nlen),
          std::string(reinterpret_cast<const char*>(value), vlen));
    }
    return 0;
  }
  static ssize_t ReadCb(nghttp2_session* session, int32_t id, uint8_t* buf, size_t len,
                        uint32_t* flags, nghttp2_data_source*, void* u) {
    Conn* c = C(u);
    RawResponse& r = c->responses[id];
    size_t& pos = c->body_pos[id];
    size_t n = std::min(len, r.body.size() - pos);
    memcpy(buf, r.body.data() + pos, n);
    pos += n;
    if (pos == r.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!r.trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        auto nv = ToNv(r.trailers);
        nghttp2_submit_trailer(session, id, nv.data(), nv.size());
      }
    }
    return static_cast<ssize_t>(n);
  }
  static int FrameRecvCb(nghttp2_session* session, const nghttp2_frame* f, void* u) {
    Conn* c = C(u);
    if (f->hd.type == NGHTTP2_PING && !(f->hd.flags & NGHTTP2_FLAG_ACK)) c->server->pings_++;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    c->server->requests_++;
    int32_t id = f->hd.stream_id;
    RawResponse r = c->server->respond_(c->requests[id]);
    if (r.rst) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, r.rst_code);
      return 0;
    }
    auto nv = ToNv(r.headers);
    bool with_data = !r.body.empty() || !r.trailers.empty();
    c->responses[id] = std::move(r);
    nghttp2_data_provider prd;
    prd.source.ptr = nullptr;
    prd.read_callback = &ReadCb;
    nghttp2_submit_response(session, id, nv.data(), nv.size(), with_data ? &prd : nullptr);
    return 0;
  }

  Responder respond_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> pings_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::vector<std::unique_ptr<Conn>> conns_;  // server thread only
  std::thread thread_;
};

// A TCP server that speaks no gRPC: per accepted connection it closes at once (kClose), sends an
// empty SETTINGS frame and then ignores everything (kSettingsThenSilent: a peer that never ACKs a
// PING), or holds the socket open without a byte (kHold) until Release().
class RawTcpServer {
 public:
  enum Mode { kClose, kSettingsThenSilent, kHold };
  explicit RawTcpServer(Mode mode) : mode_(mode) {
    listen_fd_ = ListenLoopback(&port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~RawTcpServer() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  // Closes every held connection.
  void Release() { release_ = true; }
  std::vector<TestClock::time_point> accept_times() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepts_;
  }
  // When the client closed its side of the first connection (or time_point{} if it has not).
  TestClock::time_point peer_closed_at() {
    std::lock_guard<std::mutex> lock(mu_);
    return peer_closed_at_;
  }

 private:
  void Run() {
    while (!stop_) {
      if (release_) {
        for (int fd : held_) ::close(fd);
        held_.clear();
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (int fd : held_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd >= 0) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            accepts_.push_back(TestClock::now());
          }
          if (mode_ == kClose) {
            ::close(fd);
          } else {
            if (mode_ == kSettingsThenSilent) {
              static const uint8_t kSettings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
              WriteAll(fd, kSettings, sizeof kSettings);
            }
            held_.push_back(fd);
          }
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        char buf[4096];
        if (::recv(fds[i].fd, buf, sizeof buf, 0) <= 0) {
          std::lock_guard<std::mutex> lock(mu_);
          if (peer_closed_at_ == TestClock::time_point{}) peer_closed_at_ = TestClock::now();
          // Stop polling it; closed on release or destruction.
          for (auto& h : held_) {
            if (h == fds[i].fd) {
              ::close(h);
              h = -1;
            }
          }
        }
      }
      std::erase(held_, -1);
    }
  }

  Mode mode_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> release_{false};
  std::vector<int> held_;  // server thread only
  std::mutex mu_;
  std::vector<TestClock::time_point> accepts_;
  TestClock::time_point peer_closed_at_{};
  std::thread thread_;
};

}  // namespace polyrpc_test
