#include "runtime/event_loop.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>

#include "polyrpc++/runtime.hpp"

namespace polyrpc {

namespace {
// Set on the I/O threads of every loop (for Runtime::OnIoThread).
thread_local bool t_io_thread = false;
sigset_t PipeSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  return set;
}
}  // namespace

EventLoop::EventLoop(int index) : index_(index) {
  uv_loop_init(&loop_);
  loop_.data = this;
  async_.data = this;
  uv_async_init(&loop_, &async_, &EventLoop::OnAsync);
  prepare_.data = this;
  uv_prepare_init(&loop_, &prepare_);
  uv_prepare_start(&prepare_, &EventLoop::OnPrepare);
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
  check_.data = this;
  uv_check_init(&loop_, &check_);
  uv_check_start(&check_, &EventLoop::OnCheck);
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));

  std::mutex started_mu;
  std::condition_variable started_cv;
  bool started = false;
  thread_ = std::thread([&] {
    {
      // Notified under the lock: the constructor's frame (the condition variable) is gone as
      // soon as it sees started.
      std::lock_guard<std::mutex> lock(started_mu);
      started = true;
      started_cv.notify_one();
    }
    ThreadMain();
  });
  std::unique_lock<std::mutex> lock(started_mu);
  started_cv.wait(lock, [&] { return started; });
}

thread_local EventLoop* EventLoop::current_ = nullptr;

void EventLoop::ThreadMain() {
  // A write to a socket the peer has closed must fail with EPIPE, not kill the process.
  // SIGPIPE is delivered to the writing thread, so blocking it here (and in callers while they
  // drive a loop) protects the application without touching its signal handlers.
  const sigset_t pipe_set = PipeSet();
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  t_io_thread = true;
  char name[16];
  snprintf(name, sizeof name, "polyrpc-io-%d", index_);
  pthread_setname_np(pthread_self(), name);
  // The loop is run the way libuv documents for embedding: wait for the backend descriptor
  // with poll(2) without owning the loop, then own it for one non-blocking turn. A blocked
  // caller can take the loop over while this thread sleeps, without waking it.
  const int backend = uv_backend_fd(&loop_);
  int timeout = 0;
  for (;;) {
    if (timeout != 0) {
      struct pollfd p = {backend, POLLIN, 0};
      poll(&p, 1, timeout);
    }
    {
      std::unique_lock<std::mutex> lock(drive_mu_);
      if (driver_ == Driver::kCaller) {
        // Woken by I/O that a driving caller handles: park until the caller stops driving,
        // then sleep again with the timeout it left (poll(2) returns at once if it left
        // something).
        Park(lock);
        timeout = io_next_timeout_;
        if (!stopping_.load(std::memory_order_acquire) || driver_ != Driver::kNone) continue;
      }
      driver_ = Driver::kIoThread;
    }
    current_ = this;
    uv_run(&loop_, UV_RUN_NOWAIT);
    current_ = nullptr;
    if (stopping_.load(std::memory_order_acquire)) break;
    timeout = uv_backend_timeout(&loop_);
    std::lock_guard<std::mutex> lock(drive_mu_);
    driver_ = Driver::kNone;
    io_wake_at_ = timeout < 0 ? -1 : static_cast<int64_t>(uv_now(&loop_)) + timeout;
    if (callers_waiting_ > 0) drive_cv_.notify_all();
  }
  // Stopping: close every handle still open, and run until their close callbacks are done.
  current_ = this;
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  current_ = nullptr;
  // Callers that wait for this thread's turn get "no" (TryBeginDrive checks stopping_).
  std::lock_guard<std::mutex> lock(drive_mu_);
  driver_ = Driver::kNone;
  drive_cv_.notify_all();
}

