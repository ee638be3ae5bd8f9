// Blocking calls that run their own I/O (IoDriver, runtime/event_loop.h): where completions run,
// what happens when another thread is already driving, timers armed while a caller drove, busy
// polling, and SIGPIPE on a caller's thread.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "polyrpc++/polyrpc.hpp"
#include "runtime/event_loop.h"
#include "runtime/timer.h"

using namespace polyrpc;
using namespace std::chrono_literals;

namespace {

class IoDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Server::Create();
    // Echo, answered inline on the server's I/O thread.
    server_->RegisterMethod("/t.S/Echo", [](std::shared_ptr<ServerCall> call) {
      call->RecvMessage([call](bool ok) {
        Slice msg;
        if (!ok || !call->TakeMessage(&msg)) return;
        call->SendMessage(msg, 0, [](bool) {});
        call->SendStatus(Status::Ok(), {}, [](bool) {});
      });
    });
    // Never answers until cancelled (deadline tests).
    server_->RegisterMethod("/t.S/Hang", [](std::shared_ptr<ServerCall> call) {
      call->OnDone([call](bool) {});
    });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
  }
  void TearDown() override { server_->Shutdown(Clock::now()); }

  std::shared_ptr<Channel> NewChannel(const Options& o = Options()) {
    std::string err;
    auto ch = Channel::Create("127.0.0.1:" + std::to_string(port_),
                              ChannelCredentials::Insecure(), o, &err);
    EXPECT_TRUE(ch) << err;
    return ch;
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(IoDriverTest, ABlockedCallerRunsItsCallsIoAndCompletionsItself) {
  auto ch = NewChannel();
  Slice resp;
  ASSERT_TRUE(BlockingUnaryCall(*ch, "/t.S/Echo", Slice::Copy("warm"), &resp).ok());

  auto call = ch->CreateCall("/t.S/Echo", CallOptions());
  IoDriver driver(*call);
  ASSERT_TRUE(driver.active()) << "nobody else drives this loop: the caller must get it";
  std::thread::id send_thread, recv_thread;
  std::atomic<int> done{0};
  call->SendMessage(Slice::Copy("ping"), kWriteLast, [&](bool ok) {
    EXPECT_TRUE(ok);
    send_thread = std::this_thread::get_id();
    ++done;
  });
  call->RecvMessage([&](bool ok) {
    EXPECT_TRUE(ok);
    recv_thread = std::this_thread::get_id();
    ++done;
  });
  driver.RunUntil([&] { return done.load() == 2; });
  EXPECT_EQ(send_thread, std::this_thread::get_id());
  EXPECT_EQ(recv_thread, std::this_thread::get_id());
  ASSERT_TRUE(call->TakeMessage(&resp));
  EXPECT_EQ(resp.ToString(), "ping");
  OpWaiter status;
  call->RecvStatus(status.Done());
  status.Wait(&driver);
  EXPECT_TRUE(call->status().ok());
}

// OpWaiter::Abort ends a wait whose operation will not complete soon, whether the waiting
// thread drives the loop (Abort must wake it out of its loop turn) or waits the plain way, and
// the waiter is reusable after it. (The call's deadline only bounds a broken test.)
TEST_F(IoDriverTest, AnAbortedWaitReturnsFalseDrivingOrNot) {
  auto ch = NewChannel();
  for (bool drive : {true, false}) {
    CallOptions co;
    co.deadline = DeadlineAfter(5s);
    auto call = ch->CreateCall("/t.S/Hang", co);
    auto w = std::make_shared<OpWaiter>();
    std::optional<IoDriver> driver;
    if (drive) {
      driver.emplace(*call);
      ASSERT_TRUE(driver->active());
    }
    call->RecvMessage([w](bool ok) { w->Complete(ok); });
    std::thread aborter([w] {
      std::this_thread::sleep_for(100ms);
      w->Abort();
    });
    auto start = Clock::now();
    EXPECT_FALSE(w->Wait(driver ? &*driver : nullptr)) << "drive=" << drive;
    EXPECT_LT(Clock::now() - start, 2s) << "drive=" << drive;
    aborter.join();
    driver.reset();
    call->Cancel();  // the receive then completes (ok=false) into the aborted waiter
    OpWaiter status;
    call->RecvStatus(status.Done());
    status.Wait();
    EXPECT_EQ(call->status().code(), StatusCode::CANCELLED);
  }
  OpWaiter r;
  r.Abort();
  EXPECT_FALSE(r.Wait());
  r.Complete(true);
  EXPECT_TRUE(r.Wait()) << "an abort must not stick to the next wait";
}

TEST_F(IoDriverTest, ACompletionCannotDriveAndFallsBackToAPlainWait) {
  auto ch = NewChannel();
  auto outer = ch->CreateCall("/t.S/Echo", CallOptions());
  OpWaiter w;
  std::atomic<bool> nested_active{true};
  outer->SendMessage(Slice::Copy("x"), kWriteLast, [&](bool) {
    // On the loop's driver thread: a new call here must not take the loop over again.
    auto inner = ch->CreateCall("/t.S/Echo", CallOptions());
    IoDriver nested(*inner);
    nested_active = nested.active();
    inner->Cancel();
  });
  outer->RecvStatus(w.Done());
  w.Wait();
  EXPECT_FALSE(nested_active.load());
}

// One thread drives the loop for a long time (its call hangs until its deadline); blocking
// calls from other threads on the same channel must still complete, through the plain wait.
TEST_F(IoDriverTest, CallsFromOtherThreadsCompleteWhileOneThreadDrives) {
  auto ch = NewChannel();
  Slice resp;
  ASSERT_TRUE(BlockingUnaryCall(*ch, "/t.S/Echo", Slice::Copy("warm"), &resp).ok());
  std::atomic<bool> hang_done{false};
  Status hang_status;
  std::thread hanger([&] {
    CallOptions o;
    o.deadline = DeadlineAfter(1500ms);
    Slice r;
    hang_status = BlockingUnaryCall(*ch, "/t.S/Hang", Slice::Copy("h"), &r, o);
    hang_done = true;
  });
  std::this_thread::sleep_for(100ms);  // let it take the loop
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        Slice r;
        if (BlockingUnaryCall(*ch, "/t.S/Echo", Slice::Copy("x"), &r).ok() && r.ToString() == "x") {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 150);
  EXPECT_FALSE(hang_done.load()) << "the echo calls must not have waited for the hanging one";
  hanger.join();
  EXPECT_EQ(hang_status.code(), StatusCode::DEADLINE_EXCEEDED);
}

// A timer armed by a caller while it drove fires on time after the caller handed the loop back
// (the I/O thread was asleep with no timeout when it was armed).
TEST_F(IoDriverTest, ATimerArmedWhileDrivingFiresAfterTheDriveEnds) {
  auto runtime = Runtime::Get();
  EventLoop* loop = runtime->loop(0);
  // Let the I/O thread go to sleep with nothing due.
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(loop->TryBeginDrive());
  std::atomic<bool> fired{false};
  std::thread::id fired_on;
  auto timer = std::make_unique<Timer>(loop);
  timer->Start(50, [&] {
    fired_on = std::this_thread::get_id();
    fired = true;
  });
  loop->EndDrive();
  auto until = Clock::now() + 2s;
  while (!fired && Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(fired.load()) << "the I/O thread slept through a timer armed while a caller drove";
  EXPECT_NE(fired_on, std::this_thread::get_id());
  loop->Post([t = timer.release()] { delete t; });
}

TEST_F(IoDriverTest, BusyPollingCallsWorkAndStillHonourDeadlines) {
  Options o;
  o.Set("polyrpc.busy_poll_us", int64_t{200});
  auto ch = NewChannel(o);
  for (int i = 0; i < 200; ++i) {
    Slice r;
    ASSERT_TRUE(BlockingUnaryCall(*ch, "/t.S/Echo", Slice::Copy(std::to_string(i)), &r).ok());
    ASSERT_EQ(r.ToString(), std::to_string(i));
  }
  CallOptions co;
  co.deadline = DeadlineAfter(100ms);
  auto start = Clock::now();
  Slice r;
  Status st = BlockingUnaryCall(*ch, "/t.S/Hang", Slice::Copy("h"), &r, co);
  EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(Clock::now() - start, 2s);
}

// The channel option reaches the calls: adaptive by default (and for any negative value), 0 for
// off, a fixed budget capped at 10 ms.
TEST_F(IoDriverTest, TheBusyPollOptionReachesTheCalls) {
  auto budget = [&](const Options& o) {
    auto ch = NewChannel(o);
    auto call = ch->CreateCall("/t.S/Echo", CallOptions());
    int us = call->busy_poll_us();
    call->Cancel();
    return us;
  };
  EXPECT_EQ(budget(Options()), EventLoop::kAutoSpin);
  EXPECT_EQ(budget(Options().Set("polyrpc.busy_poll_us", int64_t{0})), 0);
  EXPECT_EQ(budget(Options().Set("polyrpc.busy_poll_us", int64_t{-7})), EventLoop::kAutoSpin);
  EXPECT_EQ(budget(Options().Set("polyrpc.busy_poll_us", int64_t{250})), 250);
  EXPECT_EQ(budget(Options().Set("polyrpc.busy_poll_us", int64_t{1} << 40)), 10000);
}

// Socket writes happen on the caller's thread while it drives: a write to a connection the
// server dropped must fail the call, not kill the process with SIGPIPE, and the caller's signal
// mask must be as it was. Made deterministic with a Unix socket (writing to one whose peer has
// closed raises SIGPIPE at once) and a caller that holds the loop while the server drops the
// connection, so that nothing reads the end of file before the caller writes.
TEST_F(IoDriverTest, AWriteToADroppedConnectionOnTheCallersThreadRaisesNoSigpipe) {
  std::string path = "/tmp/polyrpc-io-driver-" + std::to_string(getpid()) + ".sock";
  unlink(path.c_str());
  auto server = Server::Create();
  server->RegisterMethod("/t.S/Drop", [](std::shared_ptr<ServerCall> call) {
    call->RecvMessage([call](bool) {
      std::thread([call] {
        std::this_thread::sleep_for(50ms);
        call->CloseConnectionForTesting();
      }).detach();
    });
  });
  std::string err;
  ASSERT_EQ(server->AddListener("unix:" + path, ServerCredentials::Insecure(), &err), 0) << err;
  ASSERT_TRUE(server->Start(&err)) << err;
  auto ch = Channel::Create("unix:" + path, ChannelCredentials::Insecure(), Options(), &err);
  ASSERT_TRUE(ch) << err;
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  ASSERT_FALSE(sigismember(&before, SIGPIPE));

  auto call = ch->CreateCall("/t.S/Drop", CallOptions());
  ASSERT_TRUE(SendBlocking(*call, Slice::Copy("first")));
  {
    IoDriver driver(*call);
    ASSERT_TRUE(driver.active());
    std::this_thread::sleep_for(300ms);  // the server drops the connection meanwhile
    OpWaiter w;
    call->SendMessage(Slice::Copy(std::string(1024, 'x')), 0, w.Done());
    w.Wait(&driver);
  }
  Status st = FinishBlocking(*call);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.message();
  sigset_t after;
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  EXPECT_FALSE(sigismember(&after, SIGPIPE));
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  server->Shutdown(Clock::now());
  unlink(path.c_str());
}

}  // namespace
