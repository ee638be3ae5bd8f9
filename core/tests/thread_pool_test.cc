// The hand-off path (issue #20): polyrpc::ThreadPool (sized to the machine, grows only while its
// threads block, batches without allocating) and the server's MethodOptions (the core hands a
// method's calls to an executor, once their request is in, and takes the handler's operations
// back to the loop through the call's own slots).
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "polyrpc++/polyrpc.hpp"

using namespace polyrpc;
using namespace std::chrono_literals;

namespace {

size_t AllowedCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return static_cast<size_t>(CPU_COUNT(&set));
}

// Waits (bounded) until pred holds.
template <typename P>
bool Eventually(P pred, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct CountTask final : ThreadPool::Task {
  std::atomic<int>* ran = nullptr;
  std::atomic<int>* rejected = nullptr;
  void Run() override { ran->fetch_add(1); }
  void Rejected() override { rejected->fetch_add(1); }
};

TEST(ThreadPool, SizedToTheMachineByDefault) {
  ThreadPool pool;
  EXPECT_EQ(pool.base_threads(), AllowedCpus());
  EXPECT_EQ(pool.max_threads(), ThreadPool::kDefaultMaxThreads);
  EXPECT_EQ(pool.thread_count(), 0u);  // threads start on demand
  ThreadPool small(1, 4);
  EXPECT_EQ(small.base_threads(), 1u);
  EXPECT_EQ(small.max_threads(), 4u);
}

TEST(ThreadPool, RunsABatchOfIntrusiveTasksWithoutGrowingPastItsBase) {
  ThreadPool pool(2, 64);
  std::atomic<int> ran{0}, rejected{0};
  std::vector<CountTask> tasks(1000);
  ThreadPool::TaskList list;
  for (auto& t : tasks) {
    t.ran = &ran;
    t.rejected = &rejected;
    list.push_back(&t);
  }
  EXPECT_EQ(list.size(), 1000u);
  EXPECT_TRUE(pool.Submit(&list));
  EXPECT_TRUE(list.empty());
  ASSERT_TRUE(Eventually([&] { return ran.load() == 1000; }));
  EXPECT_EQ(rejected.load(), 0);
  // Tasks that never block never need more than the base threads.
  EXPECT_LE(pool.thread_count(), 2u);
}

TEST(ThreadPool, AfterShutdownTasksAreRejectedOnTheSubmittingThread) {
  ThreadPool pool(1, 1);
  pool.Shutdown();
  std::atomic<int> ran{0}, rejected{0};
  CountTask a, b;
  a.ran = b.ran = &ran;
  a.rejected = b.rejected = &rejected;
  ThreadPool::TaskList list;
  list.push_back(&a);
  list.push_back(&b);
  EXPECT_FALSE(pool.Submit(&list));
  EXPECT_EQ(rejected.load(), 2);
  EXPECT_EQ(ran.load(), 0);
  bool called = false;
  EXPECT_FALSE(pool.Run([&] { called = true; }));
  EXPECT_FALSE(called);
}

TEST(ThreadPool, ShutdownRunsWhatWasQueued) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(1, 1);
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(pool.Run([&] {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
        ran.fetch_add(1);
      }));
    }
    pool.Shutdown();
    EXPECT_EQ(ran.load(), 200);
  }
}

// A task that waits for a later task must not deadlock a pool of one thread: the blocking helper
// (BlockingRegion) makes the pool start another thread at once and give the waiting thread's
// unstarted tasks back to the queue.
TEST(ThreadPool, GrowsWhenAThreadBlocksInABlockingRegion) {
  ThreadPool pool(1, 8);
  std::mutex mu;
  std::condition_variable cv;
  bool second_ran = false;
  std::atomic<bool> first_done{false};
  ThreadPool::TaskList none;
  ASSERT_TRUE(pool.Run([&] {
    ThreadPool::BlockingRegion blocking;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, 10s, [&] { return second_ran; });
    first_done = second_ran;
  }));
  ASSERT_TRUE(pool.Run([&] {
    std::lock_guard<std::mutex> lock(mu);
    second_ran = true;
    cv.notify_all();
  }));
  ASSERT_TRUE(Eventually([&] { return first_done.load(); }, 3000ms));
  EXPECT_GE(pool.thread_count(), 2u);
}

