// Servers. Every registered method (and the generic handler when enabled) gets the same core
// handler: it pairs the new ServerCall with a pending polyrpc_server_request_call and completes
// it right there on the I/O thread, or queues the call until one is requested.
#include <chrono>
#include <deque>

#include "internal.h"

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

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the server is shut down");
    if (started_) Throw(POLYRPC_ERROR_WRONG_STATE, "the server is already started");
    std::string error;
    if (!server_->Start(&error)) Throw(POLYRPC_ERROR_IO, "cannot start the server: " + error);
    started_ = true;
  }

  // Takes target (moves from it) only when it returns normally.
  void RequestCall(polyrpc_call** call_out, OpTarget& target) {
    std::shared_ptr<polyrpc::ServerCall> call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) Throw(POLYRPC_ERROR_CLOSED, "the server is shut down");
      if (!started_) Throw(POLYRPC_ERROR_WRONG_STATE, "the server is not started");
      if (incoming_.empty()) {
        requests_.push_back(Request{call_out, std::move(target)});
        return;
      }
      call = std::move(incoming_.front());
      incoming_.pop_front();
    }
    // A call was waiting: complete at once, on this thread.
    Deliver(call_out, target, std::move(call));
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
    polyrpc_call** call_out;
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
    Deliver(req.call_out, req.target, std::move(call));
  }

  static void Deliver(polyrpc_call** call_out, const OpTarget& target,
                      std::shared_ptr<polyrpc::ServerCall> call) {
    if (target.cq && target.cq->IsDestroyed()) {
      // Nobody will ever see this call (and call_out may be gone with the cq's owner): end it
      // now rather than leave the client waiting for its deadline.
      call->Cancel();
      target.Deliver(false);
      return;
    }
    polyrpc_call* handle = nullptr;
    try {
      handle = polyrpc_capi_wrap_server_call(call);
    } catch (...) {
      call->Cancel();
      target.Deliver(false);
      return;
    }
    *call_out = handle;
    target.Deliver(true);
  }

  std::unique_ptr<polyrpc::Server> server_;
  std::mutex mu_;
  bool started_ = false;
  bool shutdown_ = false;
  std::deque<Request> requests_;
  std::deque<std::shared_ptr<polyrpc::ServerCall>> incoming_;
  std::mutex shutdown_mu_;
};

namespace {
ServerHandle* CheckServerHandle(polyrpc_server* s) {
  auto* s_h = Check(s, kServerTag, "server");
  if (s_h->pid != CurrentPid()) {
    Throw(POLYRPC_ERROR_CLOSED, "the server belongs to the parent process (fork)");
  }
  return s_h;
}
ServerState& CheckServer(polyrpc_server* s) { return *CheckServerHandle(s)->state; }
}  // namespace

}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

polyrpc_error_t polyrpc_server_create(const polyrpc_options_t* opts, polyrpc_server_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  const OptionsHandle* opts_h = opts ? Check(opts, kOptionsTag, "options") : nullptr;
  auto s = std::make_unique<ServerHandle>();
  s->pid = CurrentPid();
  s->state = std::make_shared<ServerState>(opts_h ? opts_h->options : polyrpc::Options());
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
    Throw(ClassifySetupError(error, POLYRPC_ERROR_IO),
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

polyrpc_error_t polyrpc_server_start(polyrpc_server_t* server) {
  POLYRPC_API_TRY
  CheckServer(server).Start();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_request_call(polyrpc_server_t* server, polyrpc_call_t** call_out,
                                            polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  ServerState& st = CheckServer(server);
  RequireArg(call_out != nullptr, "call_out is NULL");
  *call_out = nullptr;
  OpTarget target;
  if (cq) {
    target.cq = Check(cq, kCqTag, "cq")->q;
    target.tag = tag;
    target.cq->BeginOp();
  } else {
    target.waiter = std::make_shared<OpWaiter>();
  }
  std::shared_ptr<OpWaiter> waiter = target.waiter;
  std::shared_ptr<CompletionQueue> q = target.cq;
  // Keep the state alive while blocked, even if another thread destroys the handle.
  std::shared_ptr<ServerState> keep = CheckServerHandle(server)->state;
  try {
    st.RequestCall(call_out, target);
  } catch (...) {
    if (q) q->AbandonOp();  // the request was not taken: no completion will come
    throw;
  }
  if (waiter && !waiter->Wait()) Throw(POLYRPC_ERROR_CLOSED, "the server shut down");
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

void polyrpc_server_destroy(polyrpc_server_t* server) {
  POLYRPC_API_TRY
  if (server == nullptr) return;
  auto* server_h = Check(server, kServerTag, "server");
  if (server_h->pid != CurrentPid()) {
    KeepForever(std::move(server_h->state));  // a parent's server in a fork child
  } else if (server_h->state) {
    // Shut down now, not when the last reference goes: a thread blocked in request_call holds
    // one, and must be released (success=0) by this destroy.
    server_h->state->Shutdown(polyrpc::Clock::now());
  }
  server_h->state.reset();
  Retire(server_h);
  POLYRPC_API_CATCH_VOID
}

}  // extern "C"
