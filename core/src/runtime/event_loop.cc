#include "runtime/event_loop.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>

namespace polyrpc {

EventLoop::EventLoop(int index) : index_(index) {
  uv_loop_init(&loop_);
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
      std::lock_guard<std::mutex> lock(started_mu);
      thread_id_ = std::this_thread::get_id();
      started = true;
    }
    started_cv.notify_one();
    // A write to a socket the peer has closed must fail with EPIPE, not kill the process.
    // SIGPIPE is delivered to the writing thread, so blocking it here (on the only threads
    // that do socket I/O) protects the application without touching its signal handlers.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    char name[16];
    snprintf(name, sizeof name, "polyrpc-io-%d", index_);
    pthread_setname_np(pthread_self(), name);
    while (!stopping_.load(std::memory_order_acquire)) {
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
  });
  std::unique_lock<std::mutex> lock(started_mu);
  started_cv.wait(lock, [&] { return started; });
}

EventLoop::~EventLoop() {
  Post([this] {
    stopping_.store(true, std::memory_order_release);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
    // Close whatever is still open so that uv_run returns.
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
  });
  if (thread_.joinable()) thread_.join();
  uv_loop_close(&loop_);
}

void EventLoop::Post(Task fn) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  if (wake) uv_async_send(&async_);
}

void EventLoop::OnAsync(uv_async_t* h) { static_cast<EventLoop*>(h->data)->RunPosted(); }

void EventLoop::RunPosted() {
  std::vector<Task>& tasks = running_posted_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(posted_);
  }
  for (auto& t : tasks) t();
  tasks.clear();
  FlushAll();
}

void EventLoop::OnPrepare(uv_prepare_t* h) { static_cast<EventLoop*>(h->data)->FlushAll(); }
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

void EventLoop::FlushAll() {
  // Deferred completions may produce output, and flushing may complete more operations (a
  // send handed to the transport); repeat, but only for a bounded number of rounds so that a
  // stream that keeps producing cannot starve reads and timers. What is left is picked up on
  // the next turn: the async handle makes sure there is one.
  for (int rounds = 0; rounds < 64; ++rounds) {
    if (flush_list_.empty() && deferred_.empty() && deferred_completions_.empty()) return;
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

}  // namespace polyrpc
