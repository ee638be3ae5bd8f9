// White-box test of the completion-queue engine with fake completions (no core involved):
// ordering, eventfd readiness, multi-threaded producers and consumers, shutdown draining,
// destroy dropping late completions, callbacks outside the lock, user_data_free timing, wake-ups
// (from a thread and from a signal handler), interrupted waits, and cancelled operations whose
// tags come back exactly once.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../src/internal.h"

using polyrpc::capi::CompletionQueue;

namespace {

void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(CompletionQueue, QueuesInOrderAndDrivesTheFd) {
  CompletionQueue q;
  EXPECT_FALSE(Readable(q.fd()));
  uint64_t a = q.BeginOp(Tag(1));
  uint64_t b = q.BeginOp(Tag(2));
  q.Complete(a, true);
  EXPECT_TRUE(Readable(q.fd()));
  q.Complete(b, false);
  void* tag;
  int ok;
  ASSERT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_COMPLETE);
  EXPECT_EQ(tag, reinterpret_cast<void*>(1));
  EXPECT_EQ(ok, 1);
  EXPECT_TRUE(Readable(q.fd()));  // one more queued
  ASSERT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_COMPLETE);
  EXPECT_EQ(tag, reinterpret_cast<void*>(2));
  EXPECT_EQ(ok, 0);
  EXPECT_FALSE(Readable(q.fd()));  // drained
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_NONE);
}

TEST(CompletionQueue, ShutdownWaitsForPendingOperations) {
  CompletionQueue q;
  uint64_t op = q.BeginOp(Tag(9));
  q.Shutdown();
  EXPECT_THROW(q.BeginOp(Tag(10)), polyrpc::capi::ApiError);
  void* tag;
  int ok;
  EXPECT_EQ(q.Next(10, &tag, &ok), POLYRPC_EVENT_NONE);  // one op still pending
  EXPECT_FALSE(Readable(q.fd()));
  std::thread t([&] { q.Complete(op, true); });
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_COMPLETE);
  EXPECT_EQ(tag, reinterpret_cast<void*>(9));
  t.join();
  EXPECT_TRUE(Readable(q.fd()));  // readable again for the SHUTDOWN event
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
}

TEST(CompletionQueue, AbandonedOperationsDoNotBlockShutdown) {
  CompletionQueue q;
  uint64_t op = q.BeginOp(Tag(1));
  q.Shutdown();
  q.AbandonOp(op);
  void* tag;
  int ok;
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
}

