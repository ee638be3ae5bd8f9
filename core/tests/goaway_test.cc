// Graceful shutdown in two phases (RFC 9113 6.8; gRPC's PROTOCOL-HTTP2.md): a server first sends
// GOAWAY with the last stream id 2^31-1 and a PING, and the final GOAWAY, naming the last stream
// it took, once the PING is answered (or a second later). A request the client sent before it
// saw the first GOAWAY is served, not refused. And a client sends a call the server refused
// without processing it again (transparent retry), so a call racing a shutdown never fails.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "polyrpc++/polyrpc.hpp"
#include "raw_h2.h"

using namespace polyrpc;
using namespace polyrpc_test;
using namespace std::chrono_literals;

namespace {

uint32_t U32(const uint8_t* q) {
  return (uint32_t{q[0]} << 24) | (uint32_t{q[1]} << 16) | (uint32_t{q[2]} << 8) | q[3];
}

// Reads frames from a raw socket, keeping what the tests look at.
struct FrameLog {
  std::vector<uint32_t> goaway_last_ids;
  std::vector<std::string> pings;   // payloads of PINGs without ACK
  std::map<uint32_t, int> headers;  // stream id -> HEADERS frames
  std::set<uint32_t> ended;         // streams the server ended (END_STREAM)
  std::set<uint32_t> reset;         // streams the server reset
  bool closed = false;
  std::string buf;

  // Reads for up to for_ms or until pred() holds.
  template <typename Pred>
  bool ReadUntil(int fd, Pred pred, int for_ms) {
    auto end = TestClock::now() + std::chrono::milliseconds(for_ms);
    while (!pred()) {
      if (closed || TestClock::now() > end) return pred();
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char tmp[65536];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        closed = true;
        continue;
      }
      buf.append(tmp, static_cast<size_t>(n));
      Parse();
    }
    return true;
  }
  void Parse() {
    size_t pos = 0;
    while (buf.size() - pos >= 9) {
      const auto* h = reinterpret_cast<const uint8_t*>(buf.data() + pos);
      size_t len = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
      if (buf.size() - pos - 9 < len) break;
      uint8_t type = h[3], flags = h[4];
      uint32_t id = U32(h + 5) & 0x7fffffffu;
      const uint8_t* p = h + 9;
      if (type == NGHTTP2_GOAWAY && len >= 8) goaway_last_ids.push_back(U32(p) & 0x7fffffffu);
      if (type == NGHTTP2_PING && len == 8 && !(flags & NGHTTP2_FLAG_ACK)) {
        pings.emplace_back(reinterpret_cast<const char*>(p), 8);
      }
      if (type == NGHTTP2_HEADERS) headers[id]++;
      if ((type == NGHTTP2_HEADERS || type == NGHTTP2_DATA) && (flags & NGHTTP2_FLAG_END_STREAM)) {
        ended.insert(id);
      }
      if (type == NGHTTP2_RST_STREAM) reset.insert(id);
      pos += 9 + len;
    }
    buf.erase(0, pos);
  }
};

class Goaway : public ::testing::Test {
 protected:
  void StartServer(int port = 0) {
    server_ = Server::Create();
    server_->RegisterMethod("/test.Bye/Echo", [](std::shared_ptr<ServerCall> call) {
      auto c = call;
      c->RecvMessage([c](bool ok) {
        Slice msg;
        if (!ok || !c->TakeMessage(&msg)) {
          c->SendStatus(Status(StatusCode::INTERNAL, "no request"), {}, [](bool) {});
          return;
        }
        c->SendMessage(msg, 0, [](bool) {});
        c->SendStatus(Status::Ok(), {}, [](bool) {});
      });
    });
    // Hold: answers when the client cancels or the server gives up.
    server_->RegisterMethod(
        "/test.Bye/Hold", [](std::shared_ptr<ServerCall> call) { call->OnDone([call](bool) {}); });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:" + std::to_string(port), ServerCredentials::Insecure(),
                                 &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
  }
  void TearDown() override {
    if (server_) server_->Shutdown(Clock::now() + 2s);
  }
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(Goaway, ShutdownIsTwoPhaseAndServesARequestThatRacedTheFirstGoaway) {
  StartServer();
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  std::string hold = HpackLiterals(GrpcRequestHeaders("/test.Bye/Hold"));
  std::string echo = HpackLiterals(GrpcRequestHeaders("/test.Bye/Echo"));
  std::string out = std::string(kClientPreface) + H2Settings({}) +
                    H2Frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "") +
                    H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, hold);
  ASSERT_TRUE(WriteAll(fd, out.data(), out.size()));
  FrameLog log;
  log.ReadUntil(
      fd, [] { return false; }, 200);  // SETTINGS, the held call is in
  auto done = std::async(std::launch::async, [&] { server_->Shutdown(Clock::now() + 10s); });

  // Phase one: GOAWAY with 2^31-1, then a PING.
  ASSERT_TRUE(log.ReadUntil(
      fd, [&] { return !log.goaway_last_ids.empty() && !log.pings.empty(); }, 5000));
  EXPECT_EQ(log.goaway_last_ids[0], 0x7fffffffu);
  // A request the client sent before it saw that GOAWAY (it is sent now, before the PING is
  // answered) is still taken.
  out = H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 3, echo) +
        H2Frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 3, GrpcFrame("racing"));
  ASSERT_TRUE(WriteAll(fd, out.data(), out.size()));
  ASSERT_TRUE(log.ReadUntil(
      fd, [&] { return log.ended.count(3) != 0; }, 5000));
  EXPECT_EQ(log.reset.count(3), 0u);
  EXPECT_GE(log.headers[3], 2);  // response headers, then trailers
  // Still only the first GOAWAY: phase two waits for the PING's answer.
  EXPECT_EQ(log.goaway_last_ids.size(), 1u);
  out = H2Frame(NGHTTP2_PING, NGHTTP2_FLAG_ACK, 0, log.pings[0]);
  ASSERT_TRUE(WriteAll(fd, out.data(), out.size()));
  ASSERT_TRUE(log.ReadUntil(
      fd, [&] { return log.goaway_last_ids.size() >= 2; }, 5000));
  EXPECT_EQ(log.goaway_last_ids[1], 3u);
  // Nothing past the final GOAWAY is taken: a new stream is refused.
  out = H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 5, echo);
  WriteAll(fd, out.data(), out.size());
  // The held call ends (we cancel it) and the connection closes; Shutdown returns.
  out = H2Frame(NGHTTP2_RST_STREAM, 0, 1, std::string("\0\0\0\x08", 4));  // CANCEL
  WriteAll(fd, out.data(), out.size());
  EXPECT_TRUE(log.ReadUntil(
      fd, [&] { return log.closed; }, 5000));
  EXPECT_EQ(log.ended.count(5), 0u);
  EXPECT_EQ(done.wait_for(5s), std::future_status::ready);
  ::close(fd);
}

