// Transport tests: target parsing, and real sockets over loopback (TCP v4/v6, Unix) through
// Listener + StartConnect + CreateEndpoint, plain and TLS. Every wait is bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include <gtest/gtest.h>

#include "runtime/event_loop.h"
#include "transport/address.h"
#include "transport/connector.h"
#include "transport/endpoint.h"
#include "transport/listener.h"
#include "transport/tls_context.h"

namespace polyrpc {
namespace {

using namespace std::chrono_literals;
constexpr auto kWait = 10s;

template <class T>
bool Ready(std::future<T>& f, std::chrono::milliseconds d = kWait) {
  return f.wait_for(d) == std::future_status::ready;
}

void RunOnLoop(EventLoop* loop, std::function<void()> fn) {
  std::promise<void> done;
  auto f = done.get_future();
  loop->Post([&] {
    fn();
    done.set_value();
  });
  ASSERT_TRUE(Ready(f)) << "loop task did not finish";
}

// ---------------------------------------------------------------------------- target parsing

struct TargetCase {
  const char* target;
  ParsedTarget::Kind kind;
  const char* host;
  int port;
  const char* path;
  const char* authority;
};

TEST(TransportAddress, ParsesGrpcTargets) {
  const TargetCase cases[] = {
      {"localhost:50051", ParsedTarget::kHostPort, "localhost", 50051, "", "localhost:50051"},
      {"example.com:80", ParsedTarget::kHostPort, "example.com", 80, "", "example.com:80"},
      {"example.com", ParsedTarget::kHostPort, "example.com", 443, "", "example.com:443"},
      {"dns:example.com:81", ParsedTarget::kHostPort, "example.com", 81, "", "example.com:81"},
      {"dns:///example.com:82", ParsedTarget::kHostPort, "example.com", 82, "", "example.com:82"},
      {"dns://8.8.8.8/example.com:83", ParsedTarget::kHostPort, "example.com", 83, "",
       "example.com:83"},
      {"ipv4:1.2.3.4:80", ParsedTarget::kHostPort, "1.2.3.4", 80, "", "1.2.3.4:80"},
      {"ipv6:[::1]:80", ParsedTarget::kHostPort, "::1", 80, "", "[::1]:80"},
      {"[::1]:80", ParsedTarget::kHostPort, "::1", 80, "", "[::1]:80"},
      {"[::]:50051", ParsedTarget::kHostPort, "::", 50051, "", "[::]:50051"},
      {"0.0.0.0:0", ParsedTarget::kHostPort, "0.0.0.0", 0, "", "0.0.0.0:0"},
      {"localhost:0", ParsedTarget::kHostPort, "localhost", 0, "", "localhost:0"},
      {":50051", ParsedTarget::kHostPort, "", 50051, "", ":50051"},
      {"unix:/abs/path", ParsedTarget::kUnix, "", 0, "/abs/path", "localhost"},
      {"unix:relative", ParsedTarget::kUnix, "", 0, "relative", "localhost"},
      {"unix:///abs/path", ParsedTarget::kUnix, "", 0, "/abs/path", "localhost"},
  };
  for (const TargetCase& c : cases) {
    SCOPED_TRACE(c.target);
    ParsedTarget t;
    std::string error;
    ASSERT_TRUE(ParseTarget(c.target, &t, &error)) << error;
    EXPECT_EQ(t.kind, c.kind);
    EXPECT_EQ(t.host, c.host);
    EXPECT_EQ(t.port, c.port);
    EXPECT_EQ(t.path, c.path);
    EXPECT_EQ(t.authority, c.authority);
  }
}

TEST(TransportAddress, RejectsMalformedTargets) {
  for (const char* bad : {"", "host:port", "host:70000", "[::1", "[::1]x", "ipv4:example.com:80",
                          "ipv6:1.2.3.4:80", "unix:", "unix://host/path", "dns:", "ipv4:1.2.3.4:1,5.6.7.8:2",
                          "host:-1"}) {
    SCOPED_TRACE(bad);
    ParsedTarget t;
    std::string error;
    EXPECT_FALSE(ParseTarget(bad, &t, &error));
    EXPECT_FALSE(error.empty());
  }
}

// ---------------------------------------------------------------------------- socket helpers

// Collects closes reported by any handler, for waiting from the test thread.
class CloseLog {
 public:
  void Add(std::string reason) {
    std::lock_guard<std::mutex> lock(mu_);
    reasons_.push_back(std::move(reason));
    cv_.notify_all();
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return reasons_.size() >= n; });
  }
  std::vector<std::string> reasons() {
    std::lock_guard<std::mutex> lock(mu_);
    return reasons_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> reasons_;
};

// Server side: echoes everything back; with close_on_read it destroys its own endpoint from
// inside the first read callback instead (the re-entrancy case).
class ServerConn : public Endpoint::Handler {
 public:
  ServerConn(std::unique_ptr<Endpoint> ep, CloseLog* log, bool close_on_read)
      : ep_(std::move(ep)), log_(log), close_on_read_(close_on_read) {}
  void Start() { ep_->Start(this); }
  void OnEndpointRead(const uint8_t* data, size_t len) override {
    if (close_on_read_) {
      ep_.reset();  // Close() + destroy inside the callback
      log_->Add("closed by server handler");
      return;
    }
    auto b = std::make_unique<WriteBatch>();
    b->Append(data, len);
    ep_->Write(std::move(b));
  }
  void OnEndpointWritable() override {}
  void OnEndpointClosed(const std::string& reason) override { log_->Add(reason); }

