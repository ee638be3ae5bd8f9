// Keepalive (client pings, the server's ping-abuse policy, the keepalive watchdog), connectivity
// states and reconnect backoff. The timings are scaled down through gRPC's channel arguments
// (grpc.keepalive_time_ms, grpc.initial_reconnect_backoff_ms, ...) so that each test takes at
// most a few seconds; every wait has a deadline.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>

#include "channel/channel_impl.h"
#include "polyrpc++/polyrpc.hpp"
#include "raw_h2.h"

using namespace polyrpc;
using namespace polyrpc_test;
using namespace std::chrono_literals;

namespace {

int64_t MsSince(TestClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(TestClock::now() - t).count();
}

// A polyrpc server with Echo (replies with the caller's address as the server saw it) and Hold
// (never answers; counts the calls that ended cancelled).
class KeepaliveServer {
 public:
  explicit KeepaliveServer(const Options& opts) {
    server_ = Server::Create(opts);
    server_->RegisterMethod("/test.Ka/Echo", [](std::shared_ptr<ServerCall> call) {
      auto c = call;
      c->RecvMessage([c](bool ok) {
        Slice msg;
        if (!ok || !c->TakeMessage(&msg)) return;
        c->SendMessage(Slice::Copy(c->peer()), 0, [](bool) {});
        c->SendStatus(Status::Ok(), {}, [](bool) {});
      });
    });
    auto cancelled = cancelled_;
    auto held = held_;
    server_->RegisterMethod("/test.Ka/Hold", [cancelled, held](std::shared_ptr<ServerCall> call) {
      call->OnDone([cancelled](bool c) {
        if (c) cancelled->fetch_add(1);
      });
      call->RecvMessage([](bool) {});
      // Kept: a handler that drops its call cancels it.
      std::lock_guard<std::mutex> lock(held->mu);
      held->calls.push_back(call);
    });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    EXPECT_GT(port_, 0) << err;
    EXPECT_TRUE(server_->Start(&err)) << err;
  }
  ~KeepaliveServer() { server_->Shutdown(Clock::now() + 2s); }
  int port() const { return port_; }
  int cancelled() const { return cancelled_->load(); }

