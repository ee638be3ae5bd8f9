// polyrpc::ThreadPool: where blocking (sync) service handlers run. The core calls handlers on
// the I/O thread of their connection, so a handler that blocks on Read() or sleeps would stall
// every other call on that connection; proto.hpp's Register* functions hop to this pool first.
//
// The pool grows on demand up to max_threads: a streaming handler can block for the whole life
// of its call, and with a fixed small pool one waiting handler could starve another call whose
// progress it needs (a client waiting for the reply of a queued call). Threads are kept until
// Shutdown(). Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace polyrpc {

class ThreadPool {
 public:
  explicit ThreadPool(size_t max_threads = 256) : max_threads_(max_threads > 0 ? max_threads : 1) {}
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() { Shutdown(); }

  // Queues fn; it runs on a pool thread. Returns false (and drops fn) after Shutdown().
  bool Run(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return false;
    queue_.push_back(std::move(fn));
    if (idle_ < queue_.size() && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { Worker(); });
    } else {
      cv_.notify_one();
    }
    return true;
  }

  // Runs every queued task, then joins the threads. Idempotent; must not be called from a pool
  // thread.
  void Shutdown() {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      threads.swap(threads_);
      cv_.notify_all();
    }
    for (auto& t : threads) t.join();
  }

 private:
  void Worker() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [this] { return shutdown_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // shutdown_ and drained
      std::function<void()> fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      fn = nullptr;  // destroy captures outside the lock
      lock.lock();
    }
  }

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace polyrpc
