// polyrpc::ThreadPool (polyrpc++/thread_pool.hpp): a pool sized to the machine that grows only
// while its threads block.
//
// The queue is a linked list of intrusive tasks under one mutex. A worker takes a chunk of it at
// once (one lock acquisition for many tasks) and runs the chunk's tasks one after another; the
// tasks it has not started yet stay visible in its `stash`, an atomic pointer that the worker
// reclaims after each task with one exchange on its own cache line. A worker that blocks
// (BlockingRegion) puts its stash back into the queue, and the monitor steals the stash of a
// worker that makes no progress, so a task is never stranded behind a handler that blocks.
//
// Waking: a submitter wakes a sleeping worker only when no awake worker will get to the work
// (none is awake, or the queue is long enough to share), so a steady stream of batches costs no
// futex wake per task. The monitor thread exists to notice starvation that nothing else sees
// (every thread busy in a task that does not finish, work waiting); it sleeps without a timeout
// while the pool is idle and checks every kStarvationCheck while work comes.
#include "polyrpc++/thread_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>

namespace polyrpc {

namespace {

// A task waits this long without any task finishing before the pool adds a thread.
constexpr auto kStarvationCheck = std::chrono::milliseconds(5);
// A thread above the base count exits after this long without work.
constexpr auto kIdleExit = std::chrono::seconds(10);
// Queued tasks per awake worker before another worker is woken to share them.
constexpr size_t kTasksPerWorker = 8;

size_t Cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? n : 1;
}

class FnTask final : public ThreadPool::Task {
 public:
  explicit FnTask(std::function<void()> fn) : fn_(std::move(fn)) {}
  void Run() override {
    fn_();
    delete this;
  }
  void Rejected() override { delete this; }

 private:
  std::function<void()> fn_;
};

}  // namespace

struct ThreadPool::WorkerSlot {
  // The tasks of this worker's chunk it has not started (see the top of this file).
  std::atomic<Task*> stash{nullptr};
  // Tasks this worker finished; written by the worker only.
  std::atomic<uint64_t> done{0};
};

thread_local ThreadPool* ThreadPool::t_pool_ = nullptr;
thread_local ThreadPool::WorkerSlot* ThreadPool::t_slot_ = nullptr;
thread_local int ThreadPool::t_blocking_depth_ = 0;

ThreadPool::ThreadPool(size_t threads, size_t max_threads)
    : base_(std::max<size_t>(1, std::min(threads > 0 ? threads : Cpus(),
                                         std::max<size_t>(max_threads, 1)))),
      max_(std::max<size_t>(max_threads, base_)) {}

size_t ThreadPool::AwakeLocked() const {
  // Threads in a task that are not blocked, plus those woken and on their way.
  size_t busy = threads_ - sleeping_;
  size_t awake = busy > blocked_ ? busy - blocked_ : 0;
  return awake + wakes_pending_;
}

bool ThreadPool::SpawnLocked() {
  if (shutdown_ || threads_ >= max_) return false;
  ++threads_;
  try {
    workers_.emplace_back([this] { Worker(); });
  } catch (...) {
    --threads_;
    return false;
  }
  if (!monitor_started_) {
    monitor_started_ = true;
    try {
      monitor_ = std::thread([this] { Monitor(); });
    } catch (...) {
      // Without a monitor only BlockingRegion grows the pool; everything else still works.
    }
  }
  return true;
}

void ThreadPool::MaybeWakeLocked() {
  if (queued_ == 0) return;
  size_t awake = AwakeLocked();
  size_t available = sleeping_ - wakes_pending_;
  bool want = awake == 0 || queued_ >= kTasksPerWorker * awake;
  if (!want) return;
  if (available > 0) {
    ++wakes_pending_;
    cv_.notify_one();
  } else if (awake == 0 || threads_ < base_) {
    SpawnLocked();
  }
}