// The same wait without telling the pool (a handler that sleeps or waits on its own lock): the
// pool's monitor notices that nothing finishes while work waits and adds a thread.
TEST(ThreadPool, GrowsWhenItsThreadsMakeNoProgress) {
  ThreadPool pool(1, 8);
  std::mutex mu;
  std::condition_variable cv;
  bool second_ran = false;
  std::atomic<bool> first_done{false};
  // Submitted as one batch, so that the second task sits in the first one's chunk (the stash
  // the monitor must steal back).
  struct Fn final : ThreadPool::Task {
    std::function<void()> fn;
    void Run() override { fn(); }
    void Rejected() override {}
  } a, b;
  a.fn = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, 10s, [&] { return second_ran; });
    first_done = second_ran;
  };
  b.fn = [&] {
    std::lock_guard<std::mutex> lock(mu);
    second_ran = true;
    cv.notify_all();
  };
  ThreadPool::TaskList list;
  list.push_back(&a);
  list.push_back(&b);
  ASSERT_TRUE(pool.Submit(&list));
  ASSERT_TRUE(Eventually([&] { return first_done.load(); }, 3000ms));
  EXPECT_GE(pool.thread_count(), 2u);
  pool.Shutdown();
}

TEST(ThreadPool, NeverGrowsPastMaxThreads) {
  ThreadPool pool(1, 3);
  std::atomic<bool> release{false};
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(pool.Run([&] {
      ThreadPool::BlockingRegion blocking;
      while (!release.load()) std::this_thread::sleep_for(1ms);
      done.fetch_add(1);
    }));
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_LE(pool.thread_count(), 3u);
  release = true;
  ASSERT_TRUE(Eventually([&] { return done.load() == 6; }));
}

// -- the server side ---------------------------------------------------------------------------

class Executor : public ::testing::Test {
 protected:
  void Start() {
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
    channel_ =
        Channel::Create("127.0.0.1:" + std::to_string(port_), ChannelCredentials::Insecure());
  }
  void TearDown() override {
    channel_.reset();
    if (server_) server_->Shutdown(Clock::now() + 2s);
    pool_.Shutdown();
  }
  Status Unary(const std::string& method, const std::string& req, std::string* resp,
               Metadata* initial = nullptr, Metadata* trailing = nullptr) {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);
    Slice r;
    Status st = BlockingUnaryCall(*channel_, method, Slice::Copy(req), &r, o, initial, trailing);
    *resp = r.ToString();
    return st;
  }

  ThreadPool pool_{2, 16};
  std::unique_ptr<Server> server_ = Server::Create();
  std::shared_ptr<Channel> channel_;
  int port_ = 0;
};

// wait_for_request: the handler runs on a pool thread with its request already in, and its
// message, metadata and status (started from that thread, through the call's slots) arrive in
// order.
TEST_F(Executor, HandlerRunsOnThePoolWithItsRequestInAndAnswersFromThere) {
  std::atomic<bool> on_pool{false}, had_request{false};
  MethodOptions opts;
  opts.executor = &pool_;
  opts.wait_for_request = true;
  std::thread::id test_thread = std::this_thread::get_id();
  server_->RegisterMethod(
      "/t.S/Echo",
      [&](std::shared_ptr<ServerCall> call) {
        on_pool = std::this_thread::get_id() != test_thread;
        Slice m;
        had_request = call->TryRecvMessage() && call->TakeMessage(&m);
        call->SendInitialMetadata({{"x-initial", "1"}}, nullptr);
        call->SendMessage(Slice::Copy("echo:" + m.ToString()), 0, nullptr);
        call->SendStatus(Status::Ok(), {{"x-trailer", "2"}}, nullptr);
      },
      opts);
  Start();
  for (int i = 0; i < 50; ++i) {
    std::string resp;
    Metadata initial, trailing;
    Status st = Unary("/t.S/Echo", "hi" + std::to_string(i), &resp, &initial, &trailing);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(resp, "echo:hi" + std::to_string(i));
    const std::string* a = FindMetadata(initial, "x-initial");
    const std::string* b = FindMetadata(trailing, "x-trailer");
    ASSERT_TRUE(a != nullptr && b != nullptr);
    EXPECT_EQ(*a, "1");
    EXPECT_EQ(*b, "2");
  }
  EXPECT_TRUE(on_pool.load());
  EXPECT_TRUE(had_request.load());
}

