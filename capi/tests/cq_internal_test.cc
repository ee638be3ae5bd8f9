// White-box test of the completion-queue engine with fake completions (no core involved):
// ordering, eventfd readiness, multi-threaded producers and consumers, shutdown draining,
// destroy dropping late completions, callbacks outside the lock, user_data_free timing.
#include <poll.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../src/internal.h"

using polyrpc::capi::CompletionQueue;

namespace {

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(CompletionQueue, QueuesInOrderAndDrivesTheFd) {
  CompletionQueue q;
  EXPECT_FALSE(Readable(q.fd()));
  q.BeginOp();
  q.BeginOp();
  q.Complete(reinterpret_cast<void*>(1), true);
  EXPECT_TRUE(Readable(q.fd()));
  q.Complete(reinterpret_cast<void*>(2), false);
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
  q.BeginOp();
  q.Shutdown();
  EXPECT_THROW(q.BeginOp(), polyrpc::capi::ApiError);
  void* tag;
  int ok;
  EXPECT_EQ(q.Next(10, &tag, &ok), POLYRPC_EVENT_NONE);  // one op still pending
  EXPECT_FALSE(Readable(q.fd()));
  std::thread t([&] { q.Complete(reinterpret_cast<void*>(9), true); });
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_COMPLETE);
  EXPECT_EQ(tag, reinterpret_cast<void*>(9));
  t.join();
  EXPECT_TRUE(Readable(q.fd()));  // readable again for the SHUTDOWN event
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
  EXPECT_EQ(q.Next(0, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
}

TEST(CompletionQueue, AbandonedOperationsDoNotBlockShutdown) {
  CompletionQueue q;
  q.BeginOp();
  q.Shutdown();
  q.AbandonOp();
  void* tag;
  int ok;
  EXPECT_EQ(q.Next(-1, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
}

TEST(CompletionQueue, ManyProducersManyConsumers) {
  CompletionQueue q;
  constexpr int kPerProducer = 5000, kProducers = 4, kConsumers = 3;
  std::atomic<long> sum{0};
  std::atomic<int> count{0};
  for (int i = 0; i < kPerProducer * kProducers; i++) q.BeginOp();
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; p++) {
    threads.emplace_back([&, p] {
      for (int i = 1; i <= kPerProducer; i++) {
        q.Complete(reinterpret_cast<void*>(static_cast<intptr_t>(i)), (i + p) % 2 == 0);
      }
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
  q->BeginOp();
  q->Destroy();
  q->Complete(reinterpret_cast<void*>(1), true);  // must not crash or queue
  void* tag;
  int ok;
  EXPECT_EQ(q->Next(0, &tag, &ok), POLYRPC_EVENT_SHUTDOWN);
}

struct CallbackLog {
  std::atomic<int> calls{0};
  std::atomic<int> freed{0};
  CompletionQueue* q = nullptr;
};

TEST(CompletionQueue, CallbacksRunWithoutTheLockAndUserDataFreedLast) {
  CallbackLog log;
  auto fn = [](void* tag, int success, void* ud) {
    auto* l = static_cast<CallbackLog*>(ud);
    // Re-entering the queue from the callback would deadlock if a lock were held.
    l->q->BeginOp();
    l->q->AbandonOp();
    l->calls++;
  };
  auto q = std::make_shared<CompletionQueue>(fn, &log,
                                             [](void* ud) { static_cast<CallbackLog*>(ud)->freed++; });
  log.q = q.get();
  q->BeginOp();
  q->BeginOp();
  q->Complete(nullptr, true);
  EXPECT_EQ(log.calls.load(), 1);
  q->Destroy();
  auto keep = q;  // what a pending operation holds
  q.reset();
  EXPECT_EQ(log.freed.load(), 0);  // an operation is still pending
  keep->Complete(nullptr, true);   // dropped: the cq was destroyed
  EXPECT_EQ(log.calls.load(), 1);
  keep.reset();
  EXPECT_EQ(log.freed.load(), 1);
}

}  // namespace
