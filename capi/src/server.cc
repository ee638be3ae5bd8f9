// Servers. Every registered method (and the generic handler when enabled) gets the same core
// handler: it pairs the new ServerCall with a pending polyrpc_server_request_call and completes
// it right there on the I/O thread, or queues the call until one is requested.
#include <chrono>
#include <thread>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "internal.h"
#include "polyrpc++/health.hpp"
#include "polyrpc++/reflection.hpp"

namespace polyrpc::capi {

// Calls that arrive while nobody asked for one wait here; beyond this they are refused with
// RESOURCE_EXHAUSTED, so a stalled application cannot make the server hoard memory.
constexpr size_t kMaxQueuedCalls = 10000;

class ServerState {
 public:
  explicit ServerState(const polyrpc::Options& options)
      : server_(polyrpc::Server::Create(options)) {}
  ~ServerState() {
    Shutdown(polyrpc::Clock::now());
    DropUntaken();
    server_.reset();
  }

  polyrpc::Server& server() { return *server_; }

  void RequireNotStarted(const char* what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) Throw(POLYRPC_ERROR_WRONG_STATE, std::string(what) + " must come before start");
    if (shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the server is shut down");
  }

  polyrpc::Handler MakeHandler() {
    // The core server (and with it every handler) is destroyed before this state.
    return [this](std::shared_ptr<polyrpc::ServerCall> call) { OnCall(std::move(call)); };
  }

  // polyrpc_server_enable_health: before start (the caller checked).
  void EnableHealth() {
    std::lock_guard<std::mutex> lock(health_mu_);
    if (!health_) health_ = polyrpc::EnableHealthService(*server_);
  }
  void SetHealthStatus(const std::string& service, int status) {
    std::shared_ptr<polyrpc::HealthService> health;
    {
      std::lock_guard<std::mutex> lock(health_mu_);
      health = health_;
    }
    if (!health) {
      Throw(POLYRPC_ERROR_WRONG_STATE,
            "the health service is not enabled (polyrpc_server_enable_health)");
    }
    if (status == POLYRPC_HEALTH_SERVICE_UNKNOWN) {
      health->ClearServingStatus(service);
    } else {
      health->SetServingStatus(service, static_cast<polyrpc::ServingStatus>(status));
    }
  }

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the server is shut down");
    if (started_) Throw(POLYRPC_ERROR_WRONG_STATE, "the server is already started");
    std::string error;
    if (!server_->Start(&error)) Throw(POLYRPC_ERROR_IO, "cannot start the server: " + error);
    started_ = true;
  }