void EventLoop::Park(std::unique_lock<std::mutex>& lock) {
  // Callers that make blocking calls back to back drive the loop almost all the time. Waking
  // this thread at the end of every drive would cost a futex wake-up per call (and this thread
  // would then be woken by the next response it does not handle), so it checks back on its own
  // instead: every 200 us while drives come and go, backing off during one long drive. A drive
  // that ends with work pending, a long drive, and Post() wake it at once (Unpark); what else
  // arrives between two drives waits at most one slice. (While a caller drives, it runs
  // everything: posts and timers included.)
  io_parked_.store(true, std::memory_order_release);
  io_kicked_ = false;
  park_slice_us_ = kParkSliceMinUs;
  uint64_t gen = drive_gen_;
  for (;;) {
    drive_cv_.wait_for(lock, std::chrono::microseconds(park_slice_us_));
    if (driver_ != Driver::kCaller) break;
    if (io_kicked_) break;
    if (drive_gen_ == gen) {
      park_slice_us_ = std::min(park_slice_us_ * 2, kParkSliceMaxUs);
    } else {
      gen = drive_gen_;
      park_slice_us_ = kParkSliceMinUs;
    }
  }
  io_parked_.store(false, std::memory_order_release);
}

void EventLoop::Unpark() {
  std::lock_guard<std::mutex> lock(drive_mu_);
  if (!io_parked_.load(std::memory_order_relaxed) || driver_ == Driver::kCaller) return;
  io_kicked_ = true;
  drive_cv_.notify_all();
}

bool EventLoop::TryBeginDrive(int spin_us, bool* waiting) {
  if (waiting != nullptr) *waiting = false;
  if (current_ != nullptr) return false;  // inside a completion or already driving a loop
  {
    std::unique_lock<std::mutex> lock(drive_mu_);
    if (driver_ == Driver::kIoThread) {
      // The I/O thread's turns are short (one non-blocking pass): wait for this one. Another
      // caller may drive for as long as it waits, so that is not waited for.
      ++callers_waiting_;
      drive_cv_.wait(lock, [this] { return driver_ != Driver::kIoThread; });
      --callers_waiting_;
    }
    if (driver_ == Driver::kCaller && waiting != nullptr) {
      // This thread waits the plain way for operations another caller's drive runs: when that
      // drive ends, the I/O thread must take over at once (see EndDrive).
      ++plain_waiters_;
      *waiting = true;
    }
    if (driver_ != Driver::kNone || stopping_.load(std::memory_order_acquire)) return false;
    driver_ = Driver::kCaller;
    ++drive_gen_;
  }
  current_ = this;
  spin_auto_ = spin_us < 0;
  spin_us_ = spin_auto_ ? AutoSpinUs() : spin_us;
  spin_missed_ = false;
  // Socket writes may now happen on this thread: block SIGPIPE while driving (see ThreadMain).
  const sigset_t pipe_set = PipeSet();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  restore_sigpipe_ = !sigismember(&old, SIGPIPE);
  // Posted tasks first: whatever this thread posted before must still run before what it does
  // inline now.
  RunPosted();
  return true;
}

void EventLoop::DriveOnce() {
  if (spin_us_ > 0) {
    // Busy polling: non-blocking turns until the budget of this drive is spent. The response
    // then finds this thread running instead of asleep on an idle CPU that must be woken.
    auto now = std::chrono::steady_clock::now();
    if (!spinning_) {
      spinning_ = true;
      spin_until_ = now + std::chrono::microseconds(spin_us_);
    }
    if (now < spin_until_) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      return;
    }
    spin_missed_ = true;
  }
  uv_run(&loop_, UV_RUN_ONCE);
}

