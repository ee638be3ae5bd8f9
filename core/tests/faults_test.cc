// Faults: what clients and servers see when the other side or the path between them fails. A
// peer killed mid-stream (a real process, SIGKILL), a server killed and restarted on the same
// port under load, a graceful shutdown under load, and a network path that stops forwarding (a
// TCP proxy of the test's own on 127.0.0.1). Each must end in a prompt, accurate status and
// give back what the call held; none may hang. Every wait here is bounded.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "polyrpc++/polyrpc.hpp"
#include "raw_h2.h"

using namespace polyrpc;
using namespace polyrpc_test;
using namespace std::chrono_literals;

namespace {

int64_t MsSince(TestClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(TestClock::now() - t).count();
}

uint64_t TagOf(const ServerCall& call) {
  const std::string* t = FindMetadata(call.client_metadata(), "x-tag");
  return t ? std::strtoull(t->c_str(), nullptr, 10) : 0;
}

// What the handlers saw.
struct FaultLog {
  std::mutex mu;
  std::condition_variable cv;
  std::set<uint64_t> started;  // tags of the calls whose handler ran
  int held = 0, held_done = 0, held_cancelled = 0;
  std::atomic<int> bidi_messages{0};

  // Polls as well: bidi_messages counts without notifying.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu);
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      cv.wait_for(lock, 5ms);
    }
    return true;
  }
  void Started(uint64_t tag) {
    std::lock_guard<std::mutex> lock(mu);
    started.insert(tag);
  }
};

// Handlers, inline on the I/O thread (completion chains, nothing blocks).
void RegisterFaultMethods(Server& server, std::shared_ptr<FaultLog> log) {
  server.RegisterMethod("/test.Faults/Echo", [log](std::shared_ptr<ServerCall> call) {
    log->Started(TagOf(*call));
    call->RecvMessage([call](bool ok) {
      Slice m;
      if (!ok || !call->TakeMessage(&m)) return;
      call->SendMessage(m, 0, [](bool) {});
      call->SendStatus(Status::Ok(), {}, [](bool) {});
    });
  });
  // Echoes every message until the client half-closes.
  struct Bidi : std::enable_shared_from_this<Bidi> {
    std::shared_ptr<ServerCall> call;
    std::shared_ptr<FaultLog> log;
    void Next() {
      auto self = shared_from_this();
      call->RecvMessage([self](bool ok) {
        if (!ok) {
          self->call->SendStatus(Status::Ok(), {}, [](bool) {});
          return;
        }
        Slice m;
        if (!self->call->TakeMessage(&m)) return;
        self->log->bidi_messages++;
        self->call->SendMessage(m, 0, [self](bool ok) {
          if (ok) self->Next();
        });
      });
    }
  };
  server.RegisterMethod("/test.Faults/Bidi", [log](std::shared_ptr<ServerCall> call) {
    log->Started(TagOf(*call));
    auto b = std::make_shared<Bidi>();
    b->call = call;
    b->log = log;
    b->Next();
  });
  // Streams 1 KiB messages until the call is over (flow control paces it).
  struct Stream : std::enable_shared_from_this<Stream> {
    std::shared_ptr<ServerCall> call;
    void Next() {
      auto self = shared_from_this();
      call->SendMessage(Slice::Copy(std::string(1024, 's')), 0, [self](bool ok) {
        if (ok) self->Next();
      });
    }
  };
  server.RegisterMethod("/test.Faults/Stream", [](std::shared_ptr<ServerCall> call) {
    auto s = std::make_shared<Stream>();
    s->call = call;
    s->Next();
  });
  // Holds the call, reading what comes, until it is over.
  server.RegisterMethod("/test.Faults/Hold", [log](std::shared_ptr<ServerCall> call) {
    {
      std::lock_guard<std::mutex> lock(log->mu);
      log->held++;
    }
    log->cv.notify_all();
    call->OnDone([call, log](bool cancelled) {
      {
        std::lock_guard<std::mutex> lock(log->mu);
        log->held_done++;
        if (cancelled) log->held_cancelled++;
      }
      log->cv.notify_all();
    });
    struct Drain : std::enable_shared_from_this<Drain> {
      std::shared_ptr<ServerCall> call;
      void Next() {
        auto self = shared_from_this();
        call->RecvMessage([self](bool ok) {
          Slice m;
          if (ok && self->call->TakeMessage(&m)) self->Next();
        });
      }
    };
    auto d = std::make_shared<Drain>();
    d->call = call;
    d->Next();
  });
}

