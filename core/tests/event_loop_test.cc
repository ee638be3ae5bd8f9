// EventLoop's posting: PostLazy runs at the loop's next turn without waking it, and wakes it
// once too many wait.
#include <gtest/gtest.h>

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

}  // namespace
