// Bad input: what a polyrpc server answers to malformed, truncated or non-gRPC requests, and how a
// polyrpc client maps broken or non-gRPC responses to status codes. The peer on the other side is
// a raw nghttp2 session (raw_h2.h) so it can send what no gRPC implementation would. After every
// bad input the server must keep serving other connections: each server test ends with normal
// calls on a channel that was connected before the bad input and on a new one.
//
// Expected answers follow gRPC's PROTOCOL-HTTP2.md and http-grpc-status-mapping.md.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "polyrpc++/polyrpc.hpp"
#include "raw_h2.h"

using namespace polyrpc;
using namespace polyrpc_test;
using namespace std::chrono_literals;

namespace {

// What the "Hold" handler saw: its calls and how each ended.
struct HoldLog {
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  int done = 0;
  int cancelled = 0;
  std::vector<std::shared_ptr<ServerCall>> calls;
  int flood_sent = 0;
  bool flood_ended = false;
  bool flood_cancelled = false;

  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }
};

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Server::Create();
    // Echo, inline on the I/O thread.
    server_->RegisterMethod("/test.Bad/Echo", [](std::shared_ptr<ServerCall> call) {
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
    // Hold: never answers; records how the call ends.
    auto log = log_;
    server_->RegisterMethod("/test.Bad/Hold", [log](std::shared_ptr<ServerCall> call) {
      {
        std::lock_guard<std::mutex> lock(log->mu);
        log->started++;
        log->calls.push_back(call);
      }
      log->cv.notify_all();
      call->OnDone([log](bool cancelled) {
        {
          std::lock_guard<std::mutex> lock(log->mu);
          log->done++;
          if (cancelled) log->cancelled++;
        }
        log->cv.notify_all();
      });
      call->RecvMessage([](bool) {});
    });
    // Flood: sends 16 KiB messages until a send fails (the client stopped reading, then left).
    server_->RegisterMethod("/test.Bad/Flood", [log](std::shared_ptr<ServerCall> call) {
      std::thread([log, call] {
        int sent = 0;
        auto end = Clock::now() + 10s;
        while (Clock::now() < end && SendBlocking(*call, Slice::Copy(std::string(16384, 'f')))) {
          ++sent;
        }
        {
          std::lock_guard<std::mutex> lock(log->mu);
          log->flood_sent = sent;
          log->flood_ended = true;
          log->flood_cancelled = call->IsCancelled();
        }
        log->cv.notify_all();
      }).detach();
    });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
    // A client that is connected before the bad input arrives.
    before_ = NewChannel();
    ExpectEcho(*before_);
  }
  void TearDown() override {
    before_.reset();
    if (server_) server_->Shutdown(Clock::now() + 2s);
  }

  std::shared_ptr<Channel> NewChannel() {
    return Channel::Create("127.0.0.1:" + std::to_string(port_), ChannelCredentials::Insecure());
  }
  static void ExpectEcho(Channel& ch) {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);
    Slice resp;
    Status st = BlockingUnaryCall(ch, "/test.Bad/Echo", Slice::Copy("still here"), &resp, o);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(resp.ToString(), "still here");
  }
  // The server still serves the connection that existed and new ones.
  void ExpectServerHealthy() {
    ExpectEcho(*before_);
    auto fresh = NewChannel();
    ExpectEcho(*fresh);
  }
  // Sends one request and waits for its stream to end; returns the stream.
  RawStream& RoundTrip(RawH2Client& c, const Headers& h, const std::string& body,
                       bool end_stream = true) {
    int32_t id = c.Request(h, body, end_stream);
    EXPECT_GT(id, 0);
    EXPECT_TRUE(c.WaitStreamClosed(id, 5000ms)) << "no answer within 5 s";
    return c.stream(id);
  }
  static std::string GrpcStatusOf(const RawStream& s) {
    const std::string* v = FindHeader(s.trailers, "grpc-status");
    if (v == nullptr) v = FindHeader(s.headers, "grpc-status");
    return v ? *v : "<none>";
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::shared_ptr<Channel> before_;
  std::shared_ptr<HoldLog> log_ = std::make_shared<HoldLog>();
};

