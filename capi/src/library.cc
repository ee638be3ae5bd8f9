// The library as a whole: the registry of live channels and servers, and polyrpc_shutdown(),
// which ends them and stops the I/O threads.
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "internal.h"

namespace polyrpc::capi {

namespace {
// Each entry remembers the process that made it: in a fork child, the parent's objects are
// copies whose I/O threads do not exist here, and must be left alone (KeepForever's reason).
template <typename T>
struct Entry {
  pid_t pid;
  std::weak_ptr<T> object;
};
std::mutex g_registry_mu;
std::vector<Entry<polyrpc::Channel>> g_channels;
std::vector<Entry<ServerState>> g_servers;

template <typename T>
void Register(std::vector<Entry<T>>& list, const std::shared_ptr<T>& p) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  // Prune when the list doubles, so registration stays O(1) amortised.
  if (list.size() >= 64 && (list.size() & (list.size() - 1)) == 0) {
    std::erase_if(list, [](const Entry<T>& e) { return e.object.expired(); });
  }
  list.push_back({getpid(), p});
}
}  // namespace

void RegisterChannel(const std::shared_ptr<polyrpc::Channel>& channel) {
  Register(g_channels, channel);
}
void RegisterServer(const std::shared_ptr<ServerState>& server) { Register(g_servers, server); }

}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

polyrpc_error_t polyrpc_shutdown(int64_t timeout_ms) {
  POLYRPC_API_TRY
  if (polyrpc::OnIoThread()) {
    Throw(POLYRPC_ERROR_WRONG_STATE,
          "called on a polyrpc I/O thread (a completion callback): it cannot stop itself");
  }
  polyrpc::Deadline deadline = timeout_ms < 0
                                   ? polyrpc::InfiniteDeadline()
                                   : polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  // From here on, objects created before belong to a former owner: entry points report them
  // as CLOSED, so nothing new starts on them while they are being ended.
  NewOwnerGeneration();
  std::vector<Entry<polyrpc::Channel>> all_channels;
  std::vector<Entry<ServerState>> all_servers;
  {
    std::lock_guard<std::mutex> lock(g_registry_mu);
    all_channels.swap(g_channels);
    all_servers.swap(g_servers);
  }
  // Only this process's own objects: a fork child's copies of its parent's are dead already.
  pid_t me = getpid();
  std::vector<std::weak_ptr<polyrpc::Channel>> channels;
  for (auto& e : all_channels) {
    if (e.pid == me) channels.push_back(std::move(e.object));
  }
  for (auto& e : all_servers) {
    if (e.pid != me) continue;
    if (auto s = e.object.lock()) ShutdownServerState(*s, deadline);
  }
  std::vector<std::shared_ptr<polyrpc::Channel>> open;
  for (auto& w : channels) {
    if (auto c = w.lock()) {
      c->Close();
      open.push_back(std::move(c));
    }
  }
  // Close() ends the calls on each channel's I/O thread: let that happen (bounded) before the
  // threads stop, so that every pending operation is delivered.
  auto until = polyrpc::DeadlineAfter(std::chrono::seconds(2));
  for (auto& c : open) {
    for (;;) {
      polyrpc::ConnectivityState s = c->GetState(false);
      if (s == polyrpc::ConnectivityState::SHUTDOWN || polyrpc::Clock::now() >= until) break;
      c->WaitForStateChange(s, until);
    }
  }
  if (!polyrpc::ShutdownRuntime()) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "called on a polyrpc I/O thread: it cannot stop itself");
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

}  // extern "C"