 private:
  std::unique_ptr<Endpoint> ep_;
  CloseLog* log_;
  bool close_on_read_;
};

class EchoServer {
 public:
  EchoServer(EventLoop* accept_loop, EventLoop* conn_loop, std::shared_ptr<TlsContext> tls = nullptr,
             bool close_on_read = false)
      : accept_loop_(accept_loop), conn_loop_(conn_loop), tls_(std::move(tls)),
        close_on_read_(close_on_read) {}
  ~EchoServer() { Stop(); }

  bool Listen(const std::string& address, int* port, std::string* error) {
    listener_ = Listener::Create(
        accept_loop_, address,
        [this](int fd, std::string peer) {
          EXPECT_TRUE(accept_loop_->InLoopThread());
          accepted_peer_ = peer;
          // Serve on another loop than the one accepting, as a server does.
          conn_loop_->Post([this, fd, peer] {
            std::string error;
            auto ep = CreateEndpoint(conn_loop_, fd, peer, tls_, true, "", &error);
            if (ep == nullptr) {
              log_.Add("CreateEndpoint failed: " + error);
              return;
            }
            conns_.push_back(std::make_unique<ServerConn>(std::move(ep), &log_, close_on_read_));
            conns_.back()->Start();
          });
        },
        port, error);
    return listener_ != nullptr;
  }

  void Stop() {
    if (listener_ != nullptr) listener_->Close();  // from the test thread: posts and waits
    listener_.reset();
    RunOnLoop(conn_loop_, [this] { conns_.clear(); });
  }

  CloseLog& log() { return log_; }
  std::string accepted_peer() {
    std::string p;
    RunOnLoop(accept_loop_, [&] { p = accepted_peer_; });
    return p;
  }

 private:
  EventLoop* accept_loop_;
  EventLoop* conn_loop_;
  std::shared_ptr<TlsContext> tls_;
  bool close_on_read_;
  std::unique_ptr<Listener> listener_;
  std::vector<std::unique_ptr<ServerConn>> conns_;  // conn_loop_ only
  std::string accepted_peer_;                      // accept_loop_ only
  CloseLog log_;
};

class Client : public Endpoint::Handler {
 public:
  explicit Client(EventLoop* loop) : loop_(loop) {}
  ~Client() {
    RunOnLoop(loop_, [this] {
      if (attempt_) attempt_->Cancel();
      ep_.reset();
    });
  }

