// polyrpc::ThreadPool: where blocking (sync) service handlers run. The core calls handlers on
// the I/O thread of their connection, so a handler that blocks on Read() or sleeps would stall
// every other call on that connection; proto.hpp's Register* functions have the core hand such
// calls to this pool instead (Server::RegisterMethod with MethodOptions::executor).
//
// Sized to the machine, grown only when handlers block. The pool runs one thread per CPU the
// process may use (or `threads`). More threads would only take turns on the same CPUs, each
// hand-off a context switch. But a streaming handler can block for the whole life of its call,
// and with a fixed small pool one waiting handler could starve another call whose progress it
// needs (a client waiting for the reply of a queued call), so the pool adds a thread, up to
// max_threads, when work waits and every thread is blocked: at once when a thread blocks in a
// polyrpc wait (the blocking helpers of sync.hpp, BlockingRegion), and within a few
// milliseconds when the threads make no progress for another reason (a handler that sleeps or
// waits on a lock). Threads past `threads` exit after some seconds without work.
//
// The hand-off costs no allocation and no thread wake-up per task when work is already queued:
// tasks are intrusive (Task), a batch is queued under one lock acquisition, and a sleeping
// thread is woken only when no awake thread will get to the work soon.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace polyrpc {

class ThreadPool {
 public:
  // Work the pool runs without allocating anything: the submitter owns the object (the core
  // embeds one in each server call) and keeps it alive until Run or Rejected has been called.
  class Task {
   public:
    // On a pool thread.
    virtual void Run() = 0;
    // Instead of Run, when the pool is shut down: on the thread that submitted the task.
    virtual void Rejected() = 0;

   protected:
    ~Task() = default;

   private:
    friend class ThreadPool;
    Task* next_ = nullptr;
  };

  // A batch of tasks, linked through the tasks themselves (no allocation). Submit empties it.
  class TaskList {
   public:
    void push_back(Task* t) {
      t->next_ = nullptr;
      if (tail_ == nullptr) {
        head_ = t;
      } else {
        tail_->next_ = t;
      }
      tail_ = t;
      ++size_;
    }
    bool empty() const { return head_ == nullptr; }
    size_t size() const { return size_; }

   private:
    friend class ThreadPool;
    Task* head_ = nullptr;
    Task* tail_ = nullptr;
    size_t size_ = 0;
  };

  static constexpr size_t kDefaultMaxThreads = 256;

  // threads: how many run normally (0: one per CPU the process may run on); max_threads: how
  // many it may grow to while threads block (at least threads). Threads start on demand.
  // Tasks must not throw.
  explicit ThreadPool(size_t max_threads = kDefaultMaxThreads) : ThreadPool(0, max_threads) {}
  ThreadPool(size_t threads, size_t max_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() { Shutdown(); }

  // Queues fn; it runs on a pool thread. Returns false (and drops fn) after Shutdown().
  bool Run(std::function<void()> fn);
  // Queues one task, or every task of list (leaving it empty) under one lock. After Shutdown()
  // the tasks are Rejected() here, on the calling thread, and false is returned.
  bool Submit(Task* task);
  bool Submit(TaskList* list);

  // Runs every queued task, then joins the threads. Idempotent; must not be called from a pool
  // thread.
  void Shutdown();

  // How many threads run now, and how many it normally keeps (for tests and diagnostics).
  size_t thread_count() const;
  size_t base_threads() const { return base_; }
  size_t max_threads() const { return max_; }

  // Marks the calling thread, if it is a thread of some pool, as blocked in a wait for as long
  // as the object lives, so that its pool starts another thread if work is waiting (see the
  // top of this file). sync.hpp's blocking waits do it; a handler may do it around a blocking
  // wait of its own. Nothing happens on other threads.
  class BlockingRegion {
   public:
    BlockingRegion();
    ~BlockingRegion();
    BlockingRegion(const BlockingRegion&) = delete;
    BlockingRegion& operator=(const BlockingRegion&) = delete;

   private:
    ThreadPool* pool_;
  };

 private:
  struct WorkerSlot;  // per worker: its stash and progress count (thread_pool.cc)

  void Enqueue(Task* head, Task* tail, size_t n);
  void MaybeWakeLocked();
  bool SpawnLocked();
  void Worker();
  void Monitor();
  void EnterBlocking();
  void LeaveBlocking();
  size_t AwakeLocked() const;

  const size_t base_;
  const size_t max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;          // sleeping workers
  std::condition_variable monitor_cv_;  // the monitor thread
  Task* head_ = nullptr;
  Task* tail_ = nullptr;
  size_t queued_ = 0;
  size_t threads_ = 0;        // workers alive
  size_t sleeping_ = 0;       // waiting on cv_
  size_t wakes_pending_ = 0;  // notified and not awake yet
  size_t blocked_ = 0;        // in a BlockingRegion
  bool shutdown_ = false;
  bool monitor_started_ = false;
  bool monitor_idle_ = false;   // the monitor waits without a timeout
  bool recent_work_ = false;    // work was queued since the monitor last looked
  std::vector<std::thread> workers_;
  std::vector<std::thread> zombies_;    // extra workers that ended on their own, to be joined
  std::vector<WorkerSlot*> slots_;      // of the workers alive
  std::thread monitor_;
  static thread_local ThreadPool* t_pool_;  // the pool of this worker thread
  static thread_local WorkerSlot* t_slot_;
  static thread_local int t_blocking_depth_;
};

}  // namespace polyrpc
