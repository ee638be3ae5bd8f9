// SmallAlloc: the per-thread free lists behind nghttp2's allocations, control blocks and small
// slices. Blocks must be usable and aligned at every size, reused on their thread, bounded, and
// safe to free on another thread.
#include "runtime/small_alloc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "polyrpc++/slice.hpp"

using namespace polyrpc;

namespace {

constexpr bool kPooled = POLYRPC_SMALL_ALLOC_POOLS;  // not under sanitizers

TEST(SmallAlloc, EverySizeIsAlignedWritableAndKeepsItsBytes) {
  std::vector<std::pair<uint8_t*, size_t>> blocks;
  for (size_t n = 0; n <= kSmallAllocMaxSmall + 200; n += (n < 300 ? 1 : 7)) {
    auto* p = static_cast<uint8_t*>(SmallAlloc(n));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << "size " << n;
    std::memset(p, static_cast<int>(n & 0xff), n);
    blocks.emplace_back(p, n);
  }
  // Nothing overlaps: every block still holds its own pattern.
  for (auto [p, n] : blocks) {
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(p[i], static_cast<uint8_t>(n & 0xff)) << "size " << n << " byte " << i;
    }
  }
  for (auto [p, n] : blocks) SmallFree(p);
  SmallFree(nullptr);
}

TEST(SmallAlloc, AFreedBlockIsReusedByTheNextAllocationOfItsSize) {
  std::thread([] {  // a fresh thread: its lists start empty, whatever other tests left
    void* a = SmallAlloc(100);
    SmallFree(a);
    EXPECT_EQ(SmallAllocCachedBlocks(), kPooled ? 1u : 0u);
    void* b = SmallAlloc(97);  // same class
    if (kPooled) {
      EXPECT_EQ(a, b);
    }
    EXPECT_EQ(SmallAllocCachedBlocks(), 0u);
    SmallFree(b);
    // Large blocks never enter the lists.
    size_t before = SmallAllocCachedBlocks();
    SmallFree(SmallAlloc(kSmallAllocMaxSmall + 1));
    EXPECT_EQ(SmallAllocCachedBlocks(), before);
  }).join();
}

TEST(SmallAlloc, TheListsOfAThreadAreBounded) {
  // Run on a fresh thread so that the counts start at zero.
  std::thread([] {
    std::vector<void*> blocks;
    for (int i = 0; i < 5000; ++i) blocks.push_back(SmallAlloc(64));
    for (void* p : blocks) SmallFree(p);
    size_t one_class = SmallAllocCachedBlocks();
    EXPECT_EQ(one_class, kPooled ? 1024u : 0u);
    // All classes together stop at 2 MiB (three classes of 1024 blocks would hold more).
    for (size_t n : {size_t{1000}, size_t{900}, size_t{800}}) {
      blocks.clear();
      for (int i = 0; i < 1500; ++i) blocks.push_back(SmallAlloc(n));
      for (void* p : blocks) SmallFree(p);
    }
    size_t bytes = SmallAllocCachedBytes();
    if (kPooled) {
      EXPECT_LE(bytes, 2u << 20);
      EXPECT_GT(bytes, (2u << 20) - 1100);
      EXPECT_LT(SmallAllocCachedBlocks(), one_class + 3 * 1024);
    } else {
      EXPECT_EQ(bytes, 0u);
    }
  }).join();
}

TEST(SmallAlloc, BlocksMayBeFreedOnAnotherThreadAndGoBackToMallocWhenItExits) {
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    auto* p = static_cast<char*>(SmallAlloc(200));
    std::memset(p, i, 200);
    blocks.push_back(p);
  }
  size_t mine = SmallAllocCachedBlocks();
  size_t drained = SmallAllocDrainedBlocks();
  std::thread([&] {
    EXPECT_EQ(SmallAllocCachedBlocks(), 0u);
    for (void* p : blocks) SmallFree(p);
    EXPECT_EQ(SmallAllocCachedBlocks(), kPooled ? 100u : 0u);
  }).join();
  EXPECT_EQ(SmallAllocCachedBlocks(), mine);
  EXPECT_EQ(SmallAllocDrainedBlocks() - drained, kPooled ? 100u : 0u);
}