TEST_F(Goaway, FinalGoawayComesWithoutTheAnswerToo) {
  StartServer();
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  std::string hold = HpackLiterals(GrpcRequestHeaders("/test.Bye/Hold"));
  std::string out = std::string(kClientPreface) + H2Settings({}) +
                    H2Frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "") +
                    H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, hold);
  ASSERT_TRUE(WriteAll(fd, out.data(), out.size()));
  FrameLog log;
  log.ReadUntil(
      fd, [] { return false; }, 200);
  auto start = TestClock::now();
  auto done = std::async(std::launch::async, [&] { server_->Shutdown(Clock::now() + 10s); });
  // A client that never answers the PING gets the final GOAWAY about a second later.
  ASSERT_TRUE(log.ReadUntil(
      fd, [&] { return log.goaway_last_ids.size() >= 2; }, 5000));
  auto waited = TestClock::now() - start;
  EXPECT_GE(waited, 800ms);
  EXPECT_LT(waited, 3000ms);
  EXPECT_EQ(log.goaway_last_ids[1], 1u);
  out = H2Frame(NGHTTP2_RST_STREAM, 0, 1, std::string("\0\0\0\x08", 4));
  WriteAll(fd, out.data(), out.size());
  EXPECT_EQ(done.wait_for(5s), std::future_status::ready);
  ::close(fd);
}

// Calls made without pause while the server shuts down and a new one starts on the same port:
// every call succeeds. Wait-for-ready calls wait for the new server; calls already on the old
// connection finish there; a call the old server refused unprocessed is sent again.
TEST_F(Goaway, CallsRacingAShutdownAndRestartAllSucceed) {
  StartServer();
  int port = port_;
  auto ch = Channel::Create("127.0.0.1:" + std::to_string(port), ChannelCredentials::Insecure());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string last_failure;
  std::mutex mu;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      while (!stop) {
        CallOptions o;
        o.deadline = DeadlineAfter(10s);
        o.wait_for_ready = true;
        Slice resp;
        Status st = BlockingUnaryCall(*ch, "/test.Bye/Echo", Slice::Copy("x"), &resp, o);
        if (st.ok() && resp.ToString() == "x") {
          ok++;
        } else {
          failed++;
          std::lock_guard<std::mutex> lock(mu);
          last_failure = st.ToString();
        }
      }
    });
  }
  std::this_thread::sleep_for(200ms);
  for (int round = 0; round < 3; ++round) {
    server_->Shutdown(Clock::now() + 5s);
    server_.reset();
    StartServer(port);  // the same port
    std::this_thread::sleep_for(300ms);
  }
  stop = true;
  for (auto& t : callers) t.join();
  EXPECT_GT(ok.load(), 100);
  EXPECT_EQ(failed.load(), 0) << last_failure;
}

// A stream the server refuses before answering (REFUSED_STREAM: never processed) is sent again
// on a new stream, transparently: here a raw server refuses every first attempt.
TEST(TransparentRetry, RefusedStreamIsSentAgain) {
  std::atomic<int> requests{0};
  RawH2Server raw([&](const Headers& h) {
    RawResponse r;
    if (requests.fetch_add(1) % 2 == 0) {
      r.rst = true;
      r.rst_code = NGHTTP2_REFUSED_STREAM;
      return r;
    }
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}};
    r.body = GrpcFrame("second try");
    r.trailers = {{"grpc-status", "0"}};
    return r;
  });
  auto ch =
      Channel::Create("127.0.0.1:" + std::to_string(raw.port()), ChannelCredentials::Insecure());
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  Slice resp;
  Status st = BlockingUnaryCall(*ch, "/test.R/M", Slice::Copy(std::string(100000, 'r')), &resp, o);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(resp.ToString(), "second try");
  EXPECT_EQ(requests.load(), 2);
  // With retries off (grpc.enable_retries = 0) the refusal is the call's end: UNAVAILABLE.
  Options no;
  no.Set("grpc.enable_retries", 0);
  auto ch2 = Channel::Create("127.0.0.1:" + std::to_string(raw.port()),
                             ChannelCredentials::Insecure(), no);
  st = BlockingUnaryCall(*ch2, "/test.R/M", Slice::Copy("x"), &resp, o);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
}

}  // namespace