// The default busy polling. A thread blocked on a call that sleeps must be woken when the
// answer comes, and waking a thread on an idle vCPU costs about 40 us on the machines this was
// measured on (docs/performance.md): more than the whole round trip to a local server. So a
// driver first polls for up to kAutoSpinUs, but only while that pays: after kAutoSpinMaxMisses
// drives in a row that outlasted the budget (a remote or slow server, a stream waiting for
// messages that come seldom) it sleeps at once, and tries again every kAutoSpinProbe-th drive
// to notice when answers come quickly again. It never spins on a thread that can run on one
// CPU only: there the spin would only keep the peer from running. Driver only.
int EventLoop::AutoSpinUs() {
  static thread_local int cpus = 0;
  if (cpus == 0) {
    cpu_set_t set;
    cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  if (cpus < 2) return 0;
  if (spin_misses_ < kAutoSpinMaxMisses) return kAutoSpinUs;
  return ++spin_probe_ % kAutoSpinProbe == 0 ? kAutoSpinUs : 0;
}

void EventLoop::EndDrive() {
  if (spin_auto_ && spin_us_ > 0) {
    if (spin_missed_) {
      spin_misses_ = std::min(spin_misses_ + 1, kAutoSpinMaxMisses);
      spin_probe_ = 0;
    } else {
      spin_misses_ = 0;
    }
  }
  spinning_ = false;
  spin_us_ = 0;
  FlushAll();
  // Close callbacks (a call's timer) are due at once: run them here rather than waking the I/O
  // thread for them.
  if (uv_backend_timeout(&loop_) == 0) uv_run(&loop_, UV_RUN_NOWAIT);
  int timeout = uv_backend_timeout(&loop_);
  int64_t due = timeout < 0 ? -1 : static_cast<int64_t>(uv_now(&loop_)) + timeout;
  if (restore_sigpipe_) {
    // A write that failed with EPIPE left a SIGPIPE pending: take it before unblocking.
    const sigset_t pipe_set = PipeSet();
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      struct timespec zero = {0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);
    }
    pthread_sigmask(SIG_UNBLOCK, &pipe_set, nullptr);
  }
  current_ = nullptr;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(drive_mu_);
    driver_ = Driver::kNone;
    if (io_parked_.load(std::memory_order_relaxed)) {
      // The I/O thread sleeps next with this timeout, once it stops parking (see Park). Unpark
      // it now if it would otherwise be late: other threads wait for operations nobody drives
      // now, it backed off during a long drive, a timer is due within its slice, or events are
      // already waiting.
      io_next_timeout_ = timeout;
      io_wake_at_ = due;
      bool kick = plain_waiters_ > 0 || park_slice_us_ > kParkSliceMinUs ||
                  (timeout >= 0 && int64_t{timeout} * 1000 <= park_slice_us_);
      if (!kick) {
        struct pollfd p = {uv_backend_fd(&loop_), POLLIN, 0};
        kick = poll(&p, 1, 0) > 0;
      }
      if (kick) {
        io_kicked_ = true;
        drive_cv_.notify_all();
      }
    } else if (due >= 0 && (io_wake_at_ < 0 || due < io_wake_at_)) {
      // It sleeps in poll(2) until later than a timer armed while driving is due.
      wake = true;
    }
    if (callers_waiting_ > 0) drive_cv_.notify_all();
  }
  if (wake) Wake();
}

void EventLoop::EndPlainWait() {
  std::lock_guard<std::mutex> lock(drive_mu_);
  --plain_waiters_;
}

char* EventLoop::read_buffer() {
  if (!read_buffer_) read_buffer_.reset(new char[kReadBufferSize]);
  return read_buffer_.get();
}

EventLoop::~EventLoop() {
  if (Stop()) uv_loop_close(&loop_);
}

namespace {
// Tasks posted to a stopped loop: never run and never destroyed (their captures may hold
// objects of that loop, whose destructors would post again or touch closed handles). Kept
// reachable, so that leak checkers see them as held, not lost.
std::mutex g_leak_mu;
void LeakTasks(std::vector<EventLoop::Task> tasks) {
  if (tasks.empty()) return;
  static auto* leaked = new std::vector<EventLoop::Task>();  // reachable until exit, on purpose
  std::lock_guard<std::mutex> lock(g_leak_mu);
  for (auto& t : tasks) leaked->push_back(std::move(t));
}
void LeakWork(EventLoop::Work* w) {
  static auto* leaked = new std::vector<EventLoop::Work*>();  // reachable until exit, on purpose
  std::lock_guard<std::mutex> lock(g_leak_mu);
  leaked->push_back(w);
}
// work_head_ of a stopped loop: nothing is pushed any more.
EventLoop::Work* const kClosedList = reinterpret_cast<EventLoop::Work*>(uintptr_t{1});
}  // namespace