  // Returns "" once connected (endpoint created and started) or the error.
  std::string Connect(const std::string& target, std::shared_ptr<TlsContext> tls = nullptr,
                      const std::string& server_name = "", int timeout_ms = 5000) {
    ParsedTarget t;
    std::string error;
    if (!ParseTarget(target, &t, &error)) return "parse: " + error;
    std::promise<std::string> connected;
    auto f = connected.get_future();
    std::string name = server_name.empty() ? t.host : server_name;
    attempt_ = StartConnect(loop_, t, timeout_ms,
                            [&, tls, name](int fd, std::string peer, std::string err) {
                              EXPECT_TRUE(loop_->InLoopThread());
                              if (fd < 0) {
                                connected.set_value(err.empty() ? "empty error" : err);
                                return;
                              }
                              std::string e;
                              ep_ = CreateEndpoint(loop_, fd, peer, tls, false, name, &e);
                              if (ep_ == nullptr) {
                                connected.set_value("CreateEndpoint: " + e);
                                return;
                              }
                              ep_->Start(this);
                              connected.set_value("");
                            });
    if (!Ready(f)) return "connect callback never ran";
    return f.get();
  }

  // Sends without waiting for anything.
  void Send(const std::string& data) {
    RunOnLoop(loop_, [&] {
      auto b = std::make_unique<WriteBatch>();
      b->AppendSlice(Slice::Copy(data));
      ep_->Write(std::move(b));
      pending_after_write_ = ep_->PendingWriteBytes();
    });
  }

  // Sends data and waits until as many bytes came back.
  bool Echo(const std::string& data) {
    std::promise<void> got;
    auto f = got.get_future();
    RunOnLoop(loop_, [&] {
      expect_ = received_.size() + data.size();
      got_ = &got;
      auto b = std::make_unique<WriteBatch>();
      b->AppendSlice(Slice::Copy(data));
      ep_->Write(std::move(b));
      pending_after_write_ = ep_->PendingWriteBytes();
    });
    bool ok = Ready(f);
    RunOnLoop(loop_, [&] { got_ = nullptr; });
    return ok;
  }

  void OnEndpointRead(const uint8_t* data, size_t len) override {
    received_.append(reinterpret_cast<const char*>(data), len);
    if (got_ != nullptr && received_.size() >= expect_) {
      got_->set_value();
      got_ = nullptr;
    }
  }
  void OnEndpointWritable() override { ++writable_calls_; }
  void OnEndpointClosed(const std::string& reason) override { log_.Add(reason); }

  template <class T>
  T OnLoop(std::function<T()> fn) {
    T out;
    RunOnLoop(loop_, [&] { out = fn(); });
    return out;
  }
  std::string received() {
    return OnLoop<std::string>([this] { return received_; });
  }
  std::string alpn() {
    return OnLoop<std::string>([this] { return ep_ ? ep_->alpn() : "<none>"; });
  }
  std::string peer() {
    return OnLoop<std::string>([this] { return ep_ ? ep_->peer() : "<none>"; });
  }
  size_t pending_after_write() {
    return OnLoop<size_t>([this] { return pending_after_write_; });
  }
  size_t pending() {
    return OnLoop<size_t>([this] { return ep_ ? ep_->PendingWriteBytes() : size_t{999}; });
  }
  int writable_calls() {
    return OnLoop<int>([this] { return writable_calls_; });
  }
  CloseLog& log() { return log_; }

 private:
  EventLoop* loop_;
  std::shared_ptr<ConnectAttempt> attempt_;
  std::unique_ptr<Endpoint> ep_;
  std::string received_;
  size_t expect_ = 0;
  std::promise<void>* got_ = nullptr;
  size_t pending_after_write_ = 0;
  int writable_calls_ = 0;
  CloseLog log_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31) ^ (i >> 9));
  return s;
}

bool HaveIpv6Loopback() {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

class TransportTest : public ::testing::Test {
 protected:
  EventLoop* loop(int i) { return runtime_.loop(i); }
  Runtime runtime_{2};
};

// ---------------------------------------------------------------------------- plain sockets

TEST_F(TransportTest, TcpEchoIpv4) {
  EchoServer server(loop(0), loop(1));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  ASSERT_GT(port, 0);
  Client client(loop(0));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port)), "");
  EXPECT_EQ(client.peer(), "ipv4:127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client.Echo("hello"));
  ASSERT_TRUE(client.Echo(" world"));
  EXPECT_EQ(client.received(), "hello world");
  EXPECT_EQ(server.accepted_peer().rfind("ipv4:127.0.0.1:", 0), 0u) << server.accepted_peer();
  EXPECT_EQ(client.alpn(), "");
}