// The process-wide figure counts another live thread's lists, and forgets them when it exits.
TEST(SmallAlloc, AllThreadsCachedBytesCountsLiveThreadsOnly) {
  std::mutex mu;
  std::condition_variable cv;
  bool cached = false, leave = false;
  size_t theirs = 0;
  std::thread t([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(SmallAlloc(500));
    for (void* p : blocks) SmallFree(p);
    std::unique_lock<std::mutex> lock(mu);
    theirs = SmallAllocCachedBytes();
    cached = true;
    cv.notify_all();
    cv.wait(lock, [&] { return leave; });
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return cached; });
  size_t with = SmallAllocAllThreadsCachedBytes();
  EXPECT_EQ(theirs, kPooled ? 100u * 576 : 0u);  // 500 bytes + the header: the 576-byte class
  EXPECT_GE(with, theirs);
  leave = true;
  cv.notify_all();
  lock.unlock();
  t.join();
  size_t without = SmallAllocAllThreadsCachedBytes();
  if (kPooled) {
    // Other tests' threads may cache or use blocks meanwhile, but not 57,600 bytes' worth.
    EXPECT_LT(without + theirs / 2, with);
  } else {
    EXPECT_EQ(with, 0u);
  }
}

// A thread-local destroyed after the lists were drained still frees safely (to malloc).
struct LateHolder {
  void* block = nullptr;
  ~LateHolder();
};
size_t late_cached = 12345;
LateHolder::~LateHolder() {
  SmallFree(block);
  late_cached = SmallAllocCachedBlocks();
}

TEST(SmallAlloc, AFreeAfterTheThreadsListsAreGoneGoesToMalloc) {
  late_cached = 12345;
  std::thread([] {
    // Constructed before the lists register their drain, so destroyed after it.
    thread_local LateHolder holder;
    holder.block = SmallAlloc(64);
    SmallFree(SmallAlloc(64));  // the first cached block registers the drain
    EXPECT_EQ(SmallAllocCachedBlocks(), kPooled ? 1u : 0u);
  }).join();
  EXPECT_EQ(late_cached, 0u);
}

TEST(SmallAlloc, ReallocKeepsTheBytes) {
  auto* p = static_cast<uint8_t*>(SmallRealloc(nullptr, 10));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; ++i) p[i] = static_cast<uint8_t>(i + 1);
  // Growing within the block's class keeps the block.
  auto* q = static_cast<uint8_t*>(SmallRealloc(p, 12));
  if (kPooled) {
    EXPECT_EQ(q, p);
  }
  p = q;
  // Growing past it (and past the small sizes) moves the bytes.
  for (size_t n : {size_t{500}, size_t{5000}, size_t{100000}}) {
    p = static_cast<uint8_t*>(SmallRealloc(p, n));
    ASSERT_NE(p, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(p[i], i + 1) << "after growing to " << n;
  }
  p = static_cast<uint8_t*>(SmallRealloc(p, 3));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p[i], i + 1);
  // Size 0 gives a block that can be freed or grown again.
  p = static_cast<uint8_t*>(SmallRealloc(p, 0));
  ASSERT_NE(p, nullptr);
  p = static_cast<uint8_t*>(SmallRealloc(p, 40));
  ASSERT_NE(p, nullptr);
  std::memset(p, 7, 40);
  SmallFree(p);
}

TEST(SmallAlloc, SmallSlicesComeFromTheListsAndLargeOnesDoNot) {
  std::thread([] {  // a fresh thread: its lists start empty
    {
      uint8_t* out;
      Slice s = Slice::Allocate(111, &out);
      std::memset(out, 'x', 111);
      Slice part = s.Sub(100, 11);
      s = Slice();
      EXPECT_EQ(part.view(), std::string(11, 'x'));
    }
    EXPECT_EQ(SmallAllocCachedBlocks(), kPooled ? 1u : 0u);
    {
      uint8_t* out;
      Slice s = Slice::Allocate(64 * 1024, &out);
      std::memset(out, 'y', s.size());
      EXPECT_EQ(s.view().back(), 'y');
    }
    EXPECT_EQ(SmallAllocCachedBlocks(), kPooled ? 1u : 0u);
  }).join();
}

}  // namespace

namespace {

TEST(SmallAllocDeathTest, ASecondFreeOfTheSameBlockAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Pooled, the block's mark in the list gives it away; under sanitizers malloc's own checks do.
  EXPECT_DEATH(
      {
        void* p = SmallAlloc(48);
        SmallFree(p);
        SmallFree(p);
      },
      "");
}

}  // namespace