  // Takes target (moves from it) only when it returns normally. call_out NULL: a take-style
  // request (v2): the call is kept under tag for TakeCall.
  void RequestCall(polyrpc_call** call_out, void* tag, OpTarget& target) {
    std::shared_ptr<polyrpc::ServerCall> call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the server is shut down");
      if (!started_) Throw(POLYRPC_ERROR_WRONG_STATE, "the server is not started");
      if (call_out == nullptr && !tags_.insert(tag).second) {
        Throw(POLYRPC_ERROR_BUSY, "a request with this tag is pending or its call not taken");
      }
      if (incoming_.empty()) {
        requests_.push_back(Request{call_out, tag, std::move(target)});
        return;
      }
      call = std::move(incoming_.front());
      incoming_.pop_front();
    }
    // A call was waiting: complete at once, on this thread.
    Deliver(Request{call_out, tag, std::move(target)}, std::move(call));
  }

  // polyrpc_server_take_call: the call a take-style request received.
  polyrpc_call* TakeCall(void* tag) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ready_.find(tag);
    if (it == ready_.end()) {
      Throw(POLYRPC_ERROR_NOT_FOUND, "no call received for this tag (not completed, or taken)");
    }
    polyrpc_call* call = it->second;
    ready_.erase(it);
    tags_.erase(tag);
    return call;
  }

  void Shutdown(polyrpc::Deadline deadline) {
    std::deque<Request> requests;
    std::deque<std::shared_ptr<polyrpc::ServerCall>> incoming;
    bool was_started;
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      was_started = started_;
      requests.swap(requests_);
      incoming.swap(incoming_);
      for (auto& r : requests) {
        if (r.call_out == nullptr) tags_.erase(r.tag);
      }
    }
    for (auto& r : requests) r.target.Deliver(false);
    // Calls nobody asked for never reached the application: end them now rather than make the
    // graceful shutdown wait for them.
    for (auto& c : incoming) c->Cancel();
    if (was_started) {
      std::lock_guard<std::mutex> lock(shutdown_mu_);  // Shutdown blocks; serialise callers
      server_->Shutdown(deadline);
    }
  }

 private:
  struct Request {
    polyrpc_call** call_out = nullptr;  // NULL: take-style (the call waits in ready_ under tag)
    void* tag = nullptr;
    OpTarget target;
  };

  // Runs on the I/O thread of the call's connection.
  void OnCall(std::shared_ptr<polyrpc::ServerCall> call) {
    Request req;
    bool refuse = false;
    bool shut = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) {
        shut = true;
      } else if (!requests_.empty()) {
        req = std::move(requests_.front());
        requests_.pop_front();
      } else if (incoming_.size() >= kMaxQueuedCalls) {
        refuse = true;
      } else {
        incoming_.push_back(std::move(call));
        return;
      }
    }
    if (shut) {
      call->SendStatus(polyrpc::Status(polyrpc::StatusCode::UNAVAILABLE, "server shutting down"),
                       {}, [](bool) {});
      return;
    }
    if (refuse) {
      call->SendStatus(polyrpc::Status(polyrpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "too many calls waiting for the application"),
                       {}, [](bool) {});
      return;
    }
    Deliver(std::move(req), std::move(call));
  }

  void Deliver(Request req, std::shared_ptr<polyrpc::ServerCall> call) {
    const OpTarget& target = req.target;
    polyrpc_call* handle = nullptr;
    if (!(target.cq && target.cq->IsDestroyed())) {
      try {
        handle = polyrpc_capi_wrap_server_call(call);
      } catch (...) {
        handle = nullptr;
      }
    }
    if (handle == nullptr) {
      // Nobody will ever see this call (and call_out may be gone with the cq's owner), or no
      // memory for its handle: end it now rather than leave the client waiting for its deadline.
      call->Cancel();
      if (req.call_out == nullptr) {
        std::lock_guard<std::mutex> lock(mu_);
        tags_.erase(req.tag);
      }
      target.Deliver(false);
      return;
    }
    if (req.call_out != nullptr) {
      *req.call_out = handle;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      ready_[req.tag] = handle;
    }
    target.Deliver(true);
  }

 public:
  // Calls received for take-style requests and never taken: cancelled with the server.
  void DropUntaken() {
    std::unordered_map<void*, polyrpc_call*> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready.swap(ready_);
      tags_.clear();
    }
    for (auto& [tag, call] : ready) polyrpc_call_destroy(call);
  }

 private:
  std::unique_ptr<polyrpc::Server> server_;
  std::mutex health_mu_;
  std::shared_ptr<polyrpc::HealthService> health_;
  std::mutex mu_;
  bool started_ = false;
  bool shutdown_ = false;
  std::deque<Request> requests_;
  std::deque<std::shared_ptr<polyrpc::ServerCall>> incoming_;
  std::unordered_set<void*> tags_;                  // take-style requests pending or untaken
  std::unordered_map<void*, polyrpc_call*> ready_;  // their calls, until taken
  std::mutex shutdown_mu_;
};

void ShutdownServerState(ServerState& state, polyrpc::Deadline deadline) {
  state.Shutdown(deadline);
  state.DropUntaken();
}

namespace {
ServerHandle* CheckServerHandle(polyrpc_server* s) {
  auto* s_h = Check(s, kServerTag, "server");
  if (s_h->owner != CurrentOwner()) {
    ThrowForeignOwner(s_h->owner, "server");
  }
  return s_h;
}
ServerState& CheckServer(polyrpc_server* s) { return *CheckServerHandle(s)->state; }
}  // namespace

void EnableServerReflection(polyrpc_server* server,
                            std::shared_ptr<polyrpc::DescriptorDatabase> db) {
  ServerState& st = CheckServer(server);
  st.RequireNotStarted("enable_reflection");
  polyrpc::EnableReflectionService(st.server(), std::move(db));
}

}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

