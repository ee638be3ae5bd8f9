// ObjectPool: the per-thread free lists of call objects. Freed objects are reused on their
// thread, each list is bounded, and ObjectPoolCachedBytes counts every live thread's lists
// (soak/ subtracts it from resident memory) and forgets a thread's once it exits.
#include "runtime/object_pool.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace polyrpc;

namespace {

constexpr size_t kSize = 1000;  // no polyrpc class has this size: these lists are the test's own
using Pool = ObjectPool<kSize>;

TEST(ObjectPool, AFreedObjectIsReusedOnItsThread) {
  std::thread([] {
    void* a = Pool::Allocate();
    Pool::Free(a);
    EXPECT_EQ(Pool::Allocate(), a);
    Pool::Free(a);
  }).join();
}

TEST(ObjectPool, AThreadsListIsBoundedCountedAndForgottenWhenItExits) {
  std::vector<void*> made;
  for (int i = 0; i < 1500; ++i) made.push_back(Pool::Allocate());  // by this thread
  size_t before = ObjectPoolCachedBytes();
  std::mutex mu;
  std::condition_variable cv;
  bool freed = false, leave = false;
  std::thread t([&] {  // frees what another thread made, as a loop thread does
    for (void* p : made) Pool::Free(p);
    std::unique_lock<std::mutex> lock(mu);
    freed = true;
    cv.notify_all();
    cv.wait(lock, [&] { return leave; });
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return freed; });
  // 1024 kept (the bound), the other 476 given back to the allocator.
  EXPECT_EQ(ObjectPoolCachedBytes() - before, 1024 * kSize);
  leave = true;
  cv.notify_all();
  lock.unlock();
  t.join();
  EXPECT_EQ(ObjectPoolCachedBytes(), before);
}

}  // namespace