TEST_F(TransportTest, TcpEchoViaLocalhostName) {
  // Exercises uv_getaddrinfo; "localhost:0" listens on 127.0.0.1, and the connector must skip
  // a refused ::1 if the resolver returns it first.
  EchoServer server(loop(0), loop(1));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("localhost:0", &port, &error)) << error;
  Client client(loop(1));
  ASSERT_EQ(client.Connect("dns:///localhost:" + std::to_string(port)), "");
  ASSERT_TRUE(client.Echo("via dns"));
  EXPECT_EQ(client.received(), "via dns");
}

TEST_F(TransportTest, TcpEchoIpv6) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  EchoServer server(loop(0), loop(1));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("[::1]:0", &port, &error)) << error;
  Client client(loop(1));
  ASSERT_EQ(client.Connect("ipv6:[::1]:" + std::to_string(port)), "");
  EXPECT_EQ(client.peer(), "ipv6:[::1]:" + std::to_string(port));
  ASSERT_TRUE(client.Echo("over v6"));
  EXPECT_EQ(client.received(), "over v6");
}

TEST_F(TransportTest, DualStackListenerAcceptsIpv4) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback (::1)";
  EchoServer server(loop(0), loop(1));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("[::]:0", &port, &error)) << error;
  Client client(loop(1));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port)), "");
  ASSERT_TRUE(client.Echo("v4 to [::]"));
}

TEST_F(TransportTest, UnixSocketEcho) {
  std::string path = "/tmp/polyrpc-transport-test-" + std::to_string(getpid()) + ".sock";
  EchoServer server(loop(0), loop(1));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("unix:" + path, &port, &error)) << error;
  EXPECT_EQ(port, 0);
  {
    Client client(loop(0));
    ASSERT_EQ(client.Connect("unix://" + path), "");
    EXPECT_EQ(client.peer(), "unix:" + path);
    ASSERT_TRUE(client.Echo("over unix"));
    EXPECT_EQ(client.received(), "over unix");
    EXPECT_EQ(server.accepted_peer(), "unix:" + path);
  }
  server.Stop();
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "socket file left behind";
}

TEST_F(TransportTest, LargeWriteArrivesIntact) {
  EchoServer server(loop(0), loop(1));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  Client client(loop(0));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port)), "");
  std::string big = Pattern(8 << 20);
  ASSERT_TRUE(client.Echo(big));
  std::string got = client.received();
  ASSERT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big) << "echoed bytes differ";
  EXPECT_EQ(client.pending(), 0u);
}

TEST_F(TransportTest, QueuedWritesDrainAndReportWritable) {
  // The server accepts but does not read, so 8 MiB cannot all go to the kernel at once.
  std::promise<int> accepted;
  auto accepted_f = accepted.get_future();
  int port = -1;
  std::string error;
  auto listener = Listener::Create(
      loop(0), "127.0.0.1:0", [&](int fd, std::string) { accepted.set_value(fd); }, &port, &error);
  ASSERT_NE(listener, nullptr) << error;
  Client client(loop(1));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port)), "");
  ASSERT_TRUE(Ready(accepted_f));
  int fd = accepted_f.get();
  std::string big = Pattern(8 << 20);
  client.Send(big);
  EXPECT_GT(client.pending_after_write(), 0u);
  EXPECT_EQ(client.writable_calls(), 0);
  // Now drain it from this thread (blocking reads with a poll timeout).
  std::string got;
  char buf[65536];
  while (got.size() < big.size()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0 && errno != EAGAIN) break;
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  ASSERT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
  for (int i = 0; i < 100 && client.writable_calls() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(client.writable_calls(), 1);
  EXPECT_EQ(client.pending(), 0u);
}

TEST_F(TransportTest, HandlerMayDestroyEndpointInsideRead) {
  EchoServer server(loop(0), loop(1), nullptr, /*close_on_read=*/true);
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  Client client(loop(0));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port)), "");
  client.Send("x");  // gets no answer; the server drops the connection instead
  ASSERT_TRUE(client.log().WaitFor(1));
  EXPECT_EQ(client.log().reasons()[0], "connection closed by peer");
  ASSERT_TRUE(server.log().WaitFor(1));
  EXPECT_EQ(server.log().reasons()[0], "closed by server handler");
  EXPECT_EQ(server.log().reasons().size(), 1u) << "OnEndpointClosed after Close()";
}

