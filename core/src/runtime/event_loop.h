// EventLoop: one libuv loop and the I/O thread that runs it. Every connection lives on exactly one
// loop, and all of its state is touched only by the thread driving that loop; other threads hand
// work over with Post().
//
// Who drives a loop: its I/O thread, except while an application thread is blocked in a polyrpc
// wait (a blocking unary call, a blocking receive). Such a thread may take the loop over
// (TryBeginDrive) and run it itself until its operation completes: the request is written and
// the response read on the caller's thread, with no hand-off to the I/O thread and back (two
// thread wake-ups per call, most of a small call's latency on this kind of machine). The I/O
// thread owns the loop only for one non-blocking turn at a time and sleeps in poll(2) on the
// loop's backend descriptor without owning it, so a caller can take over without waking it.
// A caller waits for an I/O-thread turn to end but never for another caller (which may drive
// for as long as it blocks): then it falls back to a plain wait. While callers drive, the I/O
// thread, if woken by the I/O they handle, parks until they stop (Park in the .cc). "The loop
// thread" below means the thread driving the loop.
//
// Runtime: the set of loops (default: one per core) that channels and servers share.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "polyrpc++/thread_pool.hpp"

namespace polyrpc {

class EventLoop {
 public:
  using Task = std::function<void()>;

  // Work for the loop thread that another thread hands over without a lock: a node embedded in
  // the object it belongs to (a server call's operations from a handler thread: no allocation
  // either), or one Post() allocates around a function. Nodes go onto a lock-free list that the
  // loop takes whole at its next turn, in the order they were pushed. A node is on the list at
  // most once at a time; it may be pushed again once its RunWork has begun.
  class Work {
   public:
    virtual void RunWork() = 0;

   protected:
    ~Work() = default;

   private:
    friend class EventLoop;
    Work* next_work_ = nullptr;
  };

  explicit EventLoop(int index);
  // Stops the loop (see Stop) and frees it.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Closes every handle still open on the loop and ends its I/O thread; blocks until it has
  // exited. Idempotent; never from the loop's own I/O thread (returns false there). After it,
  // Post and PostLazy drop their tasks (leaked on purpose: what they hold may belong to objects
  // whose loop is gone, whose destructors must not run) and nothing drives the loop again.
  bool Stop();
  bool stopped() const { return closing_.load(std::memory_order_acquire); }

  // Runs fn on the loop thread. Thread-safe. Tasks posted from one thread run in order (with
  // PostWork's nodes too). One allocation (the node holds fn), no lock; the loop is woken only
  // when its list was empty.
  template <typename F>
  void Post(F&& fn) {
    PostNode(new FnWork<std::decay_t<F>>(std::forward<F>(fn)));
  }
  // Pushes w (see Work). Thread-safe. False once the loop is stopped: w will never run.
  bool PostWork(Work* w);
  // Post for work that is not urgent (freeing what is over): runs at the loop's next turn,
  // whenever something else wakes it, without waking it (a wake-up is a futex or eventfd
  // write, and maybe an idle CPU roused). At most kMaxLazy wait; one more wakes the loop.
  void PostLazy(Task fn);
  // Runs fn now if called on the loop thread (without wrapping it in a std::function: no
  // allocation on the hot path), otherwise posts it.
  template <typename F>
  void RunOrPost(F&& fn) {
    if (InLoopThread()) {
      fn();
    } else {
      Post(std::forward<F>(fn));
    }
  }
  // True on the thread driving this loop right now (its I/O thread, or a caller in a drive).
  bool InLoopThread() const { return current_ == this; }

  // Blocking waits. TryBeginDrive makes the calling thread the loop's driver if nobody else is
  // driving it and the thread is not already driving a loop (completions never drive); on false,
  // wait the usual way. While driving, operations started on this thread run inline, and
  // DriveOnce runs one loop turn, blocking until at least one event (I/O, a timer, a post) was
  // handled; with spin_us > 0 it busy-polls (non-blocking turns) for the first spin_us
  // microseconds of the drive instead of sleeping; with spin_us < 0 (kAutoSpin) the loop
  // decides (see AutoSpinUs in the .cc). Wake() makes a driver's DriveOnce return
  // (another thread changed what it waits for). EndDrive hands the loop back to its I/O thread.
  // If it fails because another caller drives and waiting is given, *waiting is set: the thread
  // waits the plain way for operations that caller's drive may leave pending, and must call
  // EndPlainWait() when its wait is over.
  bool TryBeginDrive(int spin_us = 0, bool* waiting = nullptr);
  static constexpr int kAutoSpin = -1;
  // Adaptive busy polling (kAutoSpin): the budget of a drive, and how many drives in a row may
  // outlast it before the loop stops spinning (then it tries again every kAutoSpinProbe-th).
  static constexpr int kAutoSpinUs = 200;
  static constexpr int kAutoSpinMaxMisses = 3;
  static constexpr int kAutoSpinProbe = 16;
  // The busy-poll budget of the current drive in microseconds (0: none). Driver only; for tests.
  int drive_spin_us() const { return spin_us_; }
  void EndPlainWait();
  void DriveOnce();
  void EndDrive();
  void Wake() {
    if (!closing_.load(std::memory_order_acquire)) uv_async_send(&async_);
  }