std::shared_ptr<Channel> ChannelTo(int port, const Options& o = Options()) {
  return Channel::Create("127.0.0.1:" + std::to_string(port), ChannelCredentials::Insecure(), o);
}

Status Echo(Channel& ch, const std::string& payload = "ping", uint64_t tag = 0,
            bool wait_for_ready = false, std::chrono::milliseconds deadline = 5000ms) {
  CallOptions o;
  o.deadline = DeadlineAfter(deadline);
  o.wait_for_ready = wait_for_ready;
  if (tag != 0) o.metadata.emplace_back("x-tag", std::to_string(tag));
  Slice resp;
  Status st = BlockingUnaryCall(ch, "/test.Faults/Echo", Slice::Copy(payload), &resp, o);
  if (st.ok() && resp.ToString() != payload) return Status(StatusCode::DATA_LOSS, "echo differs");
  return st;
}

// Reads a 4-byte value from fd within the timeout; false on timeout or EOF.
bool ReadInt(int fd, int* out, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  return ::read(fd, out, sizeof *out) == static_cast<ssize_t>(sizeof *out);
}

// The child server's side: a test binary started by ChildServer with POLYRPC_FAULTS_CHILD set
// ("PORT:FD") serves here, from a global test environment (after main has started, before any
// test), writes its port to FD and waits to be killed; it never runs a test.
[[noreturn]] void ServeAsChild(const char* spec) {
  int port = 0, fd = -1;
  if (std::sscanf(spec, "%d:%d", &port, &fd) != 2) ::_exit(2);
  int got = -1;
  std::unique_ptr<Server> server;
  // The port may still be held for a moment by the killed predecessor's listener.
  for (int i = 0; i < 250 && got <= 0; ++i) {
    server = Server::Create();
    RegisterFaultMethods(*server, std::make_shared<FaultLog>());
    got = server->AddListener("127.0.0.1:" + std::to_string(port), ServerCredentials::Insecure());
    if (got <= 0) ::usleep(20000);
  }
  if (got <= 0 || !server->Start()) ::_exit(1);
  ssize_t w = ::write(fd, &got, sizeof got);
  (void)w;
  for (;;) ::pause();
}

class ChildServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* spec = std::getenv("POLYRPC_FAULTS_CHILD")) ServeAsChild(spec);
  }
};
const auto* const g_child_server_environment =
    ::testing::AddGlobalTestEnvironment(new ChildServerEnvironment);