TEST(CompletionQueue, ManyProducersManyConsumers) {
  CompletionQueue q;
  constexpr int kPerProducer = 5000, kProducers = 4, kConsumers = 3;
  std::atomic<long> sum{0};
  std::atomic<int> count{0};
  std::vector<std::vector<uint64_t>> ops(kProducers);
  for (int p = 0; p < kProducers; p++) {
    for (int i = 1; i <= kPerProducer; i++) ops[p].push_back(q.BeginOp(Tag(i)));
  }
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; p++) {
    threads.emplace_back([&, p] {
      for (int i = 1; i <= kPerProducer; i++) q.Complete(ops[p][i - 1], (i + p) % 2 == 0);
    });
  }
  q.Shutdown();
  for (int c = 0; c < kConsumers; c++) {
    threads.emplace_back([&] {
      for (;;) {
        void* tag;
        int ok;
        auto type = q.Next(-1, &tag, &ok);
        if (type == POLYRPC_EVENT_SHUTDOWN) return;
        ASSERT_EQ(type, POLYRPC_EVENT_COMPLETE);
        sum += reinterpret_cast<intptr_t>(tag);
        count++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(count.load(), kPerProducer * kProducers);
  EXPECT_EQ(sum.load(), static_cast<long>(kProducers) * kPerProducer * (kPerProducer + 1) / 2);
}

TEST(CompletionQueue, DestroyDropsLateCompletions) {
  auto q = std::make_shared<CompletionQueue>();
  uint64_t op = q->BeginOp(Tag(1));
  q->Destroy();
  q->Complete(op, true);  // must not crash or queue
  void* tag;
  int ok;
  EXPECT_EQ(q->Next(0, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
}

struct CallbackLog {
  std::atomic<int> calls{0};
  std::atomic<int> failed{0};
  std::atomic<int> freed{0};
  CompletionQueue* q = nullptr;
};

TEST(CompletionQueue, CallbacksRunWithoutTheLockAndUserDataFreedLast) {
  CallbackLog log;
  auto fn = [](void* tag, int success, void* ud) {
    auto* l = static_cast<CallbackLog*>(ud);
    // Re-entering the queue from the callback would deadlock if a lock were held.
    if (tag != nullptr) l->q->AbandonOp(l->q->BeginOp(nullptr));
    l->calls++;
    if (!success) l->failed++;
  };
  auto q = std::make_shared<CompletionQueue>(fn, &log,
                                             [](void* ud) { static_cast<CallbackLog*>(ud)->freed++; });
  log.q = q.get();
  uint64_t first = q->BeginOp(Tag(1));
  uint64_t second = q->BeginOp(Tag(2));
  q->Complete(first, true);
  EXPECT_EQ(log.calls.load(), 1);
  // Destroying a callback queue hands back the pending operation's tag (success=0) at once.
  q->Destroy();
  EXPECT_EQ(log.calls.load(), 2);
  EXPECT_EQ(log.failed.load(), 1);
  auto keep = q;  // what a pending operation holds
  q.reset();
  EXPECT_EQ(log.freed.load(), 0);
  keep->Complete(second, true);  // its own completion, later: dropped
  EXPECT_EQ(log.calls.load(), 2);
  keep.reset();
  EXPECT_EQ(log.freed.load(), 1);
}

TEST(CompletionQueue, CancelPendingReturnsEveryTagOnceThenShutdown) {
  CompletionQueue q;
  std::vector<uint64_t> ops;
  for (int i = 1; i <= 5; i++) ops.push_back(q.BeginOp(Tag(i)));
  q.Complete(ops[1], true);  // one completes normally first
  q.Shutdown();
  q.CancelPending();
  // The late completions of the cancelled ones, and a stale id, change nothing.
  for (uint64_t op : ops) q.Complete(op, true);
  q.AbandonOp(ops[0]);
  std::vector<int> seen(6, 0);
  int successes = 0;
  void* tag;
  int ok;
  polyrpc_event_type_t t;
  while ((t = q.Next(1000, &tag, &ok)) == POLYRPC_EVENT_COMPLETE) {
    seen[reinterpret_cast<intptr_t>(tag)]++;
    successes += ok;
  }
  EXPECT_EQ(t, POLYRPC_EVENT_SHUTDOWN);
  for (int i = 1; i <= 5; i++) EXPECT_EQ(seen[i], 1) << "tag " << i;
  EXPECT_EQ(successes, 1);
}

TEST(CompletionQueue, WakeEndsAWaitFromAnotherThread) {
  CompletionQueue q;
  uint64_t op = q.BeginOp(Tag(1));  // pending, never completed: the wait would be forever
  void* tag = Tag(99);
  int ok = 1;
  auto start = std::chrono::steady_clock::now();
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    q.Wake();
  });
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_WAKEUP);
  EXPECT_EQ(tag, nullptr);
  waker.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // One WAKEUP per Wake: none left, and completions still come.
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_NONE);
  EXPECT_FALSE(Readable(q.fd()));
  q.Wake();
  q.Wake();
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_WAKEUP);
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_WAKEUP);
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_NONE);
  q.Complete(op, true);
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_COMPLETE);
}

TEST(CompletionQueue, WakeOneOfManyWaiters) {
  CompletionQueue q;
  q.BeginOp(Tag(1));
  std::atomic<int> woke{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; i++) {
    waiters.emplace_back([&] {
      void* tag;
      int ok;
      if (q.Next(2000, &tag, &ok) == POLYRPC_EVENT_WAKEUP) woke++;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < 3; i++) q.Wake();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woke.load(), 3);
}

CompletionQueue* g_signal_queue = nullptr;
void WakeFromSignal(int) { g_signal_queue->Wake(); }
void NothingOnSignal(int) {}

TEST(CompletionQueue, WakeFromASignalHandler) {
  CompletionQueue q;
  q.BeginOp(Tag(1));
  g_signal_queue = &q;
  struct sigaction sa = {}, old = {};
  sa.sa_handler = WakeFromSignal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, &old);
  pthread_t self = pthread_self();
  std::thread sender([self] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pthread_kill(self, SIGUSR1);
  });
  void* tag;
  int ok;
  EXPECT_EQ(q.Next(5000, &tag, &ok), POLYRPC_EVENT_WAKEUP);
  sender.join();
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(CompletionQueue, InterruptibleWaitsReturnOnASignal) {
  CompletionQueue q;
  q.BeginOp(Tag(1));
  struct sigaction sa = {}, old = {};
  sa.sa_handler = NothingOnSignal;
  sa.sa_flags = SA_RESTART;  // poll(2) is interrupted even so
  sigaction(SIGUSR1, &sa, &old);
  pthread_t self = pthread_self();
  auto signal_soon = [self] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pthread_kill(self, SIGUSR1);
  };
  void* tag;
  int ok;
  // Not interruptible (the default): the signal is absorbed and the wait goes on to its timeout.
  std::thread s1(signal_soon);
  EXPECT_EQ(q.Next(300, &tag, &ok), POLYRPC_EVENT_NONE);
  s1.join();
  q.SetInterruptible(true);
  auto start = std::chrono::steady_clock::now();
  std::thread s2(signal_soon);
  EXPECT_EQ(q.Next(5000, &tag, &ok), POLYRPC_EVENT_INTERRUPTED);
  s2.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