polyrpc_error_t polyrpc_server_create(const polyrpc_options_t* opts, polyrpc_server_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  const OptionsHandle* opts_h = opts ? Check(opts, kOptionsTag, "options") : nullptr;
  auto s = std::make_unique<ServerHandle>();
  s->owner = CurrentOwner();
  s->state = std::make_shared<ServerState>(opts_h ? opts_h->options : polyrpc::Options());
  RegisterServer(s->state);
  *out = ToC(s.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_add_listener(polyrpc_server_t* server, const char* address,
                                            const polyrpc_server_credentials_t* creds,
                                            int* port) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  RequireArg(address != nullptr && *address != '\0', "address is NULL or empty");
  auto* creds_h = Check(creds, kServerCredsTag, "server credentials");
  st.RequireNotStarted("add_listener");
  std::string error;
  int bound = st.server().AddListener(address, creds_h->creds, &error);
  if (bound < 0) {
    Throw(creds_h->creds && creds_h->creds->tls
              ? ClassifySetupError(error, POLYRPC_ERROR_IO, address)
              : POLYRPC_ERROR_IO,
          std::string("cannot listen on \"") + address + "\": " + error);
  }
  if (port) *port = bound;
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_register_method(polyrpc_server_t* server, const char* path) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  RequireArg(path != nullptr && path[0] == '/', "path must be \"/package.Service/Method\"");
  st.RequireNotStarted("register_method");
  st.server().RegisterMethod(path, st.MakeHandler());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_enable_generic(polyrpc_server_t* server) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  st.RequireNotStarted("enable_generic");
  st.server().SetGenericHandler(st.MakeHandler());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_enable_health(polyrpc_server_t* server) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  st.RequireNotStarted("enable_health");
  st.EnableHealth();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_set_health_status(polyrpc_server_t* server, const char* service,
                                                 int status) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  RequireArg(service != nullptr, "service is NULL (\"\" is the whole server)");
  RequireArg(status >= POLYRPC_HEALTH_UNKNOWN && status <= POLYRPC_HEALTH_SERVICE_UNKNOWN,
             "status is not a polyrpc_health_status_t");
  st.SetHealthStatus(service, status);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_start(polyrpc_server_t* server) {
  POLYRPC_API_TRY
  CheckServer(server).Start();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

namespace {
// polyrpc_server_request_call and _v2 (call_out NULL).
polyrpc_error_t RequestCall(polyrpc_server_t* server, polyrpc_call_t** call_out, polyrpc_cq_t* cq,
                            void* tag) {
  ServerState& st = CheckServer(server);
  OpTarget target = MakeTarget(cq, tag);
  std::shared_ptr<OpWaiter> waiter = target.waiter;
  OpTarget abandon = target;  // what to undo if the request is not taken
  // Keep the state alive while blocked, even if another thread destroys the handle.
  std::shared_ptr<ServerState> keep = CheckServerHandle(server)->state;
  try {
    st.RequestCall(call_out, tag, target);
  } catch (...) {
    abandon.Abandon();  // the request was not taken: no completion will come
    throw;
  }
  if (waiter && !waiter->Wait()) Throw(POLYRPC_ERROR_CLOSED, "the server shut down");
  return POLYRPC_OK;
}
}  // namespace

polyrpc_error_t polyrpc_server_request_call(polyrpc_server_t* server, polyrpc_call_t** call_out,
                                            polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  RequireArg(call_out != nullptr, "call_out is NULL");
  *call_out = nullptr;
  return RequestCall(server, call_out, cq, tag);
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_request_call_v2(polyrpc_server_t* server, polyrpc_cq_t* cq,
                                               void* tag) {
  POLYRPC_API_TRY
  return RequestCall(server, nullptr, cq, tag);
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_take_call(polyrpc_server_t* server, void* tag,
                                         polyrpc_call_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  *out = CheckServer(server).TakeCall(tag);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_shutdown(polyrpc_server_t* server, int64_t timeout_ms) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  std::shared_ptr<ServerState> keep = CheckServerHandle(server)->state;
  st.Shutdown(timeout_ms < 0 ? polyrpc::InfiniteDeadline()
                             : polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms)));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_shutdown_async(polyrpc_server_t* server, int64_t timeout_ms,
                                              polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CheckServer(server);
  RequireArg(cq != nullptr, "cq is NULL (polyrpc_server_shutdown blocks)");
  std::shared_ptr<ServerState> state = CheckServerHandle(server)->state;
  OpTarget target = MakeTarget(cq, tag);
  polyrpc::Deadline deadline =
      timeout_ms < 0 ? polyrpc::InfiniteDeadline()
                     : polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  // The first phase (no new requests, pending ones failed) happens in Shutdown too, but on the
  // waiting thread; the thread keeps the state alive until it is done.
  try {
    std::thread([state = std::move(state), target, deadline] {
      state->Shutdown(deadline);
      target.Deliver(true);
    }).detach();
  } catch (...) {
    target.Abandon();
    throw;
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_server_destroy(polyrpc_server_t* server) {
  POLYRPC_API_TRY
  if (server == nullptr) return;
  auto* server_h = Check(server, kServerTag, "server");
  if (server_h->owner != CurrentOwner()) {
    KeepForever(std::move(server_h->state));  // a parent's server in a fork child
  } else if (server_h->state) {
    // Shut down now, not when the last reference goes: a thread blocked in request_call holds
    // one, and must be released (success=0) by this destroy.
    server_h->state->Shutdown(polyrpc::Clock::now());
    server_h->state->DropUntaken();
  }
  server_h->state.reset();
  Retire(server_h);
  POLYRPC_API_CATCH_VOID
}

}  // extern "C"
