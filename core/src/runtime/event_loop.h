// EventLoop: one libuv loop on one thread. Every connection lives on exactly one loop, and all of
// its state is touched only from that loop's thread; other threads hand work over with Post().
// Runtime: the set of loops (default: one per core) that channels and servers share.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace polyrpc {

class EventLoop {
 public:
  using Task = std::function<void()>;

  explicit EventLoop(int index);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs fn on the loop thread. Thread-safe. Tasks posted from one thread run in order.
  void Post(Task fn);
  // Runs fn now if called on the loop thread (without wrapping it in a std::function: no
  // allocation on the hot path), otherwise posts it.
  template <typename F>
  void RunOrPost(F&& fn) {
    if (InLoopThread()) {
      fn();
    } else {
      Post(Task(std::forward<F>(fn)));
    }
  }
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_; }
  // Runs fn later in this loop turn, after the current callback returns and before the loop
  // writes and blocks again. Loop thread only. Used to run completions outside nghttp2
  // callbacks and outside any call state update.
  void Defer(Task fn) { deferred_.push_back(std::move(fn)); }
  // Defer for an operation completion: fn(ok), keeping keep alive until it has run. Stored
  // without another type-erased wrapper (one allocation less per operation).
  void DeferCompletion(std::function<void(bool)> fn, bool ok, std::shared_ptr<void> keep) {
    deferred_completions_.push_back({std::move(fn), ok, std::move(keep)});
  }
  uv_loop_t* uv() { return &loop_; }
  int index() const { return index_; }

  // Something that wants to write once per loop turn (a connection with frames to send)
  // registers here; the loop calls Flush() on it before blocking for I/O again. This is what
  // coalesces every frame produced in one turn into one writev. Loop thread only.
  class Flushable {
   public:
    virtual void FlushNow() = 0;
    bool flush_scheduled_ = false;

   protected:
    ~Flushable() = default;
  };
  void ScheduleFlush(Flushable* f);
  // Removes f from the flush list (call from f's destructor). Loop thread only.
  void CancelFlush(Flushable* f);

 private:
  static void OnAsync(uv_async_t* h);
  static void OnPrepare(uv_prepare_t* h);
  static void OnCheck(uv_check_t* h);
  void RunPosted();
  void FlushAll();

  int index_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_prepare_t prepare_;
  uv_check_t check_;
  std::mutex mu_;
  std::vector<Task> posted_;
  // Loop-thread buffers swapped with the queues above and below, so that the queues keep their
  // capacity from turn to turn (regrowing them each turn meant 1-4 KiB allocations, which make
  // glibc consolidate its fast bins: a few percent of a busy server's CPU).
  std::vector<Task> running_posted_;
  std::vector<Flushable*> flush_list_;
  std::vector<Flushable*> running_flush_list_;
  std::vector<Task> deferred_;
  std::vector<Task> running_deferred_;
  struct DeferredCompletion {
    std::function<void(bool)> fn;
    bool ok;
    std::shared_ptr<void> keep;
  };
  std::vector<DeferredCompletion> deferred_completions_;
  std::vector<DeferredCompletion> running_completions_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::thread::id thread_id_;
};

// Deleter for objects that own loop resources (uv handles, nghttp2 sessions): they are always
// destroyed on their loop thread, whichever thread drops the last reference.
struct LoopDeleter {
  EventLoop* loop;
  template <typename T>
  void operator()(T* p) const {
    if (loop->InLoopThread()) {
      delete p;
    } else {
      loop->Post([p] { delete p; });
    }
  }
};

// The loops of this process. Created lazily; after fork() the child gets a fresh Runtime (the
// parent's threads do not exist in the child), see Runtime::Get().
class Runtime {
 public:
  explicit Runtime(int threads);
  ~Runtime();
  // The process-wide runtime; thread count from POLYRPC_IO_THREADS or the number of cores.
  static std::shared_ptr<Runtime> Get();
  // Picks a loop for a new connection (round robin).
  EventLoop* NextLoop();
  size_t size() const { return loops_.size(); }
  EventLoop* loop(size_t i) { return loops_[i].get(); }

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<size_t> next_{0};
};

}  // namespace polyrpc