TEST_F(TransportTest, ConnectToClosedPortFailsQuickly) {
  int port;
  {
    // Find a port that nobody listens on.
    std::string error;
    auto l = Listener::Create(loop(0), "127.0.0.1:0", [](int fd, std::string) { close(fd); },
                              &port, &error);
    ASSERT_NE(l, nullptr) << error;
  }
  Client client(loop(0));
  auto start = std::chrono::steady_clock::now();
  std::string err = client.Connect("127.0.0.1:" + std::to_string(port));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
}

TEST_F(TransportTest, ConnectTimesOut) {
  // A listener whose accept queue is full drops further SYNs, so a connect to it hangs.
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(lfd, 0), 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> fillers;
  bool hung = false;
  for (int i = 0; i < 16 && !hung; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fillers.push_back(fd);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) continue;
    pollfd p{fd, POLLOUT, 0};
    hung = poll(&p, 1, 200) == 0;
  }
  if (hung) {
    Client client(loop(0));
    auto start = std::chrono::steady_clock::now();
    std::string err = client.Connect("127.0.0.1:" + std::to_string(ntohs(a.sin_port)), nullptr,
                                     "", /*timeout_ms=*/300);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_NE(err.find("timed out"), std::string::npos) << err;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 3s);
  }
  for (int fd : fillers) close(fd);
  close(lfd);
  ASSERT_TRUE(hung) << "could not fill the accept queue to provoke a hanging connect";
}

TEST_F(TransportTest, CancelledConnectNeverCallsBack) {
  std::atomic<bool> called{false};
  ParsedTarget t;
  std::string error;
  ASSERT_TRUE(ParseTarget("localhost:1", &t, &error));
  RunOnLoop(loop(0), [&] {
    auto attempt = StartConnect(loop(0), t, 1000, [&](int fd, std::string, std::string) {
      called = true;
      if (fd >= 0) close(fd);
    });
    attempt->Cancel();  // before the posted start even ran
  });
  RunOnLoop(loop(0), [] {});
  std::this_thread::sleep_for(50ms);
  RunOnLoop(loop(0), [] {});
  EXPECT_FALSE(called);
}

// ---------------------------------------------------------------------------- TLS

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TransportTlsTest : public TransportTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::string(POLYRPC_BINARY_DIR) + "/transport-test-certs";
    std::string cmd = std::string(POLYRPC_SOURCE_DIR) + "/tools/gen-test-certs.sh " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static std::string Pem(const char* name) { return ReadFile(dir_ + "/" + name); }

  std::shared_ptr<TlsContext> ServerCtx(bool require_client_cert = false) {
    TlsServerOptions o;
    o.cert_chain_pem = Pem("server.pem");
    o.private_key_pem = Pem("server.key");
    if (require_client_cert) {
      o.client_ca_pem = Pem("ca.pem");
      o.require_client_cert = true;
    }
    std::string error;
    auto ctx = TlsContext::CreateServer(o, &error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }
  std::shared_ptr<TlsContext> ClientCtx(bool with_cert = false, std::string override_name = "") {
    TlsClientOptions o;
    o.root_certs_pem = Pem("ca.pem");
    o.server_name_override = override_name;
    if (with_cert) {
      o.cert_chain_pem = Pem("client.pem");
      o.private_key_pem = Pem("client.key");
    }
    std::string error;
    auto ctx = TlsContext::CreateClient(o, &error);
    EXPECT_NE(ctx, nullptr) << error;
    return ctx;
  }

  static std::string dir_;
};
std::string TransportTlsTest::dir_;

TEST_F(TransportTlsTest, HandshakeAlpnAndEcho) {
  EchoServer server(loop(0), loop(1), ServerCtx());
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  Client client(loop(0));
  // Verified against the certificate's IP SAN (127.0.0.1).
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port), ClientCtx()), "");
  ASSERT_TRUE(client.Echo("secret")) << (client.log().WaitFor(1) ? client.log().reasons()[0] : "");
  EXPECT_EQ(client.received(), "secret");
  EXPECT_EQ(client.alpn(), "h2");
  std::string big = Pattern(3 << 20);
  ASSERT_TRUE(client.Echo(big));
  EXPECT_TRUE(client.received() == "secret" + big);
}