TEST_F(BadInput, RawClientSanityCheck) {
  // The raw client itself speaks valid gRPC: a good request gets a good answer.
  RawH2Client c(port_);
  RawStream& s = RoundTrip(c, GrpcRequestHeaders("/test.Bad/Echo"), GrpcFrame("abc"));
  ASSERT_NE(FindHeader(s.headers, ":status"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, ":status"), "200");
  EXPECT_EQ(s.data, GrpcFrame("abc"));
  EXPECT_EQ(GrpcStatusOf(s), "0");
}

TEST_F(BadInput, NonPostMethodGets405) {
  RawH2Client c(port_);
  Headers h = GrpcRequestHeaders("/test.Bad/Echo");
  h[0].second = "GET";
  RawStream& s = RoundTrip(c, h, "", true);
  ASSERT_NE(FindHeader(s.headers, ":status"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, ":status"), "405");
  EXPECT_EQ(log_->started, 0);
  ExpectServerHealthy();
}

TEST_F(BadInput, WrongContentTypeGets415) {
  for (const char* ct : {"text/plain", "application/json", "application/grpcx", ""}) {
    RawH2Client c(port_);
    Headers h = GrpcRequestHeaders("/test.Bad/Echo");
    for (auto& kv : h) {
      if (kv.first == "content-type") kv.second = ct;
    }
    RawStream& s = RoundTrip(c, h, GrpcFrame("x"));
    ASSERT_NE(FindHeader(s.headers, ":status"), nullptr) << ct;
    EXPECT_EQ(*FindHeader(s.headers, ":status"), "415") << ct;
  }
  // Suffixes the spec allows are accepted.
  for (const char* ct : {"application/grpc+proto", "application/grpc;charset=utf-8"}) {
    RawH2Client c(port_);
    Headers h = GrpcRequestHeaders("/test.Bad/Echo");
    for (auto& kv : h) {
      if (kv.first == "content-type") kv.second = ct;
    }
    RawStream& s = RoundTrip(c, h, GrpcFrame("x"));
    EXPECT_EQ(GrpcStatusOf(s), "0") << ct;
  }
  ExpectServerHealthy();
}

TEST_F(BadInput, InvalidGrpcTimeoutIsInternal) {
  // PROTOCOL-HTTP2.md: TimeoutValue is at most 8 digits, then one unit letter.
  for (const char* t : {"abc", "1x", "-1S", "123456789S", "S", "1.5S"}) {
    RawH2Client c(port_);
    Headers h = GrpcRequestHeaders("/test.Bad/Hold");
    h.emplace_back("grpc-timeout", t);
    RawStream& s = RoundTrip(c, h, GrpcFrame("x"));
    EXPECT_EQ(GrpcStatusOf(s), std::to_string(static_cast<int>(StatusCode::INTERNAL))) << t;
    ASSERT_NE(FindHeader(s.headers, ":status"), nullptr);
    EXPECT_EQ(*FindHeader(s.headers, ":status"), "200") << t;
  }
  EXPECT_EQ(log_->started, 0);
  ExpectServerHealthy();
}

TEST_F(BadInput, PrefixOverTheLimitIsResourceExhausted) {
  RawH2Client c(port_);
  // Announces 4 MiB + 1 but sends only a few bytes and keeps the stream open: the server must
  // answer from the prefix alone, without waiting for (or buffering) the body.
  int32_t id = c.Request(GrpcRequestHeaders("/test.Bad/Echo"),
                         GrpcPrefix(0, (4u << 20) + 1) + "abcdef", false);
  ASSERT_TRUE(c.WaitStreamClosed(id, 5000ms));
  RawStream& s = c.stream(id);
  EXPECT_EQ(GrpcStatusOf(s), std::to_string(static_cast<int>(StatusCode::RESOURCE_EXHAUSTED)));
  ASSERT_NE(FindHeader(s.headers, ":status"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, ":status"), "200");
  // The largest allowed size is fine.
  std::string big((4u << 20), 'b');
  RawH2Client c2(port_);
  RawStream& ok = RoundTrip(c2, GrpcRequestHeaders("/test.Bad/Echo"), GrpcFrame(big));
  EXPECT_EQ(GrpcStatusOf(ok), "0");
  EXPECT_EQ(ok.data.size(), big.size() + 5);
  ExpectServerHealthy();
}