void ThreadPool::Enqueue(Task* head, Task* tail, size_t n) {
  if (tail_ == nullptr) {
    head_ = head;
  } else {
    tail_->next_ = head;
  }
  tail_ = tail;
  queued_ += n;
  size_t wakes_before = wakes_pending_;
  size_t threads_before = threads_;
  MaybeWakeLocked();
  if (wakes_pending_ == wakes_before && threads_ == threads_before) {
    // Nobody was woken for this work: it waits for a thread that is busy now, which might not
    // come back soon. Let the monitor watch.
    recent_work_ = true;
    if (monitor_idle_) monitor_cv_.notify_one();
  }
}

bool ThreadPool::Submit(Task* task) {
  TaskList one;
  one.push_back(task);
  return Submit(&one);
}

bool ThreadPool::Submit(TaskList* list) {
  if (list->empty()) return true;
  Task* head = list->head_;
  Task* tail = list->tail_;
  size_t n = list->size_;
  *list = TaskList();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shutdown_) {
      Enqueue(head, tail, n);
      return true;
    }
  }
  for (Task* t = head; t != nullptr;) {
    Task* next = t->next_;
    t->Rejected();
    t = next;
  }
  return false;
}

bool ThreadPool::Run(std::function<void()> fn) {
  // After Shutdown the task is rejected here: fn is dropped on this thread.
  return Submit(new FnTask(std::move(fn)));
}