TEST_F(TransportTlsTest, ServerNameOverride) {
  EchoServer server(loop(0), loop(1), ServerCtx());
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("localhost:0", &port, &error)) << error;
  Client client(loop(1));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port),
                           ClientCtx(false, "foo.test.google.fr")),
            "");
  ASSERT_TRUE(client.Echo("ok"));
  EXPECT_EQ(client.alpn(), "h2");
}

TEST_F(TransportTlsTest, WrongServerNameFailsVerification) {
  EchoServer server(loop(0), loop(1), ServerCtx());
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  Client client(loop(0));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port), ClientCtx(), "wrong.example.com"),
            "");
  ASSERT_TRUE(client.log().WaitFor(1));
  std::string reason = client.log().reasons()[0];
  EXPECT_NE(reason.find("certificate verify failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("hostname mismatch"), std::string::npos) << reason;
  EXPECT_EQ(client.received(), "");
  // The server sees the client's alert as a failed handshake.
  ASSERT_TRUE(server.log().WaitFor(1));
}

TEST_F(TransportTlsTest, UntrustedServerFailsVerification) {
  EchoServer server(loop(0), loop(1), ServerCtx());
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  TlsClientOptions o;
  o.root_certs_pem = Pem("client.pem");  // a certificate, but not the server's issuer
  auto ctx = TlsContext::CreateClient(o, &error);
  ASSERT_NE(ctx, nullptr) << error;
  Client client(loop(0));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port), ctx), "");
  ASSERT_TRUE(client.log().WaitFor(1));
  std::string reason = client.log().reasons()[0];
  EXPECT_NE(reason.find("certificate verify failed"), std::string::npos) << reason;
}

TEST_F(TransportTlsTest, MutualTlsRequiresClientCert) {
  EchoServer server(loop(0), loop(1), ServerCtx(/*require_client_cert=*/true));
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  std::string target = "127.0.0.1:" + std::to_string(port);
  {
    Client client(loop(0));
    ASSERT_EQ(client.Connect(target, ClientCtx(/*with_cert=*/false)), "");
    // With TLS 1.3 the client finishes its side first; the server's alert then closes it.
    client.Send("must not echo");
    ASSERT_TRUE(client.log().WaitFor(1));
    EXPECT_NE(client.log().reasons()[0].find("TLS"), std::string::npos)
        << client.log().reasons()[0];
    EXPECT_EQ(client.received(), "");
    ASSERT_TRUE(server.log().WaitFor(1));
    EXPECT_NE(server.log().reasons()[0].find("certificate"), std::string::npos)
        << server.log().reasons()[0];
  }
  Client client(loop(0));
  ASSERT_EQ(client.Connect(target, ClientCtx(/*with_cert=*/true)), "");
  ASSERT_TRUE(client.Echo("mutual"));
  EXPECT_EQ(client.received(), "mutual");
}

TEST_F(TransportTlsTest, PlaintextPeerFailsHandshake) {
  EchoServer server(loop(0), loop(1));  // no TLS
  int port = -1;
  std::string error;
  ASSERT_TRUE(server.Listen("127.0.0.1:0", &port, &error)) << error;
  Client client(loop(0));
  ASSERT_EQ(client.Connect("127.0.0.1:" + std::to_string(port), ClientCtx()), "");
  ASSERT_TRUE(client.log().WaitFor(1));
  EXPECT_NE(client.log().reasons()[0].find("TLS handshake failed"), std::string::npos)
      << client.log().reasons()[0];
}

TEST(TransportTlsContext, RejectsBadPem) {
  std::string error;
  TlsServerOptions s;
  s.cert_chain_pem = "not a pem";
  s.private_key_pem = "nope";
  EXPECT_EQ(TlsContext::CreateServer(s, &error), nullptr);
  EXPECT_NE(error.find("certificate"), std::string::npos) << error;
  TlsClientOptions c;
  c.root_certs_pem = "garbage";
  error.clear();
  EXPECT_EQ(TlsContext::CreateClient(c, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace polyrpc