TEST_F(BadInput, HeadersOverTheLimitGetAClearError) {
  RawH2Client c(port_);
  Headers h = GrpcRequestHeaders("/test.Bad/Hold");
  h.emplace_back("x-big", std::string(20000, 'a'));
  int32_t id = c.Request(h, GrpcFrame("x"));
  ASSERT_GT(id, 0);
  ASSERT_TRUE(c.PumpUntil([&] { return c.stream(id).closed || c.peer_closed(); }, 5000ms))
      << "no answer to an oversized header list";
  RawStream& s = c.stream(id);
  // An error, whichever form: trailers-only RESOURCE_EXHAUSTED, HTTP 431, or a reset.
  const std::string* http = FindHeader(s.headers, ":status");
  bool resource_exhausted =
      GrpcStatusOf(s) == std::to_string(static_cast<int>(StatusCode::RESOURCE_EXHAUSTED));
  bool h431 = http != nullptr && *http == "431";
  bool reset = s.got_rst && s.close_error != NGHTTP2_NO_ERROR && s.headers.empty();
  EXPECT_TRUE(resource_exhausted || h431 || reset || c.got_goaway())
      << "status " << GrpcStatusOf(s) << " http " << (http ? *http : "-");
  EXPECT_EQ(log_->started, 0) << "the handler must not run";
  // Just under the limit is accepted.
  RawH2Client c2(port_);
  Headers h2 = GrpcRequestHeaders("/test.Bad/Echo");
  h2.emplace_back("x-big", std::string(12000, 'a'));
  RawStream& ok = RoundTrip(c2, h2, GrpcFrame("x"));
  EXPECT_EQ(GrpcStatusOf(ok), "0");
  ExpectServerHealthy();
}