 private:
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::shared_ptr<std::atomic<int>> cancelled_ = std::make_shared<std::atomic<int>>(0);
  struct Held {
    std::mutex mu;
    std::vector<std::shared_ptr<ServerCall>> calls;
  };
  std::shared_ptr<Held> held_ = std::make_shared<Held>();
};

std::shared_ptr<Channel> ChannelTo(int port, const Options& opts = Options()) {
  return Channel::Create("127.0.0.1:" + std::to_string(port), ChannelCredentials::Insecure(),
                         opts);
}

// One Echo call; returns the status and, on OK, the client address the server saw.
Status Echo(Channel& ch, std::string* client_addr = nullptr) {
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  Slice resp;
  Status st = BlockingUnaryCall(ch, "/test.Ka/Echo", Slice::Copy("x"), &resp, o);
  if (client_addr) *client_addr = resp.ToString();
  return st;
}

Options StrictServer() {
  Options o;
  o.Set("grpc.http2.min_recv_ping_interval_without_data_ms", 1000);
  o.Set("grpc.http2.max_ping_strikes", 2);
  return o;
}

// ---- Keepalive -------------------------------------------------------------------------------

TEST(Keepalive, ServerAnswersPingFloodWithTooManyPings) {
  KeepaliveServer server(StrictServer());
  RawH2Client c(server.port());
  // The first ping is free; each later one within the interval is a strike; the third strike
  // is over the limit of 2.
  for (int i = 0; i < 4 && !c.peer_closed(); ++i) {
    c.Ping();
    c.PumpUntil([] { return false; }, 20ms);
  }
  ASSERT_TRUE(c.WaitPeerClosed(3000ms)) << "the server tolerated a ping flood";
  ASSERT_TRUE(c.got_goaway());
  EXPECT_EQ(c.goaway_error(), static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_EQ(c.goaway_debug(), "too_many_pings");
  // Other clients are unaffected.
  auto ch = ChannelTo(server.port());
  EXPECT_TRUE(Echo(*ch).ok());
}

TEST(Keepalive, PingsWithinThePolicyAreNotStrikes) {
  KeepaliveServer server(StrictServer());
  RawH2Client c(server.port());
  for (int i = 0; i < 3; ++i) {
    c.Ping();
    c.PumpUntil([] { return false; }, 1100ms);  // longer than the minimum interval
  }
  EXPECT_FALSE(c.got_goaway());
  EXPECT_FALSE(c.peer_closed());
}

TEST(Keepalive, TooFrequentClientKeepaliveLosesTheConnectionThenReconnects) {
  KeepaliveServer server(StrictServer());
  Options co;
  co.Set("grpc.keepalive_time_ms", 100);
  co.Set("grpc.keepalive_permit_without_calls", 1);
  auto ch = ChannelTo(server.port(), co);
  ASSERT_TRUE(Echo(*ch).ok());
  // A call in flight when the server gives up on the pinging client fails UNAVAILABLE, as in
  // gRPC (the server closes the connection after its GOAWAY).
  auto start = TestClock::now();
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  auto call = ch->CreateCall("/test.Ka/Hold", o);
  call->SendMessage(Slice::Copy("x"), 0, [](bool) {});
  Status st = FinishBlocking(*call);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  EXPECT_LT(MsSince(start), 3000) << "the GOAWAY should come after about 4 pings (400 ms)";
  // The server side of that call was cancelled.
  for (int i = 0; i < 200 && server.cancelled() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server.cancelled(), 1);
  // The channel reconnects for the next call.
  Status again = Echo(*ch);
  EXPECT_TRUE(again.ok()) << again.ToString();
  // And backs off, as gRPC's keepalive.md asks: after the too_many_pings GOAWAY the next
  // connections ping half as often (read on the channel's loop, where that state lives).
  auto* impl = dynamic_cast<ChannelImpl*>(ch.get());
  ASSERT_NE(impl, nullptr);
  std::promise<std::pair<int64_t, int>> seen;
  impl->loop()->Post([&] {
    seen.set_value({impl->keepalive_time_ms(), impl->keepalive_backoffs()});
  });
  auto [interval, backoffs] = seen.get_future().get();
  EXPECT_GE(backoffs, 1);
  EXPECT_EQ(interval, int64_t{100} << backoffs);
}

TEST(Keepalive, AllowedIntervalKeepsTheConnection) {
  Options so;
  so.Set("grpc.http2.min_recv_ping_interval_without_data_ms", 50);
  so.Set("grpc.http2.max_ping_strikes", 2);
  KeepaliveServer server(so);
  Options co;
  co.Set("grpc.keepalive_time_ms", 100);
  co.Set("grpc.keepalive_permit_without_calls", 1);
  auto ch = ChannelTo(server.port(), co);
  std::set<std::string> client_addrs;
  auto start = TestClock::now();
  int calls = 0;
  while (MsSince(start) < 1200) {
    std::string addr;
    Status st = Echo(*ch, &addr);
    ASSERT_TRUE(st.ok()) << st.ToString() << " after " << MsSince(start) << " ms";
    client_addrs.insert(addr);
    ++calls;
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_GE(calls, 5);
  // One client address: the connection was never replaced.
  EXPECT_EQ(client_addrs.size(), 1u);
  EXPECT_EQ(ch->GetState(false), ConnectivityState::READY);
}

TEST(Keepalive, PingsFlowAndStopWithoutPermission) {
  RawH2Server server([](const Headers&) {
    RawResponse r;
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}};
    r.body = GrpcFrame("pong");
    r.trailers = {{"grpc-status", "0"}};
    return r;
  });
  {
    Options co;
    co.Set("grpc.keepalive_time_ms", 100);
    co.Set("grpc.keepalive_permit_without_calls", 1);
    auto ch = ChannelTo(server.port(), co);
    ASSERT_TRUE(Echo(*ch).ok());
    std::this_thread::sleep_for(1000ms);
    // About 10 in a second; fewer than 5 means the timer is not running.
    EXPECT_GE(server.pings(), 5);
    EXPECT_LE(server.pings(), 13);
    EXPECT_EQ(ch->GetState(false), ConnectivityState::READY);
  }
  // Without permit_without_calls an idle connection does not ping.
  RawH2Server idle([](const Headers&) {
    RawResponse r;
    r.headers = {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "0"}};
    return r;
  });
  Options co;
  co.Set("grpc.keepalive_time_ms", 100);
  auto ch = ChannelTo(idle.port(), co);
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  auto call = ch->CreateCall("/x/y", o);
  call->CloseSend([](bool) {});
  EXPECT_EQ(FinishBlocking(*call).code(), StatusCode::OK);
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(idle.pings(), 0);
}

