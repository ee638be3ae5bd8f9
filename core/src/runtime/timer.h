// Timer: a one-shot libuv timer owned by an object on one loop. The uv handle lives on the heap
// and is freed in its close callback, so the owner may be destroyed at any time (loop thread).
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

#include "runtime/event_loop.h"

namespace polyrpc {

class Timer {
 public:
  explicit Timer(EventLoop* loop) : loop_(loop) {}
  ~Timer() { Close(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer. Loop thread only.
  void Start(uint64_t ms, std::function<void()> fn) {
    if (h_ == nullptr) {
      h_ = new Handle;
      uv_timer_init(loop_->uv(), &h_->timer);
      h_->timer.data = h_;
    }
    h_->fn = std::move(fn);
    // libuv counts from the loop's cached time, which is as old as the loop's last turn: a
    // caller that drives the loop (or posts to it) after a long idle spell would otherwise
    // arm a timer that is due already (a 5 s deadline expiring at once after 25 s idle).
    uv_update_time(loop_->uv());
    uv_timer_start(&h_->timer, &Timer::OnFire, ms, 0);
  }
  void StartAt(std::chrono::steady_clock::time_point when, std::function<void()> fn) {
    auto now = std::chrono::steady_clock::now();
    uint64_t ms = 0;
    if (when > now) {
      ms = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(when - now).count() + 1);
    }
    Start(ms, std::move(fn));
  }
  void Stop() {
    if (h_ != nullptr) {
      uv_timer_stop(&h_->timer);
      h_->fn = nullptr;
    }
  }
  void Close() {
    if (h_ == nullptr) return;
    uv_timer_stop(&h_->timer);
    h_->fn = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&h_->timer),
             [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
    h_ = nullptr;
  }

 private:
  struct Handle {
    uv_timer_t timer;
    std::function<void()> fn;
  };
  static void OnFire(uv_timer_t* t) {
    auto* h = static_cast<Handle*>(t->data);
    auto fn = std::move(h->fn);
    h->fn = nullptr;
    if (fn) fn();  // may destroy the owning Timer: h is then closing, not freed yet
  }
  EventLoop* loop_;
  Handle* h_ = nullptr;
};

}  // namespace polyrpc
