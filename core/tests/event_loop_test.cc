// EventLoop's posting (PostLazy runs at the loop's next turn without waking it, and wakes it
// once too many wait) and its adaptive busy polling.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <thread>

#include "runtime/event_loop.h"

using namespace polyrpc;
using namespace std::chrono_literals;

namespace {

TEST(EventLoop, ALazyTaskWaitsForTheNextTurnAndRunsBeforeLaterPosts) {
  EventLoop loop(0);
  std::this_thread::sleep_for(20ms);  // the I/O thread is asleep with nothing due
  std::atomic<int> order{0};
  std::atomic<int> lazy_at{-1}, post_at{-1};
  loop.PostLazy([&] { lazy_at = order++; });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(lazy_at.load(), -1) << "a lazy task woke the loop";
  loop.Post([&] { post_at = order++; });
  auto until = std::chrono::steady_clock::now() + 2s;
  while (post_at.load() < 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(lazy_at.load(), 0);
  EXPECT_EQ(post_at.load(), 1);
}

TEST(EventLoop, TooManyLazyTasksWakeTheLoop) {
  EventLoop loop(0);
  std::this_thread::sleep_for(20ms);
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) loop.PostLazy([&] { ++ran; });
  auto until = std::chrono::steady_clock::now() + 2s;
  while (ran.load() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GT(ran.load(), 0) << "lazy tasks piled up without waking the loop";
  loop.Post([] {});  // the rest run at the next turn
  until = std::chrono::steady_clock::now() + 2s;
  while (ran.load() < 1000 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(ran.load(), 1000);
}

// Adaptive busy polling (TryBeginDrive(kAutoSpin), the channels' default). These drive a loop of
// their own on the test's thread.
int CpusOfThisThread() {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

// Drives the loop until a task that another thread posts after `after` has run: a drive that
// outlasts a busy-poll budget shorter than `after`.
void DriveUntilPosted(EventLoop& loop, std::chrono::microseconds after) {
  bool ran = false;  // set on this thread: the task runs in DriveOnce
  std::thread poster([&] {
    std::this_thread::sleep_for(after);
    loop.Post([&] { ran = true; });
  });
  while (!ran) loop.DriveOnce();
  poster.join();
}

TEST(EventLoop, AutoBusyPollingStopsAfterDrivesOutlastItAndProbesAgain) {
  if (CpusOfThisThread() < 2) GTEST_SKIP() << "needs a thread that may run on two CPUs";
  EventLoop loop(0);
  // Drives that end within their budget keep spinning.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(loop.TryBeginDrive(EventLoop::kAutoSpin));
    EXPECT_EQ(loop.drive_spin_us(), EventLoop::kAutoSpinUs);
    loop.EndDrive();
  }
  // kAutoSpinMaxMisses drives in a row that outlast the budget (and sleep) stop it...
  for (int i = 0; i < EventLoop::kAutoSpinMaxMisses; ++i) {
    ASSERT_TRUE(loop.TryBeginDrive(EventLoop::kAutoSpin));
    EXPECT_EQ(loop.drive_spin_us(), EventLoop::kAutoSpinUs) << "drive " << i;
    DriveUntilPosted(loop, 20ms);
    loop.EndDrive();
  }
  // ...except for every kAutoSpinProbe-th drive, which tries again.
  for (int i = 1; i < EventLoop::kAutoSpinProbe; ++i) {
    ASSERT_TRUE(loop.TryBeginDrive(EventLoop::kAutoSpin));
    EXPECT_EQ(loop.drive_spin_us(), 0) << "drive " << i << " after the misses";
    DriveUntilPosted(loop, 1ms);  // no budget: neither a hit nor a miss
    loop.EndDrive();
  }
  ASSERT_TRUE(loop.TryBeginDrive(EventLoop::kAutoSpin));
  EXPECT_EQ(loop.drive_spin_us(), EventLoop::kAutoSpinUs) << "the probe";
  loop.EndDrive();  // a hit: answers come quickly again
  ASSERT_TRUE(loop.TryBeginDrive(EventLoop::kAutoSpin));
  EXPECT_EQ(loop.drive_spin_us(), EventLoop::kAutoSpinUs) << "after a successful probe";
  loop.EndDrive();
  // A fixed budget is used as given, and off is off.
  ASSERT_TRUE(loop.TryBeginDrive(250));
  EXPECT_EQ(loop.drive_spin_us(), 250);
  loop.EndDrive();
  ASSERT_TRUE(loop.TryBeginDrive(0));
  EXPECT_EQ(loop.drive_spin_us(), 0);
  loop.EndDrive();
}

TEST(EventLoop, AutoBusyPollingNeverSpinsOnAThreadBoundToOneCpu) {
  EventLoop loop(0);
  int auto_spin = -1, fixed_spin = -1;
  std::thread t([&] {
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    int first = 0;
    while (!CPU_ISSET(first, &set)) ++first;
    CPU_ZERO(&set);
    CPU_SET(first, &set);
    ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof set, &set), 0);
    ASSERT_TRUE(loop.TryBeginDrive(EventLoop::kAutoSpin));
    auto_spin = loop.drive_spin_us();
    loop.EndDrive();
    ASSERT_TRUE(loop.TryBeginDrive(100));  // asked for explicitly: given
    fixed_spin = loop.drive_spin_us();
    loop.EndDrive();
  });
  t.join();
  EXPECT_EQ(auto_spin, 0) << "spinning on the only CPU keeps the peer from running";
  EXPECT_EQ(fixed_spin, 100);
}

}  // namespace