TEST(Keepalive, WatchdogDetectsAPeerThatNeverAcks) {
  // The peer sends SETTINGS (so the channel is READY) and then ignores everything, PINGs too.
  RawTcpServer silent(RawTcpServer::kSettingsThenSilent);
  Options co;
  co.Set("grpc.keepalive_time_ms", 200);
  co.Set("grpc.keepalive_timeout_ms", 300);
  auto ch = ChannelTo(silent.port(), co);
  auto start = TestClock::now();
  CallOptions o;
  o.deadline = DeadlineAfter(10s);
  auto call = ch->CreateCall("/test.Ka/Hold", o);
  call->SendMessage(Slice::Copy("x"), kWriteLast, [](bool) {});
  Status st = FinishBlocking(*call);
  int64_t ms = MsSince(start);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  // keepalive_time + keepalive_timeout = 500 ms, with room for a slow machine.
  EXPECT_GE(ms, 400);
  EXPECT_LT(ms, 2500);
  // The client closed its socket.
  for (int i = 0; i < 100 && silent.peer_closed_at() == TestClock::time_point{}; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(silent.peer_closed_at(), TestClock::time_point{});
}

// ---- Connectivity state and backoff ------------------------------------------------------------

// Follows the channel's state until want or the deadline; returns every state seen, in order.
std::vector<ConnectivityState> FollowStates(Channel& ch, ConnectivityState want,
                                            std::chrono::milliseconds timeout) {
  std::vector<ConnectivityState> seen{ch.GetState(false)};
  auto deadline = Clock::now() + timeout;
  while (seen.back() != want) {
    if (!ch.WaitForStateChange(seen.back(), deadline)) break;
    seen.push_back(ch.GetState(false));
  }
  return seen;
}

TEST(Connectivity, ClosedPortGoesToTransientFailure) {
  auto ch = ChannelTo(ClosedPort());
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->GetState(false), ConnectivityState::IDLE);
  // Nothing happens without a reason to connect.
  EXPECT_FALSE(ch->WaitForStateChange(ConnectivityState::IDLE, DeadlineAfter(200ms)));
  EXPECT_EQ(ch->GetState(true), ConnectivityState::IDLE);
  auto seen = FollowStates(*ch, ConnectivityState::TRANSIENT_FAILURE, 3000ms);
  ASSERT_EQ(seen.back(), ConnectivityState::TRANSIENT_FAILURE);
  // IDLE, then possibly CONNECTING (a refused connect may be over before we look), then TF.
  EXPECT_EQ(seen.front(), ConnectivityState::IDLE);
  for (size_t i = 1; i + 1 < seen.size(); ++i) {
    EXPECT_EQ(seen[i], ConnectivityState::CONNECTING) << ConnectivityStateName(seen[i]);
  }
  // A call that does not wait for ready fails at once with UNAVAILABLE ...
  auto start = TestClock::now();
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  Slice resp;
  Status st = BlockingUnaryCall(*ch, "/test.Ka/Echo", Slice::Copy("x"), &resp, o);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  EXPECT_LT(MsSince(start), 1000);
  // ... and one that does waits until its deadline.
  o.wait_for_ready = true;
  o.deadline = DeadlineAfter(300ms);
  st = BlockingUnaryCall(*ch, "/test.Ka/Echo", Slice::Copy("x"), &resp, o);
  EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED) << st.ToString();
}