// A polyrpc server in a child process, so that it can die as a crashed server does (SIGKILL:
// the kernel closes its sockets, nothing of polyrpc runs). The child is this test binary again,
// started afresh (fork, then exec): a process forked from this multi-threaded one would inherit
// locks held by threads it does not have (ASan's allocator, glibc's), and TSan cannot follow it.
// It dies with the test (PR_SET_PDEATHSIG).
class ChildServer {
 public:
  explicit ChildServer(int port = 0) {
    int p[2];
    if (::pipe(p) != 0) return;
    std::string spec = std::to_string(port) + ":" + std::to_string(p[1]);
    std::string filter =
        std::string("--gtest_filter=") +
        ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "." +
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(p[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setenv("POLYRPC_FAULTS_CHILD", spec.c_str(), 1);
      char* const argv[] = {const_cast<char*>("polyrpc_core_tests"),
                            const_cast<char*>(filter.c_str()), nullptr};
      ::execv("/proc/self/exe", argv);
      ::_exit(127);
    }
    ::close(p[1]);
    if (pid_ > 0 && !ReadInt(p[0], &port_, 20000)) port_ = -1;
    ::close(p[0]);
  }
  ~ChildServer() { Kill(); }
  int port() const { return port_; }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int port_ = -1;
};

// ---- Peers killed --------------------------------------------------------------------------------

TEST(Faults, ServerKilledMidStreamIsUnavailablePromptly) {
  ChildServer child;
  ASSERT_GT(child.port(), 0);
  auto ch = ChannelTo(child.port());
  auto stream = ch->CreateCall("/test.Faults/Stream", CallOptions());  // no deadline
  ASSERT_TRUE(SendBlocking(*stream, Slice::Copy("go"), kWriteLast));
  Slice m;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(RecvBlocking(*stream, &m));
  // A second call blocked waiting for an answer that will never come, on another thread.
  auto held = ch->CreateCall("/test.Faults/Hold", CallOptions());
  ASSERT_TRUE(SendBlocking(*held, Slice::Copy("x")));
  std::atomic<int64_t> held_ms{-1};
  Status held_status;
  auto t0 = TestClock::now();
  std::thread waiter([&] {
    held_status = FinishBlocking(*held);
    held_ms = MsSince(t0);
  });
  std::this_thread::sleep_for(50ms);
  t0 = TestClock::now();
  child.Kill();
  // What was in flight may still be read; then the stream ends.
  int extra = 0;
  while (RecvBlocking(*stream, &m) && extra < 100000) ++extra;
  Status st = FinishBlocking(*stream);
  int64_t ms = MsSince(t0);
  waiter.join();
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  EXPECT_LT(ms, 1000) << "the client took " << ms << " ms to notice the dead server";
  EXPECT_EQ(held_status.code(), StatusCode::UNAVAILABLE) << held_status.ToString();
  EXPECT_LT(held_ms.load(), 1000);
  // New calls fail fast too (nothing listens any more), instead of waiting.
  auto t1 = TestClock::now();
  EXPECT_EQ(Echo(*ch).code(), StatusCode::UNAVAILABLE);
  EXPECT_LT(MsSince(t1), 1000);
}

TEST(Faults, ClientKilledMidStreamFreesTheServerCall) {
  auto log = std::make_shared<FaultLog>();
  auto server = Server::Create();
  RegisterFaultMethods(*server, log);
  int port = server->AddListener("127.0.0.1:0", ServerCredentials::Insecure());
  ASSERT_GT(port, 0);
  ASSERT_TRUE(server->Start());
  // The client, in a child process: a held call and a bidi stream that never ends.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto ch = ChannelTo(port);
    auto held = ch->CreateCall("/test.Faults/Hold", CallOptions());
    SendBlocking(*held, Slice::Copy("x"));
    auto bidi = ch->CreateCall("/test.Faults/Bidi", CallOptions());
    for (;;) {
      Slice m;
      if (!SendBlocking(*bidi, Slice::Copy("m")) || !RecvBlocking(*bidi, &m)) break;
    }
    ::_exit(0);
  }
  bool streaming = log->WaitFor(
      [&] { return log->held == 1 && log->bidi_messages.load() > 100; }, 10000ms);
  ServerStats before = server->GetStats();
  auto t0 = TestClock::now();
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ASSERT_TRUE(streaming) << "the child client never got going";
  EXPECT_EQ(before.calls, 2u);
  EXPECT_EQ(before.connections, 1u);
  // The server notices the closed connection and frees both calls (the held one is cancelled).
  while ((server->GetStats().calls > 0 || server->GetStats().connections > 0) && MsSince(t0) < 5000) {
    std::this_thread::sleep_for(2ms);
  }
  int64_t ms = MsSince(t0);
  ServerStats after = server->GetStats();
  EXPECT_EQ(after.calls, 0u);
  EXPECT_EQ(after.connections, 0u);
  EXPECT_EQ(after.memory_used, 0);
  EXPECT_LT(ms, 1000) << "the server took " << ms << " ms to free the calls";
  EXPECT_TRUE(log->WaitFor([&] { return log->held_done == 1; }, 1000ms));
  EXPECT_EQ(log->held_cancelled, 1);
  // And serves others.
  auto ch = ChannelTo(port);
  EXPECT_TRUE(Echo(*ch).ok());
  server->Shutdown(Clock::now() + 1s);
}