TEST_F(BadInput, GarbagePrefaceClosesTheConnection) {
  RawH2Client c(port_, /*send_preface=*/false);
  ASSERT_TRUE(c.SendRaw("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  EXPECT_TRUE(c.WaitPeerClosed(5000ms)) << "server kept a connection with a bad preface open";
  // If anything framed came back before the close, it is HTTP/2 (SETTINGS, GOAWAY), never an
  // HTTP/1 answer.
  EXPECT_EQ(c.raw_received().find("HTTP/1"), std::string::npos);
  ExpectServerHealthy();
}

TEST_F(BadInput, MalformedFrameGetsGoaway) {
  RawH2Client c(port_);
  c.PumpUntil([] { return false; }, 100ms);  // settings exchanged
  // A PING frame must be 8 bytes long; this one announces 7 (FRAME_SIZE_ERROR, RFC 9113 6.7).
  std::string bad_ping("\x00\x00\x07\x06\x00\x00\x00\x00\x00" "1234567", 16);
  ASSERT_TRUE(c.SendRaw(bad_ping));
  EXPECT_TRUE(c.WaitPeerClosed(5000ms));
  EXPECT_TRUE(c.got_goaway());
  EXPECT_EQ(c.goaway_error(), static_cast<uint32_t>(NGHTTP2_FRAME_SIZE_ERROR));
  // DATA on stream 0 is a connection error PROTOCOL_ERROR.
  RawH2Client c2(port_);
  ASSERT_TRUE(c2.SendRaw(std::string("\x00\x00\x01\x00\x00\x00\x00\x00\x00" "x", 10)));
  EXPECT_TRUE(c2.WaitPeerClosed(5000ms));
  EXPECT_TRUE(c2.got_goaway());
  EXPECT_EQ(c2.goaway_error(), static_cast<uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  ExpectServerHealthy();
}

TEST_F(BadInput, TruncatedFrameThenCloseCancelsTheCall) {
  RawH2Client c(port_);
  int32_t id = c.Request(GrpcRequestHeaders("/test.Bad/Hold"), "", false);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(log_->WaitFor([&] { return log_->started == 1; }, 5000ms));
  // A DATA frame header announcing 100 bytes on the stream, then only 10 of them, then gone.
  std::string hdr("\x00\x00\x64\x00\x00\x00\x00\x00\x00", 9);
  hdr[8] = static_cast<char>(id);
  ASSERT_TRUE(c.SendRaw(hdr + GrpcPrefix(0, 95) + "abcde"));
  c.CloseSocket();
  ASSERT_TRUE(log_->WaitFor([&] { return log_->done == 1; }, 5000ms))
      << "the server did not clean up the call of a vanished client";
  EXPECT_EQ(log_->cancelled, 1);
  EXPECT_TRUE(log_->calls[0]->IsCancelled());
  ExpectServerHealthy();
}

TEST_F(BadInput, ReservedFlagBitIsInternal) {
  RawH2Client c(port_);
  RawStream& s = RoundTrip(c, GrpcRequestHeaders("/test.Bad/Echo"), GrpcFrame("abc", 0x02));
  EXPECT_EQ(GrpcStatusOf(s), std::to_string(static_cast<int>(StatusCode::INTERNAL)));
  ExpectServerHealthy();
}

TEST_F(BadInput, CompressedMessageWithIdentityEncodingIsInternal) {
  for (bool explicit_identity : {false, true}) {
    RawH2Client c(port_);
    Headers h = GrpcRequestHeaders("/test.Bad/Echo");
    if (explicit_identity) h.emplace_back("grpc-encoding", "identity");
    RawStream& s = RoundTrip(c, h, GrpcFrame("abc", 0x01));
    EXPECT_EQ(GrpcStatusOf(s), std::to_string(static_cast<int>(StatusCode::INTERNAL)))
        << "explicit identity: " << explicit_identity;
  }
  ExpectServerHealthy();
}

TEST_F(BadInput, UnknownEncodingIsUnimplemented) {
  RawH2Client c(port_);
  Headers h = GrpcRequestHeaders("/test.Bad/Echo");
  h.emplace_back("grpc-encoding", "snappy-9000");
  RawStream& s = RoundTrip(c, h, GrpcFrame("abc", 0x01));
  EXPECT_EQ(GrpcStatusOf(s), std::to_string(static_cast<int>(StatusCode::UNIMPLEMENTED)));
  const std::string* accept = FindHeader(s.headers, "grpc-accept-encoding");
  ASSERT_NE(accept, nullptr) << "UNIMPLEMENTED for an encoding must list the supported ones";
  EXPECT_NE(accept->find("gzip"), std::string::npos);
  ExpectServerHealthy();
}

TEST_F(BadInput, ClientVanishesMidStream) {
  RawH2Client c(port_);
  int32_t id = c.Request(GrpcRequestHeaders("/test.Bad/Hold"), GrpcFrame("first"), false);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(log_->WaitFor([&] { return log_->started == 1; }, 5000ms));
  c.PumpUntil([] { return false; }, 100ms);
  c.CloseSocket();
  ASSERT_TRUE(log_->WaitFor([&] { return log_->done == 1; }, 5000ms));
  EXPECT_EQ(log_->cancelled, 1);
  EXPECT_TRUE(log_->calls[0]->IsCancelled());
  // Operations on the dead call fail instead of hanging.
  OpWaiter w;
  log_->calls[0]->SendMessage(Slice::Copy("late"), 0, w.Done());
  EXPECT_FALSE(w.Wait());
  ExpectServerHealthy();
}

TEST_F(BadInput, ClientVanishesWhileTheServerIsBlockedOnFlowControl) {
  RawH2Client c(port_);
  int32_t id = c.Request(GrpcRequestHeaders("/test.Bad/Flood"), GrpcFrame("go"), true);
  ASSERT_GT(id, 0);
  // Read a little, then stop reading: the server fills the 64 KiB window and its sends stall.
  c.PumpUntil([&] { return c.stream(id).data.size() > 16384; }, 2000ms);
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard<std::mutex> lock(log_->mu);
    ASSERT_FALSE(log_->flood_ended) << "the server should be blocked, not finished";
  }
  c.CloseSocket();
  ASSERT_TRUE(log_->WaitFor([&] { return log_->flood_ended; }, 5000ms))
      << "a send blocked on a vanished client never completed";
  EXPECT_TRUE(log_->flood_cancelled);
  // It was flow-controlled: far fewer than 10 s worth of messages went out.
  EXPECT_LT(log_->flood_sent, 1000);
  ExpectServerHealthy();
}

TEST_F(BadInput, ClientResetMidStream) {
  RawH2Client c(port_);
  int32_t id = c.Request(GrpcRequestHeaders("/test.Bad/Hold"), GrpcFrame("first"), false);
  ASSERT_TRUE(log_->WaitFor([&] { return log_->started == 1; }, 5000ms));
  c.Reset(id, NGHTTP2_CANCEL);
  ASSERT_TRUE(log_->WaitFor([&] { return log_->done == 1; }, 5000ms));
  EXPECT_EQ(log_->cancelled, 1);
  // The same connection still carries new calls.
  RawStream& s = RoundTrip(c, GrpcRequestHeaders("/test.Bad/Echo"), GrpcFrame("abc"));
  EXPECT_EQ(GrpcStatusOf(s), "0");
  ExpectServerHealthy();
}

// ---- Client side: a raw server answering what gRPC servers would not --------------------------

Status CallRaw(int port, const std::string& method) {
  auto ch = Channel::Create("127.0.0.1:" + std::to_string(port), ChannelCredentials::Insecure());
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  Slice resp;
  return BlockingUnaryCall(*ch, method, Slice::Copy("x"), &resp, o);
}

RawResponse Answer(const std::string& path) {
  RawResponse r;
  auto http = [&](const char* code) {
    r.headers = {{":status", code}, {"content-type", "text/html"}};
    r.body = "<html>no</html>";
  };
  if (path == "/http/400") http("400");
  else if (path == "/http/401") http("401");
  else if (path == "/http/403") http("403");
  else if (path == "/http/404") http("404");
  else if (path == "/http/429") http("429");
  else if (path == "/http/500") http("500");
  else if (path == "/http/502") http("502");
  else if (path == "/http/503") http("503");
  else if (path == "/http/504") http("504");
  else if (path == "/http/404-with-grpc-status") {
    // grpc-status wins over the HTTP status when both are present.
    r.headers = {{":status", "404"}, {"content-type", "application/grpc"}, {"grpc-status", "5"}};
  } else if (path == "/no-content-type") {
    r.headers = {{":status", "200"}};
    r.body = GrpcFrame("x");
    r.trailers = {{"grpc-status", "0"}};
  } else if (path == "/html-content-type") {
    r.headers = {{":status", "200"}, {"content-type", "text/html"}};
    r.body = "<html>";
  } else if (path == "/trailers-without-status") {
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}};
    r.body = GrpcFrame("x");
    r.trailers = {{"x-something", "else"}};
  } else if (path == "/status-abc") {
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}};
    r.body = GrpcFrame("x");
    r.trailers = {{"grpc-status", "abc"}};
  } else if (path == "/status-99") {
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "99"}};
  } else if (path == "/status-5") {
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "5"},
                 {"grpc-message", "not%20here"}};
  } else if (path == "/ok") {
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}};
    r.body = GrpcFrame("pong");
    r.trailers = {{"grpc-status", "0"}};
  } else if (path == "/rst/refused") {
    r.rst = true;
    r.rst_code = NGHTTP2_REFUSED_STREAM;
  } else if (path == "/rst/cancel") {
    r.rst = true;
    r.rst_code = NGHTTP2_CANCEL;
  } else if (path == "/rst/calm") {
    r.rst = true;
    r.rst_code = NGHTTP2_ENHANCE_YOUR_CALM;
  } else if (path == "/rst/internal") {
    r.rst = true;
    r.rst_code = NGHTTP2_INTERNAL_ERROR;
  } else if (path == "/rst/security") {
    r.rst = true;
    r.rst_code = NGHTTP2_INADEQUATE_SECURITY;
  } else {
    r.headers = {{":status", "500"}};
  }
  return r;
}