void ThreadPool::Worker() {
  WorkerSlot slot;
  t_pool_ = this;
  t_slot_ = &slot;
  std::unique_lock<std::mutex> lock(mu_);
  slots_.push_back(&slot);
  for (;;) {
    if (head_ != nullptr) {
      // Take a chunk: everything, or half when a sleeping thread can share a long queue.
      size_t available = sleeping_ - wakes_pending_;
      size_t n = queued_;
      if (available > 0 && queued_ >= 2 * kTasksPerWorker) n = (queued_ + 1) / 2;
      Task* first = head_;
      Task* last = first;
      for (size_t i = 1; i < n; ++i) last = last->next_;
      head_ = last->next_;
      if (head_ == nullptr) tail_ = nullptr;
      last->next_ = nullptr;
      queued_ -= n;
      MaybeWakeLocked();
      if (n > 1) {
        recent_work_ = true;  // tasks wait in this worker's stash: let the monitor watch
        if (monitor_idle_) monitor_cv_.notify_one();
      }
      lock.unlock();
      for (Task* t = first; t != nullptr;) {
        slot.stash.store(t->next_, std::memory_order_release);
        t->Run();  // may free t
        slot.done.store(slot.done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        t = slot.stash.exchange(nullptr, std::memory_order_acq_rel);
      }
      lock.lock();
      continue;
    }
    if (shutdown_) break;
    bool extra = threads_ > base_;
    ++sleeping_;
    bool timed_out = false;
    if (extra) {
      timed_out = cv_.wait_for(lock, kIdleExit) == std::cv_status::timeout;
    } else {
      cv_.wait(lock);
    }
    --sleeping_;
    if (wakes_pending_ > 0) --wakes_pending_;
    if (timed_out && head_ == nullptr && !shutdown_ && threads_ > base_) {
      // An extra thread without work: give it back. Its std::thread goes to the monitor to be
      // joined (it cannot join itself).
      for (auto it = workers_.begin(); it != workers_.end(); ++it) {
        if (it->get_id() == std::this_thread::get_id()) {
          zombies_.push_back(std::move(*it));
          workers_.erase(it);
          break;
        }
      }
      monitor_cv_.notify_one();
      break;
    }
  }
  slots_.erase(std::find(slots_.begin(), slots_.end(), &slot));
  --threads_;
  t_pool_ = nullptr;
  t_slot_ = nullptr;
}

void ThreadPool::Monitor() {
  std::unique_lock<std::mutex> lock(mu_);
  auto progress = [&] {
    uint64_t sum = 0;
    for (WorkerSlot* s : slots_) sum += s->done.load(std::memory_order_relaxed);
    return sum;
  };
  auto stashed = [&] {
    for (WorkerSlot* s : slots_) {
      if (s->stash.load(std::memory_order_relaxed) != nullptr) return true;
    }
    return false;
  };
  // Progress is judged per slot set: a thread that exits takes its count with it, which can
  // only make the sum look smaller (never like progress), so compare for inequality.
  while (!shutdown_) {
    if (!zombies_.empty()) {
      std::vector<std::thread> zombies;
      zombies.swap(zombies_);
      lock.unlock();
      for (auto& t : zombies) t.join();
      lock.lock();
      continue;
    }
    if (!recent_work_ && head_ == nullptr && !stashed()) {
      monitor_idle_ = true;
      monitor_cv_.wait(lock);
      monitor_idle_ = false;
      continue;
    }
    recent_work_ = false;
    uint64_t seen = progress();
    monitor_cv_.wait_for(lock, kStarvationCheck);
    if (shutdown_) break;
    if (progress() != seen) continue;
    // Nothing finished for a whole check interval while work waits: every thread is stuck in
    // a task. Move the stranded stashes back to the queue and add a thread for them.
    size_t stolen = 0;
    Task* head = nullptr;
    Task* tail = nullptr;
    for (WorkerSlot* s : slots_) {
      Task* t = s->stash.exchange(nullptr, std::memory_order_acq_rel);
      while (t != nullptr) {
        Task* next = t->next_;
        t->next_ = nullptr;
        if (tail == nullptr) {
          head = t;
        } else {
          tail->next_ = t;
        }
        tail = t;
        ++stolen;
        t = next;
      }
    }
    if (stolen > 0) {
      // In front: they were queued before what waits in the queue now.
      tail->next_ = head_;
      if (head_ == nullptr) tail_ = tail;
      head_ = head;
      queued_ += stolen;
    }
    if (head_ == nullptr) continue;
    if (sleeping_ > wakes_pending_) {
      ++wakes_pending_;
      cv_.notify_one();
    } else {
      SpawnLocked();
    }
  }
}

void ThreadPool::EnterBlocking() {
  // This thread's chunk must not wait for its wait to end: give it back to the queue.
  Task* rest = t_slot_ != nullptr ? t_slot_->stash.exchange(nullptr, std::memory_order_acq_rel)
                                 : nullptr;
  std::unique_lock<std::mutex> lock(mu_);
  ++blocked_;
  if (rest != nullptr) {
    Task* tail = rest;
    size_t n = 1;
    while (tail->next_ != nullptr) {
      tail = tail->next_;
      ++n;
    }
    tail->next_ = head_;
    if (head_ == nullptr) tail_ = tail;
    head_ = rest;
    queued_ += n;
  }
  if (head_ != nullptr && AwakeLocked() == 0) {
    if (sleeping_ > wakes_pending_) {
      ++wakes_pending_;
      cv_.notify_one();
    } else {
      SpawnLocked();
    }
  }
}

void ThreadPool::LeaveBlocking() {
  std::lock_guard<std::mutex> lock(mu_);
  --blocked_;
}

ThreadPool::BlockingRegion::BlockingRegion() : pool_(nullptr) {
  if (t_pool_ == nullptr || t_blocking_depth_++ > 0) return;  // not a pool thread, or nested
  pool_ = t_pool_;
  pool_->EnterBlocking();
}

ThreadPool::BlockingRegion::~BlockingRegion() {
  if (t_pool_ == nullptr) return;
  --t_blocking_depth_;
  if (pool_ != nullptr) pool_->LeaveBlocking();
}

size_t ThreadPool::thread_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_;
}

void ThreadPool::Shutdown() {
  std::vector<std::thread> threads;
  std::thread monitor;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    threads.swap(workers_);
    monitor.swap(monitor_);
    cv_.notify_all();
    monitor_cv_.notify_all();
  }
  for (auto& t : threads) t.join();
  if (monitor.joinable()) monitor.join();
  // What no thread could take (thread creation failed) runs here, as promised.
  std::vector<std::thread> zombies;
  Task* left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left = head_;
    head_ = tail_ = nullptr;
    queued_ = 0;
    zombies.swap(zombies_);
  }
  for (auto& t : zombies) t.join();
  while (left != nullptr) {
    Task* next = left->next_;
    left->Run();
    left = next;
  }
}

}  // namespace polyrpc