// A message sent after the status from a pool thread must fail, as it does from any thread,
// even though the status still waits in the call's slot (it must not overtake the status).
TEST_F(Executor, AMessageAfterTheStatusFailsAndDoesNotReachTheClient) {
  std::atomic<int> late_send{-1};
  MethodOptions opts;
  opts.executor = &pool_;
  opts.wait_for_request = true;
  server_->RegisterMethod(
      "/t.S/Late",
      [&](std::shared_ptr<ServerCall> call) {
        call->SendMessage(Slice::Copy("first"), 0, nullptr);
        call->SendStatus(Status::Ok(), {}, nullptr);
        call->SendMessage(Slice::Copy("late"), 0, [&](bool ok) { late_send = ok ? 1 : 0; });
      },
      opts);
  Start();
  std::string resp;
  Status st = Unary("/t.S/Late", "x", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(resp, "first");
  ASSERT_TRUE(Eventually([&] { return late_send.load() != -1; }));
  EXPECT_EQ(late_send.load(), 0);
}

// A client that ends its stream without a message still reaches a wait_for_request handler,
// which finds no request.
TEST_F(Executor, ARequestlessCallStillReachesAWaitingHandler) {
  std::atomic<int> found{-1};
  MethodOptions opts;
  opts.executor = &pool_;
  opts.wait_for_request = true;
  server_->RegisterMethod(
      "/t.S/None",
      [&](std::shared_ptr<ServerCall> call) {
        found = call->TryRecvMessage() ? 1 : 0;
        call->SendStatus(Status(StatusCode::INVALID_ARGUMENT, "no request"), {}, nullptr);
      },
      opts);
  Start();
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  auto call = channel_->CreateCall("/t.S/None", o);
  OpWaiter close, status;
  call->CloseSend(close.Done());
  call->RecvStatus(status.Done());
  status.Wait();
  EXPECT_EQ(call->status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(found.load(), 0);
}

// Calls queued for a pool that has shut down are refused with UNAVAILABLE, not dropped.
TEST_F(Executor, APoolThatIsShutDownRefusesItsCalls) {
  MethodOptions opts;
  opts.executor = &pool_;
  server_->RegisterMethod(
      "/t.S/Any", [](std::shared_ptr<ServerCall> call) { call->SendStatus(Status::Ok(), {}, nullptr); },
      opts);
  Start();
  pool_.Shutdown();
  std::string resp;
  Status st = Unary("/t.S/Any", "x", &resp);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE) << st.message();
}

// Many calls in flight on a small pool whose handlers block in polyrpc waits (streams that read
// every message): the pool grows as they block and every call completes.
TEST_F(Executor, BlockingStreamHandlersDoNotStarveEachOther) {
  MethodOptions opts;
  opts.executor = &pool_;
  std::atomic<int> reading{0};  // handlers that have their first message and wait for more
  server_->RegisterMethod(
      "/t.S/Sum",
      [&reading](std::shared_ptr<ServerCall> call) {
        size_t n = 0;
        Slice m;
        while (RecvBlocking(*call, &m)) {
          if (n == 0) reading.fetch_add(1);
          n += m.size();
        }
        call->SendMessage(Slice::Copy(std::to_string(n)), 0, nullptr);
        call->SendStatus(Status::Ok(), {}, nullptr);
      },
      opts);
  Start();
  constexpr int kCalls = 24;
  std::vector<std::shared_ptr<ClientCall>> calls;
  CallOptions o;
  o.deadline = DeadlineAfter(10s);
  // Every call is open (its handler blocked in a read) before any of them ends.
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(channel_->CreateCall("/t.S/Sum", o));
    ASSERT_TRUE(SendBlocking(*calls.back(), Slice::Copy("abc"), 0));
  }
  // As many handlers as the pool may have threads (16) are blocked in a read before any call
  // ends: only a pool that grew past its 2 base threads gets there (bounded wait, 10 s).
  for (int i = 0; i < 1000 && reading.load() < 16; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(reading.load(), 16) << "the pool did not grow while its handlers blocked";
  EXPECT_EQ(pool_.thread_count(), 16u);
  for (auto& c : calls) {
    ASSERT_TRUE(SendBlocking(*c, Slice::Copy("de"), kWriteLast));
    Slice m;
    ASSERT_TRUE(RecvBlocking(*c, &m));
    EXPECT_EQ(m.ToString(), "5");
    EXPECT_TRUE(FinishBlocking(*c).ok());
  }
  EXPECT_EQ(reading.load(), kCalls);
}

}  // namespace