  // A 64 KiB buffer for socket reads, shared by all endpoints of the loop: reads are consumed
  // synchronously (the HTTP/2 layer or OpenSSL copies what it keeps). Loop thread only.
  char* read_buffer();
  static constexpr size_t kReadBufferSize = 64 * 1024;
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
  static EventLoop* FromUv(uv_loop_t* l) { return static_cast<EventLoop*>(l->data); }
  int index() const { return index_; }

  // Loop thread: queues task on pool at the end of this loop turn, in one batch with every task
  // submitted to the same pool during the turn (one lock acquisition and at most one thread
  // wake-up for the batch; ThreadPool::Submit).
  void SubmitToPool(ThreadPool* pool, ThreadPool::Task* task);

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
  void ThreadMain();
  int AutoSpinUs();
  void Park(std::unique_lock<std::mutex>& lock);
  void Unpark();
  static void OnAsync(uv_async_t* h);
  static void OnPrepare(uv_prepare_t* h);
  static void OnCheck(uv_check_t* h);
  void RunPosted();
  template <typename F>
  struct FnWork final : Work {
    template <typename G>
    explicit FnWork(G&& g) : fn(std::forward<G>(g)) {}
    void RunWork() override {
      fn();
      delete this;
    }
    F fn;
  };
  void PostNode(Work* w);
  bool PushWork(Work* w);
  // The tasks of SubmitToPool waiting for the end of the turn.
  struct PoolOutbox final : Flushable {
    void FlushNow() override;
    ThreadPool* pool = nullptr;
    ThreadPool::TaskList tasks;
  };
  PoolOutbox outbox_;
  // Runs deferred completions and flushes; true if a completion or deferred task ran.
  bool FlushAll();

  int index_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_prepare_t prepare_;
  uv_check_t check_;
  std::mutex mu_;
  // The posted work, newest first (a Treiber stack that RunPosted takes whole and reverses);
  // kClosedList once the loop is stopped.
  std::atomic<Work*> work_head_{nullptr};
  std::vector<Task> lazy_;  // guarded by mu_
  std::atomic<bool> lazy_pending_{false};
  static constexpr size_t kMaxLazy = 256;
  // Loop-thread buffers swapped with the queues above and below, so that the queues keep their
  // capacity from turn to turn (regrowing them each turn meant 1-4 KiB allocations, which make
  // glibc consolidate its fast bins: a few percent of a busy server's CPU).
  std::vector<Task> running_lazy_;
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
  // Set (under mu_) by the task that stops the loop: posts are dropped from then on.
  std::atomic<bool> closing_{false};
  std::once_flag stop_once_;
  bool stopped_ok_ = false;
  // Who drives the loop (see the top of this file). The fields below are guarded by drive_mu_.
  enum class Driver { kNone, kIoThread, kCaller };
  std::mutex drive_mu_;
  std::condition_variable drive_cv_;
  Driver driver_ = Driver::kNone;
  int callers_waiting_ = 0;   // callers waiting for the I/O thread's turn to end
  int plain_waiters_ = 0;     // callers waiting the plain way while another caller drives
  uint64_t drive_gen_ = 0;    // counts callers' drives
  // The I/O thread parks while callers drive (see Park in the .cc).
  std::atomic<bool> io_parked_{false};
  bool io_kicked_ = false;
  static constexpr int64_t kParkSliceMinUs = 200;
  static constexpr int64_t kParkSliceMaxUs = 50000;
  int64_t park_slice_us_ = kParkSliceMinUs;
  int io_next_timeout_ = -1;  // the poll(2) timeout a caller leaves to a parked I/O thread
  // When the I/O thread's poll(2) ends on its own (loop time in ms; -1: no timeout), so that a
  // caller that drove the loop can tell whether it left a timer due earlier.
  int64_t io_wake_at_ = -1;
  // Driver only: busy polling of the current drive (TryBeginDrive's spin_us), and whether the
  // caller's signal mask must get SIGPIPE back when the drive ends (blocked for socket writes).
  int spin_us_ = 0;
  bool spinning_ = false;
  bool spin_auto_ = false;    // spin_us_ was chosen by AutoSpinUs
  bool spin_missed_ = false;  // the drive outlasted its budget and slept
  int spin_misses_ = 0;       // auto drives in a row that outlasted their budget
  unsigned spin_probe_ = 0;
  std::chrono::steady_clock::time_point spin_until_;
  bool restore_sigpipe_ = false;
  std::unique_ptr<char[]> read_buffer_;
  std::thread thread_;
  static thread_local EventLoop* current_;
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
  // Stops the process-wide runtime: every loop's thread exits (EventLoop::Stop) and the next
  // Get() starts a new runtime. Objects still using the old one are dead: their work is dropped,
  // so the caller ends them first (the C ABI closes its channels and servers). Returns false,
  // doing nothing, when called on one of the runtime's own threads. Thread-safe.
  static bool Shutdown();
  // True on an I/O thread of any loop of this process (a completion callback runs there).
  static bool OnIoThread();
  // Picks a loop for a new connection (round robin).
  EventLoop* NextLoop();
  size_t size() const { return loops_.size(); }
  EventLoop* loop(size_t i) { return loops_[i].get(); }

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<size_t> next_{0};
};

}  // namespace polyrpc