bool EventLoop::Stop() {
  if (std::this_thread::get_id() == thread_.get_id()) return false;
  std::call_once(stop_once_, [this] {
    Post([this] {
      std::vector<Task> dropped;
      {
        std::lock_guard<std::mutex> lock(mu_);
        closing_.store(true, std::memory_order_release);
        for (auto& t : lazy_) dropped.push_back(std::move(t));
        lazy_.clear();
      }
      LeakTasks(std::move(dropped));
      // Work posted after this task began never runs; nothing can be pushed from now on.
      Work* rest = work_head_.exchange(kClosedList, std::memory_order_acq_rel);
      if (rest != nullptr && rest != kClosedList) LeakWork(rest);  // the list stays linked
      // The handles are closed by the I/O thread once its loop ends (ThreadMain), not here:
      // tasks after this one in the same batch, or a caller still driving, may yet touch them.
      stopping_.store(true, std::memory_order_release);
      // If a driving caller ran this, the I/O thread may sleep in poll(2): wake it so that it
      // sees stopping_ (the async handle is still open; it closes in ThreadMain).
      uv_async_send(&async_);
      Unpark();
    });
    if (thread_.joinable()) thread_.join();
    stopped_ok_ = true;
  });
  return stopped_ok_;
}

bool EventLoop::PushWork(Work* w) {
  Work* old = work_head_.load(std::memory_order_relaxed);
  do {
    if (old == kClosedList) return false;
    w->next_work_ = old;
  } while (!work_head_.compare_exchange_weak(old, w, std::memory_order_release,
                                             std::memory_order_relaxed));
  if (old == nullptr && !closing_.load(std::memory_order_acquire)) {
    // The list was empty: the loop may be asleep. (uv_async_send is a no-op while a wake-up is
    // already pending.)
    uv_async_send(&async_);
    // A parked I/O thread does not see the async handle (see Park); a driving caller does.
    if (io_parked_.load(std::memory_order_acquire)) Unpark();
  }
  return true;
}

bool EventLoop::PostWork(Work* w) { return PushWork(w); }

void EventLoop::PostNode(Work* w) {
  if (!PushWork(w)) LeakWork(w);
}

void EventLoop::PostLazy(Task fn) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_.load(std::memory_order_relaxed)) {
      std::vector<Task> one;
      one.push_back(std::move(fn));
      LeakTasks(std::move(one));
      return;
    }
    lazy_.push_back(std::move(fn));
    lazy_pending_.store(true, std::memory_order_release);
    wake = lazy_.size() > kMaxLazy;
  }
  if (wake) Post([] {});
}

void EventLoop::OnAsync(uv_async_t* h) { static_cast<EventLoop*>(h->data)->RunPosted(); }

void EventLoop::RunPosted() {
  if (lazy_pending_.load(std::memory_order_acquire)) {
    // Lazy tasks were posted before the current ones (or do not care about order).
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_lazy_.swap(lazy_);
      lazy_pending_.store(false, std::memory_order_relaxed);
    }
    for (auto& t : running_lazy_) t();
    running_lazy_.clear();
  }
  Work* list = work_head_.load(std::memory_order_relaxed);
  while (list != nullptr && list != kClosedList &&
         !work_head_.compare_exchange_weak(list, nullptr, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
  }
  if (list != nullptr && list != kClosedList) {
    // Newest first: reverse into push order.
    Work* ordered = nullptr;
    while (list != nullptr) {
      Work* next = list->next_work_;
      list->next_work_ = ordered;
      ordered = list;
      list = next;
    }
    while (ordered != nullptr) {
      // Read before running: the node may be freed, or pushed again, by its own RunWork.
      Work* next = ordered->next_work_;
      ordered->RunWork();
      ordered = next;
    }
  }
  FlushAll();
}

void EventLoop::SubmitToPool(ThreadPool* pool, ThreadPool::Task* task) {
  if (outbox_.pool != pool) {
    if (!outbox_.tasks.empty()) outbox_.pool->Submit(&outbox_.tasks);
    outbox_.pool = pool;
  }
  outbox_.tasks.push_back(task);
  ScheduleFlush(&outbox_);
}

void EventLoop::PoolOutbox::FlushNow() {
  if (pool != nullptr && !tasks.empty()) pool->Submit(&tasks);
}