// ---- Restart and shutdown under load -------------------------------------------------------------

struct CallRecord {
  uint64_t tag;
  TestClock::time_point start, end;
  StatusCode code;
  std::string message;
};

// The server process is killed under load and another is started on the same port. Calls that
// wait for ready and start while no server runs wait (the channel backs off between attempts)
// and succeed once the new one is up; only calls in flight when the server died may fail.
TEST(Faults, ServerKilledAndRestartedOnTheSamePortUnderLoad) {
  auto first = std::make_unique<ChildServer>();
  int port = first->port();
  ASSERT_GT(port, 0);
  const int kClients = 4;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<CallRecord> records;
  std::atomic<uint64_t> next_tag{1};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto ch = ChannelTo(port);
      while (!stop) {
        CallRecord r;
        r.tag = next_tag++;
        r.start = TestClock::now();
        Status st = Echo(*ch, "load", r.tag, /*wait_for_ready=*/true, 10000ms);
        r.end = TestClock::now();
        r.code = st.code();
        r.message = st.message();
        std::lock_guard<std::mutex> lock(mu);
        records.push_back(r);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  auto killed = TestClock::now();
  first->Kill();
  // Calls started before the clients can have seen the connection close (within 100 ms of the
  // death here) may have been written to it: in flight, lost with the server.
  auto settled = killed + 100ms;
  std::this_thread::sleep_for(700ms);
  auto up = TestClock::now();  // from here on a server is starting or running
  auto second = std::make_unique<ChildServer>(port);
  ASSERT_EQ(second->port(), port);
  // Until every client has had a call that started after the kill succeed (bounded).
  auto all_back = [&] {
    std::lock_guard<std::mutex> lock(mu);
    int back = 0;
    for (auto& r : records) {
      if (r.start > up && r.code == StatusCode::OK) ++back;
    }
    return back >= kClients;
  };
  while (!all_back() && MsSince(up) < 8000) std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& t : clients) t.join();

  int before = 0, in_flight = 0, waiting = 0, after = 0;
  TestClock::time_point first_success_after_kill = TestClock::time_point::max();
  for (auto& r : records) {
    if (r.end < killed) {
      ++before;
      EXPECT_EQ(r.code, StatusCode::OK) << r.message;
    } else if (r.start < settled && r.end < up) {
      // In flight when the server died, or sent on its connection before the client saw it
      // close: it may have been lost with it.
      ++in_flight;
      EXPECT_TRUE(r.code == StatusCode::OK || r.code == StatusCode::UNAVAILABLE) << r.message;
    } else {
      // Waiting for ready while no server ran, or started after the new one was up: succeeds.
      (r.start < up ? waiting : after)++;
      EXPECT_EQ(r.code, StatusCode::OK) << "call " << r.tag << ": " << r.message;
      if (r.code == StatusCode::OK) first_success_after_kill = std::min(first_success_after_kill, r.end);
    }
  }
  EXPECT_GT(before, 0);
  EXPECT_GE(waiting, kClients) << "every client should have been waiting while no server ran";
  EXPECT_GT(after, 0);
  // The channels reconnected with back-off (gRPC's: 1 s, then x1.6, +/-20%; spacing checked in
  // keepalive_test's ReconnectAttemptsFollowExponentialBackoff): the first call after the kill
  // succeeded within two back-off steps of the new server being up.
  ASSERT_NE(first_success_after_kill, TestClock::time_point::max());
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(first_success_after_kill - up)
                .count(),
            3500);
}