TEST(Connectivity, ConnectingIsVisibleAndNotifyOnStateChangeWorks) {
  // Accepts and stays silent: the channel is CONNECTING until the peer hangs up.
  RawTcpServer holder(RawTcpServer::kHold);
  auto ch = ChannelTo(holder.port());
  ch->GetState(true);
  ASSERT_TRUE(ch->WaitForStateChange(ConnectivityState::IDLE, DeadlineAfter(2s)));
  ASSERT_EQ(ch->GetState(false), ConnectivityState::CONNECTING);
  // No HTTP/2 SETTINGS, no READY.
  EXPECT_FALSE(ch->WaitForStateChange(ConnectivityState::CONNECTING, DeadlineAfter(300ms)));

  // NotifyOnStateChange: the deadline passes without a change ...
  std::promise<bool> timed_out;
  auto start = TestClock::now();
  ch->NotifyOnStateChange(ConnectivityState::CONNECTING, DeadlineAfter(100ms),
                          [&](bool changed) { timed_out.set_value(changed); });
  auto f1 = timed_out.get_future();
  ASSERT_EQ(f1.wait_for(2s), std::future_status::ready);
  EXPECT_FALSE(f1.get());
  EXPECT_GE(MsSince(start), 90);
  // ... and a change is reported.
  std::promise<bool> changed;
  ch->NotifyOnStateChange(ConnectivityState::CONNECTING, DeadlineAfter(5s),
                          [&](bool c) { changed.set_value(c); });
  holder.Release();
  auto f2 = changed.get_future();
  ASSERT_EQ(f2.wait_for(3s), std::future_status::ready);
  EXPECT_TRUE(f2.get());
  EXPECT_EQ(ch->GetState(false), ConnectivityState::TRANSIENT_FAILURE);
  // A state that already differs is reported at once.
  std::promise<bool> at_once;
  ch->NotifyOnStateChange(ConnectivityState::READY, DeadlineAfter(5s),
                          [&](bool c) { at_once.set_value(c); });
  auto f3 = at_once.get_future();
  ASSERT_EQ(f3.wait_for(1s), std::future_status::ready);
  EXPECT_TRUE(f3.get());
}

TEST(Connectivity, ReconnectAttemptsFollowExponentialBackoff) {
  // Each attempt reaches a peer that hangs up at once, so the server sees every attempt.
  RawTcpServer closer(RawTcpServer::kClose);
  Options co;
  co.Set("grpc.initial_reconnect_backoff_ms", 100);
  auto ch = ChannelTo(closer.port(), co);
  // A wait-for-ready call keeps the channel trying until its deadline.
  CallOptions o;
  o.wait_for_ready = true;
  o.deadline = DeadlineAfter(2200ms);
  Slice resp;
  Status st = BlockingUnaryCall(*ch, "/test.Ka/Echo", Slice::Copy("x"), &resp, o);
  EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED) << st.ToString();
  auto t = closer.accept_times();
  // 0, +100, +160, +256, +410, +655 ms (±20% each): six attempts by 1.6 s.
  ASSERT_GE(t.size(), 5u) << "too few reconnect attempts";
  ASSERT_LE(t.size(), 8u) << "reconnecting faster than the backoff allows";
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < t.size(); ++i) {
    gaps.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(t[i] - t[i - 1]).count());
  }
  double expect = 100;
  for (size_t i = 0; i < gaps.size() && i < 4; ++i) {
    EXPECT_GE(gaps[i], static_cast<int64_t>(expect * 0.8) - 5) << "gap " << i;
    EXPECT_LE(gaps[i], static_cast<int64_t>(expect * 1.2) + 120) << "gap " << i;
    expect *= 1.6;
  }
  EXPECT_GT(gaps[3], gaps[0]);
}

TEST(Connectivity, CloseMovesToShutdownAndRefusesCalls) {
  KeepaliveServer server{Options()};
  Options co;
  co.Set("grpc.initial_reconnect_backoff_ms", 100);
  auto ch = ChannelTo(server.port(), co);
  ASSERT_TRUE(Echo(*ch).ok());
  EXPECT_EQ(ch->GetState(false), ConnectivityState::READY);
  // WaitForStateChange returns false on a deadline when nothing changes.
  EXPECT_FALSE(ch->WaitForStateChange(ConnectivityState::READY, DeadlineAfter(100ms)));
  ch->Close();
  ASSERT_TRUE(ch->WaitForStateChange(ConnectivityState::READY, DeadlineAfter(2s)));
  EXPECT_EQ(ch->GetState(false), ConnectivityState::SHUTDOWN);
  Slice resp;
  CallOptions o;
  o.deadline = DeadlineAfter(2s);
  Status st = BlockingUnaryCall(*ch, "/test.Ka/Echo", Slice::Copy("x"), &resp, o);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
}

}  // namespace