void EventLoop::OnPrepare(uv_prepare_t* h) {
  auto* self = static_cast<EventLoop*>(h->data);
  // Completions that ran here may be what a driving caller waits for: do not block in the poll
  // that follows (uv_stop makes this turn's poll non-blocking; uv_run clears it on return).
  if (self->FlushAll()) uv_stop(&self->loop_);
}
void EventLoop::OnCheck(uv_check_t* h) { static_cast<EventLoop*>(h->data)->FlushAll(); }

void EventLoop::ScheduleFlush(Flushable* f) {
  if (f->flush_scheduled_) return;
  f->flush_scheduled_ = true;
  flush_list_.push_back(f);
}

void EventLoop::CancelFlush(Flushable* f) {
  if (!f->flush_scheduled_) return;
  f->flush_scheduled_ = false;
  for (auto& p : flush_list_) {
    if (p == f) p = nullptr;
  }
}

bool EventLoop::FlushAll() {
  if (lazy_pending_.load(std::memory_order_acquire)) RunPosted();
  // Deferred completions may produce output, and flushing may complete more operations (a
  // send handed to the transport); repeat, but only for a bounded number of rounds so that a
  // stream that keeps producing cannot starve reads and timers. What is left is picked up on
  // the next turn: the async handle makes sure there is one.
  bool did = false;
  for (int rounds = 0; rounds < 64; ++rounds) {
    if (flush_list_.empty() && deferred_.empty() && deferred_completions_.empty()) return did;
    if (!deferred_completions_.empty() || !deferred_.empty()) did = true;
    if (!deferred_completions_.empty()) {
      // Swap with a reused vector: no allocation per turn.
      running_completions_.swap(deferred_completions_);
      for (auto& c : running_completions_) c.fn(c.ok);
      running_completions_.clear();
    }
    if (!deferred_.empty()) {
      running_deferred_.swap(deferred_);
      for (auto& t : running_deferred_) t();
      running_deferred_.clear();
    }
    running_flush_list_.swap(flush_list_);
    for (Flushable* f : running_flush_list_) {
      if (f == nullptr) continue;
      f->flush_scheduled_ = false;
      f->FlushNow();
    }
    running_flush_list_.clear();
  }
  if (!flush_list_.empty() || !deferred_.empty() || !deferred_completions_.empty()) {
    uv_async_send(&async_);
  }
  return did;
}

Runtime::Runtime(int threads) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) loops_.push_back(std::make_unique<EventLoop>(i));
}

Runtime::~Runtime() = default;

EventLoop* Runtime::NextLoop() {
  return loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
}

namespace {
std::mutex g_runtime_mu;
std::shared_ptr<Runtime>* g_runtime = nullptr;  // leaked on purpose: outlives static destructors
pid_t g_runtime_pid = 0;
}  // namespace

bool Runtime::OnIoThread() { return t_io_thread; }

bool Runtime::Shutdown() {
  if (t_io_thread) return false;
  std::shared_ptr<Runtime> rt;
  {
    std::lock_guard<std::mutex> lock(g_runtime_mu);
    if (g_runtime == nullptr || g_runtime_pid != getpid()) return true;  // none (or a parent's)
    rt = std::move(*g_runtime);
    delete g_runtime;
    g_runtime = nullptr;
  }
  for (auto& l : rt->loops_) l->Stop();
  return true;
}

std::shared_ptr<Runtime> Runtime::Get() {
  std::lock_guard<std::mutex> lock(g_runtime_mu);
  pid_t pid = getpid();
  if (g_runtime != nullptr && g_runtime_pid != pid) {
    // We are a forked child: the parent's I/O threads do not exist here. Abandon (leak) the
    // parent's runtime without touching its loops and start a fresh one.
    new std::shared_ptr<Runtime>(std::move(*g_runtime));  // keep it alive forever, never destroyed
    g_runtime = nullptr;
  }
  if (g_runtime == nullptr) {
    int threads = 0;
    if (const char* env = getenv("POLYRPC_IO_THREADS")) threads = atoi(env);
    if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
    g_runtime = new std::shared_ptr<Runtime>(std::make_shared<Runtime>(threads));
    g_runtime_pid = pid;
  }
  return *g_runtime;
}

bool ShutdownRuntime() { return Runtime::Shutdown(); }
bool OnIoThread() { return Runtime::OnIoThread(); }

}  // namespace polyrpc