// A graceful shutdown while clients keep calling: every call the server admitted (its handler
// ran) completes OK; calls that arrive after the GOAWAY are refused before any handler sees
// them and fail with UNAVAILABLE only because no server is left to retry on.
TEST(Faults, GracefulShutdownUnderLoadFailsNoCallInFlight) {
  auto log = std::make_shared<FaultLog>();
  auto server = Server::Create();
  RegisterFaultMethods(*server, log);
  int port = server->AddListener("127.0.0.1:0", ServerCredentials::Insecure());
  ASSERT_GT(port, 0);
  ASSERT_TRUE(server->Start());
  const int kClients = 4;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<CallRecord> records;
  std::atomic<uint64_t> next_tag{1};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto ch = ChannelTo(port);
      for (int i = 0; !stop; ++i) {
        CallRecord r;
        r.tag = next_tag++;
        r.start = TestClock::now();
        Status st;
        if ((i + c) % 2 == 0) {
          st = Echo(*ch, "unary", r.tag);
        } else {
          // A bidi stream of 20 round trips, 3 ms apart: about 60 ms in flight.
          CallOptions o;
          o.deadline = DeadlineAfter(10s);
          o.metadata.emplace_back("x-tag", std::to_string(r.tag));
          auto call = ch->CreateCall("/test.Faults/Bidi", o);
          for (int k = 0; k < 20; ++k) {
            Slice m;
            if (!SendBlocking(*call, Slice::Copy("m" + std::to_string(k)))) break;
            if (!RecvBlocking(*call, &m)) break;
            if (m.ToString() != "m" + std::to_string(k)) {
              call->Cancel();
              break;
            }
            std::this_thread::sleep_for(3ms);
          }
          CloseSendBlocking(*call);
          st = FinishBlocking(*call);
        }
        r.end = TestClock::now();
        r.code = st.code();
        r.message = st.message();
        std::lock_guard<std::mutex> lock(mu);
        records.push_back(r);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  auto t_shutdown = TestClock::now();
  server->Shutdown(Clock::now() + 10s);
  int64_t shutdown_ms = MsSince(t_shutdown);
  std::this_thread::sleep_for(100ms);  // clients see the server gone
  stop = true;
  for (auto& t : clients) t.join();

  std::set<uint64_t> admitted;
  {
    std::lock_guard<std::mutex> lock(log->mu);
    admitted = log->started;
  }
  int ok = 0, refused = 0, straddling = 0;
  for (auto& r : records) {
    bool was_admitted = admitted.count(r.tag) != 0;
    if (r.code == StatusCode::OK) {
      ++ok;
      if (r.start < t_shutdown && r.end > t_shutdown) ++straddling;
      continue;
    }
    EXPECT_FALSE(was_admitted) << "call " << r.tag << " was admitted and failed: "
                               << StatusCodeName(r.code) << " " << r.message;
    EXPECT_EQ(r.code, StatusCode::UNAVAILABLE) << r.message;
    EXPECT_GE(r.start, t_shutdown) << "call " << r.tag << " started before the shutdown and failed";
    ++refused;
  }
  EXPECT_GT(ok, 20);
  EXPECT_GT(straddling, 0) << "no call was in flight when the shutdown began";
  EXPECT_GT(refused, 0) << "no call arrived after the shutdown (the test proved nothing)";
  // The shutdown waited for the calls in flight, not for its deadline.
  EXPECT_LT(shutdown_ms, 3000);
}

// ---- A network path that stops forwarding -------------------------------------------------------

// A TCP proxy on 127.0.0.1 that forwards to upstream until Stall(); then it neither reads nor
// writes (bytes in flight stay in the kernel's buffers, as on a path whose router died), for the
// connections it has and for new ones, until Resume().
class StallingProxy {
 public:
  explicit StallingProxy(int upstream) : upstream_(upstream) {
    listen_fd_ = ListenLoopback(&port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~StallingProxy() {
    stop_ = true;
    thread_.join();
    for (auto& p : pairs_) {
      if (p.a >= 0) ::close(p.a);
      if (p.b >= 0) ::close(p.b);
    }
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  void Stall() { stalled_ = true; }
  void Resume() { stalled_ = false; }

 private:
  struct Pair {
    int a = -1, b = -1;  // client side, server side
    std::string a_to_b, b_to_a;
  };
  static constexpr size_t kMaxBuffered = 256 << 10;
  static void NonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }
  // Moves bytes from `from` into buf, and from buf to `to`; false once either side is gone.
  static bool Pump(int from, short from_ev, std::string& buf, int to, short to_ev) {
    if ((from_ev & (POLLIN | POLLHUP | POLLERR)) && buf.size() < kMaxBuffered) {
      char tmp[65536];
      ssize_t n = ::recv(from, tmp, sizeof tmp, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
      if (n > 0) buf.append(tmp, static_cast<size_t>(n));
    }
    if (!buf.empty() && (to_ev & POLLOUT)) {
      ssize_t n = ::send(to, buf.data(), buf.size(), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) buf.erase(0, static_cast<size_t>(n));
    }
    return true;
  }
  void Run() {
    while (!stop_) {
      bool stalled = stalled_;
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& p : pairs_) {
        short ea = 0, eb = 0;
        if (!stalled) {
          ea = static_cast<short>(POLLIN | (p.b_to_a.empty() ? 0 : POLLOUT));
          eb = static_cast<short>(POLLIN | (p.a_to_b.empty() ? 0 : POLLOUT));
        }
        fds.push_back({stalled ? -1 : p.a, ea, 0});
        fds.push_back({stalled ? -1 : p.b, eb, 0});
      }
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int a = ::accept(listen_fd_, nullptr, nullptr);
        if (a >= 0) {
          Pair p;
          p.a = a;
          p.b = ConnectLoopback(upstream_);
          NonBlocking(p.a);
          if (p.b >= 0) NonBlocking(p.b);
          pairs_.push_back(std::move(p));
        }
      }
      if (stalled) continue;
      for (size_t i = 0; i < pairs_.size() && 1 + 2 * i + 1 < fds.size(); ++i) {
        Pair& p = pairs_[i];
        if (p.a < 0) continue;
        short ra = fds[1 + 2 * i].revents, rb = fds[2 + 2 * i].revents;
        bool alive = p.b >= 0 && Pump(p.a, ra, p.a_to_b, p.b, rb) && Pump(p.b, rb, p.b_to_a, p.a, ra);
        if (!alive) {
          ::close(p.a);
          if (p.b >= 0) ::close(p.b);
          p.a = p.b = -1;
        }
      }
      std::erase_if(pairs_, [](const Pair& p) { return p.a < 0; });
    }
  }

  int upstream_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stalled_{false};
  std::vector<Pair> pairs_;  // proxy thread only
  std::thread thread_;
};

class StalledPath : public ::testing::Test {
 protected:
  void StartServer(const Options& o = Options()) {
    server_ = Server::Create(o);
    RegisterFaultMethods(*server_, log_);
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure());
    ASSERT_GT(port_, 0);
    ASSERT_TRUE(server_->Start());
    proxy_ = std::make_unique<StallingProxy>(port_);
  }
  void TearDown() override {
    proxy_.reset();
    if (server_) server_->Shutdown(Clock::now() + 1s);
  }
  // The server holds nothing but the connections it is allowed to keep.
  bool WaitServerCalls(size_t calls, std::chrono::milliseconds timeout) {
    auto end = Clock::now() + timeout;
    while (server_->GetStats().calls > calls) {
      if (Clock::now() > end) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  std::shared_ptr<Channel> ThroughProxy(const Options& o = Options()) {
    return ChannelTo(proxy_->port(), o);
  }

  std::shared_ptr<FaultLog> log_ = std::make_shared<FaultLog>();
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::unique_ptr<StallingProxy> proxy_;
};

// With keepalive on both sides, a stream on a path that stops forwarding ends on the client
// with UNAVAILABLE (no PING ack), and the server frees the call on its own (no PING ack either).
TEST_F(StalledPath, EndsInKeepaliveErrorsOnBothSides) {
  Options so;
  so.Set("grpc.keepalive_time_ms", 300);
  so.Set("grpc.keepalive_timeout_ms", 300);
  so.Set("grpc.http2.max_ping_strikes", 0);  // the client's frequent pings are allowed here
  StartServer(so);
  Options co;
  co.Set("grpc.keepalive_time_ms", 200);
  co.Set("grpc.keepalive_timeout_ms", 300);
  auto ch = ThroughProxy(co);
  auto call = ch->CreateCall("/test.Faults/Bidi", CallOptions());  // no deadline
  Slice m;
  ASSERT_TRUE(SendBlocking(*call, Slice::Copy("a")));
  ASSERT_TRUE(RecvBlocking(*call, &m));
  EXPECT_EQ(server_->GetStats().calls, 1u);
  proxy_->Stall();
  auto t0 = TestClock::now();
  SendBlocking(*call, Slice::Copy("b"));  // into the kernel's buffers
  EXPECT_FALSE(RecvBlocking(*call, &m));
  Status st = FinishBlocking(*call);
  int64_t ms = MsSince(t0);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  EXPECT_NE(st.message().find("keepalive"), std::string::npos) << st.message();
  EXPECT_LT(ms, 2500);
  // The server's own keepalive (300 + 300 ms) ends its side: the call is freed although no FIN
  // or RST ever arrives through the stalled proxy.
  EXPECT_TRUE(WaitServerCalls(0, 3000ms)) << "the server still holds the stalled call";
  // Direct clients never noticed.
  auto direct = ChannelTo(port_);
  EXPECT_TRUE(Echo(*direct).ok());
}

// Without keepalive, deadlines end calls on a stalled path: one waiting for its answer, and one
// blocked in a send that the stalled path will never take (TCP buffers full).
TEST_F(StalledPath, EndsInDeadlineErrors) {
  StartServer();
  auto ch = ThroughProxy();
  ASSERT_TRUE(Echo(*ch).ok());
  CallOptions o;
  o.deadline = DeadlineAfter(1500ms);
  auto upload = ch->CreateCall("/test.Faults/Hold", o);
  ASSERT_TRUE(SendBlocking(*upload, Slice::Copy("first")));
  ASSERT_TRUE(log_->WaitFor([&] { return log_->held == 1; }, 2000ms));
  proxy_->Stall();
  auto t0 = TestClock::now();
  // A unary call that cannot get through.
  Status st = Echo(*ch, "lost", 0, false, 300ms);
  EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED) << st.ToString();
  EXPECT_LT(MsSince(t0), 1300);
  // 64 MB more of the upload: the sends block once the buffers are full, until the deadline.
  bool all_sent = true;
  for (int i = 0; i < 64 && all_sent; ++i) {
    all_sent = SendBlocking(*upload, Slice::Copy(std::string(1 << 20, 'u')));
  }
  EXPECT_FALSE(all_sent) << "64 MB went into a stalled path";
  Status ust = FinishBlocking(*upload);
  EXPECT_EQ(ust.code(), StatusCode::DEADLINE_EXCEEDED) << ust.ToString();
  EXPECT_LT(MsSince(t0), 2500);
  // The server ends the call at the deadline the client sent (grpc-timeout), on its own.
  EXPECT_TRUE(log_->WaitFor([&] { return log_->held_done == 1; }, 2000ms))
      << "the server still holds the stalled call";
  EXPECT_TRUE(WaitServerCalls(0, 1000ms));
  // Once the path forwards again, the channel carries calls again.
  proxy_->Resume();
  EXPECT_TRUE(Echo(*ch, "back", 0, true, 5000ms).ok());
}

// A path that stalls before the HTTP/2 handshake is done: TCP connects (the proxy accepts), but
// the server's SETTINGS never arrive. Calls with a deadline end at it, whether they wait for
// ready or not; a call without one ends when the connection attempt times out
// (grpc.min_reconnect_backoff_ms, gRPC's minimum connect timeout), never hangs.
TEST_F(StalledPath, StalledBeforeTheHandshakeEndsInDeadlineOrConnectTimeout) {
  StartServer();
  proxy_->Stall();
  Options co;
  co.Set("grpc.min_reconnect_backoff_ms", 500);
  auto ch = ThroughProxy(co);
  auto t0 = TestClock::now();
  EXPECT_EQ(Echo(*ch, "x", 0, false, 300ms).code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(Echo(*ch, "x", 0, true, 300ms).code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(MsSince(t0), 2000);
  // No deadline of its own (10 s here only so that a failure cannot hang the test).
  auto t1 = TestClock::now();
  Status st = Echo(*ch, "x", 0, false, 10000ms);
  int64_t ms = MsSince(t1);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.ToString();
  EXPECT_LT(ms, 3000) << "the channel waited " << ms << " ms for a handshake that never came";
}

}  // namespace