TEST(ClientMapping, ResponsesMapToGrpcStatusCodes) {
  RawH2Server server([](const Headers& req) {
    const std::string* path = FindHeader(req, ":path");
    return Answer(path ? *path : "");
  });
  struct Case {
    const char* path;
    StatusCode want;
  } cases[] = {
      {"/ok", StatusCode::OK},
      // http-grpc-status-mapping.md: HTTP status without grpc-status.
      {"/http/400", StatusCode::INTERNAL},
      {"/http/401", StatusCode::UNAUTHENTICATED},
      {"/http/403", StatusCode::PERMISSION_DENIED},
      {"/http/404", StatusCode::UNIMPLEMENTED},
      {"/http/429", StatusCode::UNAVAILABLE},
      {"/http/502", StatusCode::UNAVAILABLE},
      {"/http/503", StatusCode::UNAVAILABLE},
      {"/http/504", StatusCode::UNAVAILABLE},
      {"/http/500", StatusCode::UNKNOWN},
      {"/http/404-with-grpc-status", StatusCode::NOT_FOUND},
      // A 200 that is not gRPC, and gRPC responses without a usable status.
      {"/no-content-type", StatusCode::UNKNOWN},
      {"/html-content-type", StatusCode::UNKNOWN},
      {"/trailers-without-status", StatusCode::UNKNOWN},
      {"/status-abc", StatusCode::UNKNOWN},
      {"/status-99", StatusCode::UNKNOWN},
      {"/status-5", StatusCode::NOT_FOUND},
      // PROTOCOL-HTTP2.md "Errors": RST_STREAM codes.
      {"/rst/refused", StatusCode::UNAVAILABLE},
      {"/rst/cancel", StatusCode::CANCELLED},
      {"/rst/calm", StatusCode::RESOURCE_EXHAUSTED},
      {"/rst/internal", StatusCode::INTERNAL},
      {"/rst/security", StatusCode::PERMISSION_DENIED},
  };
  auto ch = Channel::Create("127.0.0.1:" + std::to_string(server.port()),
                            ChannelCredentials::Insecure());
  for (const auto& c : cases) {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);
    Slice resp;
    Status st = BlockingUnaryCall(*ch, c.path, Slice::Copy("x"), &resp, o);
    EXPECT_EQ(st.code(), c.want) << c.path << ": " << st.ToString();
    if (c.want == StatusCode::OK) {
      EXPECT_EQ(resp.ToString(), "pong");
    }
  }
  // Status 5's message is percent-decoded.
  Status st = CallRaw(server.port(), "/status-5");
  EXPECT_EQ(st.message(), "not here");
  // All calls went over one connection: none of these answers is a reason to drop it.
  EXPECT_EQ(server.connections(), 2);
}

TEST(ClientMapping, ResetBeforeAnyAnswerIsUnavailableForRefusedStream) {
  // A separate channel per call, so that a bad answer on one cannot leak into the next.
  RawH2Server server([](const Headers& req) {
    const std::string* path = FindHeader(req, ":path");
    return Answer(path ? *path : "");
  });
  Status st = CallRaw(server.port(), "/rst/refused");
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  st = CallRaw(server.port(), "/ok");
  EXPECT_TRUE(st.ok()) << st.ToString();
}

}  // namespace
