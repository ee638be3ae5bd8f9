// Calls, client and server side. Each C operation maps 1:1 onto the core operation of the same
// name; its Completion delivers straight to the cq (or the blocked thread), with no thread hop.
#include <chrono>
#include <cstring>
#include <list>
#include <optional>

#include "internal.h"

namespace polyrpc::capi {

namespace {
const polyrpc::Metadata kNoMetadata;
}

enum OpKind {
  kOpStart,
  kOpSend,
  kOpCloseSend,
  kOpRecvInitialMetadata,
  kOpRecvMessage,
  kOpRecvStatus,
  kOpSendInitialMetadata,
  kOpSendStatus,
  kOpRecvClose,
  kOpCount
};

const char* OpName(OpKind k) {
  static constexpr const char* kNames[] = {"start",        "send_message",  "close_send",
                                           "recv_initial_metadata", "recv_message",
                                           "recv_status",  "send_initial_metadata",
                                           "send_status",  "recv_close"};
  return kNames[k];
}

// The state behind a call handle. Shared with the Completions of pending operations, so that
// destroying the handle while operations are pending is safe (they still complete and deliver).
class CallState : public std::enable_shared_from_this<CallState> {
 public:
  // Client call: the core call is created at the first operation, so that the setters
  // (compression, authority, credentials) can still change its options.
  CallState(std::shared_ptr<polyrpc::Channel> channel, std::string method,
            polyrpc::CallOptions options)
      : is_server_(false),
        owner_(CurrentOwner()),
        channel_(std::move(channel)),
        method_(std::move(method)),
        options_(std::move(options)) {
    InitMetadataShells();
  }
  explicit CallState(std::shared_ptr<polyrpc::ServerCall> call)
      : is_server_(true), owner_(CurrentOwner()), server_(std::move(call)) {
    InitMetadataShells();
  }
  ~CallState() {
    for (MetadataHandle* m : {&initial_md_, &trailing_md_, &request_md_}) {
      m->tag.store(kDeadTag, std::memory_order_release);
    }
  }

  bool is_server() const { return is_server_; }
  uint64_t owner() const { return owner_; }

  void RequireClient(const char* fn) const {
    if (is_server_) Throw(POLYRPC_ERROR_WRONG_STATE, std::string(fn) + " is for client calls");
  }
  void RequireServer(const char* fn) const {
    if (!is_server_) Throw(POLYRPC_ERROR_WRONG_STATE, std::string(fn) + " is for server calls");
  }

  // Client setters: only before the core call exists. Under mu_, as Client() reads the options
  // there: a setter racing the first operation (or a cancel) either lands before it or fails.
  template <typename F>
  void SetOptions(F&& set) {
    RequireClient("this setter");
    std::lock_guard<std::mutex> lock(mu_);
    if (client_ready_.load(std::memory_order_acquire)) {
      Throw(POLYRPC_ERROR_WRONG_STATE, "the call has started: set options before the first operation");
    }
    set(options_);
  }
  bool client_started() const { return client_ready_.load(std::memory_order_acquire); }

  polyrpc::ClientCall& Client() {
    if (!client_ready_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!client_) client_ = channel_->CreateCall(method_, options_);
      client_ready_.store(true, std::memory_order_release);
    }
    return *client_;
  }
  polyrpc::ServerCall& Server() { return *server_; }

  // Starts one operation of kind k reporting to (cq, tag), or blocks when cq is NULL.
  // start(done) calls the core; done must be called exactly once by the core.
  // Blocking: with result NULL a failed operation (success=0) is the CLOSED error of the 0.1
  // functions; with result, *result gets the outcome and the function returns OK.
  template <typename Start>
  polyrpc_error_t RunOp(OpKind k, polyrpc_cq_t* cq, void* tag, Start&& start,
                        bool* result = nullptr) {
    OpTarget target = MakeTarget(cq, tag);
    if (busy_[k].exchange(true, std::memory_order_acq_rel)) {
      target.Abandon();
      Throw(POLYRPC_ERROR_BUSY, std::string("a ") + OpName(k) + " operation is already pending");
    }
    std::shared_ptr<OpWaiter> waiter = target.waiter;
    std::shared_ptr<CompletionQueue> q = target.cq;
    uint64_t op = target.op;
    // A blocking client operation runs the call's I/O on this thread while it waits (see
    // polyrpc::IoDriver): taken before the operation starts, so that it starts here too.
    std::optional<polyrpc::IoDriver> driver;
    if (waiter && !is_server_) driver.emplace(Client());
    polyrpc::Completion done = [self = shared_from_this(), k, target = std::move(target)](bool ok) {
      // Free the slot before delivering, so the completion handler may start the next one.
      self->OnOpDone(k, ok);
      target.Deliver(ok);
    };
    try {
      start(std::move(done));
    } catch (...) {
      // The core did not take the operation (it never throws once it has).
      busy_[k].store(false, std::memory_order_release);
      if (q) q->AbandonOp(op);
      throw;
    }
    if (!waiter) return POLYRPC_OK;
    // Blocking style. recv_status and recv_close promise a final state when they return, so only
    // the core's completion ends them; the others also end when another thread cancels.
    bool abortable = k != kOpRecvStatus && k != kOpRecvClose;
    if (abortable) AddWaiter(waiter);
    bool ok = waiter->Wait(driver ? &*driver : nullptr);
    if (abortable) RemoveWaiter(waiter);
    if (result != nullptr) {
      *result = ok;
      return POLYRPC_OK;
    }
    if (!ok) {
      Throw(POLYRPC_ERROR_CLOSED, std::string(OpName(k)) +
                                      " did not succeed (end of stream, or the call is over)");
    }
    return POLYRPC_OK;
  }

  void OnOpDone(OpKind k, bool ok) {
    if (k == kOpRecvStatus) status_ready_.store(true, std::memory_order_release);
    if (k == kOpRecvInitialMetadata && ok) initial_ready_.store(true, std::memory_order_release);
    busy_[k].store(false, std::memory_order_release);
  }

  // Blocking receive's fast path: a message that has already arrived is taken on the calling
  // thread (no I/O-thread round trip). False: nothing queued, or a receive is pending (then
  // RunOp reports it).
  bool TryRecvNow() {
    if (busy_[kOpRecvMessage].exchange(true, std::memory_order_acq_rel)) return false;
    bool got = is_server_ ? server_->TryRecvMessage()
                          : (client_started() && client_->TryRecvMessage());
    busy_[kOpRecvMessage].store(false, std::memory_order_release);
    return got;
  }

  // Marks the kinds busy for polyrpc_call_unary, which runs three operations at once.
  void ClaimForUnary() {
    // All three or none: a claim that fails part way gives back what it took.
    const OpKind kinds[] = {kOpSend, kOpRecvMessage, kOpRecvStatus};
    for (size_t i = 0; i < 3; ++i) {
      if (busy_[kinds[i]].exchange(true)) {
        while (i-- > 0) busy_[kinds[i]].store(false);
        Throw(POLYRPC_ERROR_BUSY, "operations are pending on this call");
      }
    }
  }
  void ReleaseUnary() {
    busy_[kOpSend].store(false);
    busy_[kOpRecvMessage].store(false);
    busy_[kOpRecvStatus].store(false);
  }

  void Cancel() {
    if (is_server_) {
      server_->Cancel();
    } else {
      Client().Cancel();
    }
    std::vector<std::shared_ptr<OpWaiter>> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiters = waiters_;
    }
    for (auto& w : waiters) w->Abort();
  }

  // Handle destroyed: cancel unless the call is over (or its end is under way).
  void Release() {
    if (is_server_) {
      if (!status_started_.load() && !server_->IsCancelled()) server_->Cancel();
    } else if (client_ready_.load(std::memory_order_acquire) && !status_ready_.load()) {
      client_->Cancel();
    }
  }

  void MarkStatusStarted() { status_started_.store(true); }
  bool status_ready() const { return status_ready_.load(std::memory_order_acquire); }
  void SetStatusOverride(polyrpc::Status s) {
    status_override_ = std::move(s);
    has_status_override_ = true;
  }
  const polyrpc::Status& status() {
    return has_status_override_ ? status_override_ : client_->status();
  }

  const polyrpc_metadata* InitialMetadata() {
    // The core's list is final once recv_initial_metadata succeeded or the call is over;
    // before that it may be being written on the I/O thread, so it is not shown.
    bool ready = !is_server_ && (initial_ready_.load(std::memory_order_acquire) || status_ready());
    initial_md_.md.store(ready ? &client_->initial_metadata() : &kNoMetadata,
                         std::memory_order_release);
    return ToC(&initial_md_);
  }
  const polyrpc_metadata* TrailingMetadata() {
    trailing_md_.md.store((!is_server_ && status_ready()) ? &client_->trailing_metadata()
                                                          : &kNoMetadata,
                          std::memory_order_release);
    return ToC(&trailing_md_);
  }
  const polyrpc_metadata* RequestMetadata() {
    request_md_.md.store(is_server_ ? &server_->client_metadata() : &options_.metadata,
                         std::memory_order_release);
    return ToC(&request_md_);
  }

  // Returns a string that stays valid until the call is destroyed, even if the peer changes.
  const char* Peer() {
    std::string p = is_server_ ? server_->peer() : (client_started() ? client_->peer() : "");
    std::lock_guard<std::mutex> lock(mu_);
    if (peers_.empty() || peers_.back() != p) peers_.push_back(std::move(p));
    return peers_.back().c_str();
  }

  const std::string& method() const { return is_server_ ? server_->method() : method_; }
  polyrpc::Deadline deadline() const {
    return is_server_ ? server_->deadline() : options_.deadline;
  }

 private:
  void InitMetadataShells() {
    for (MetadataHandle* m : {&initial_md_, &trailing_md_, &request_md_}) {
      m->owned_by_call = true;
      m->md.store(&kNoMetadata, std::memory_order_relaxed);
    }
  }
  void AddWaiter(const std::shared_ptr<OpWaiter>& w) {
    std::lock_guard<std::mutex> lock(mu_);
    waiters_.push_back(w);
  }
  void RemoveWaiter(const std::shared_ptr<OpWaiter>& w) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (*it == w) {
        waiters_.erase(it);
        break;
      }
    }
  }

  const bool is_server_;
  const uint64_t owner_;
  // client
  std::shared_ptr<polyrpc::Channel> channel_;
  std::string method_;
  polyrpc::CallOptions options_;
  std::atomic<bool> client_ready_{false};
  std::shared_ptr<polyrpc::ClientCall> client_;
  bool has_status_override_ = false;
  polyrpc::Status status_override_;
  // server
  std::shared_ptr<polyrpc::ServerCall> server_;
  std::atomic<bool> status_started_{false};

  std::atomic<bool> busy_[kOpCount] = {};
  std::atomic<bool> status_ready_{false};
  std::atomic<bool> initial_ready_{false};
  std::mutex mu_;  // client_ creation, waiters_, peers_
  std::vector<std::shared_ptr<OpWaiter>> waiters_;
  std::list<std::string> peers_;
  MetadataHandle initial_md_, trailing_md_, request_md_;
};

namespace {

CallState& CheckCall(polyrpc_call* call) {
  auto* call_h = Check(call, kCallTag, "call");
  CallState& st = *call_h->state;
  if (st.owner() != CurrentOwner()) {
    ThrowForeignOwner(st.owner(), "call");
  }
  return st;
}

polyrpc::Metadata CopyMetadata(const polyrpc_metadata* md) {
  if (md == nullptr) return {};
  auto* md_h = Check(md, kMetadataTag, "metadata");
  return md_h->list();
}

// POLYRPC_WRITE_* to the core's write flags; throws for unknown ones.
uint32_t CoreWriteFlags(CallState& st, uint32_t flags) {
  RequireArg((flags & ~(POLYRPC_WRITE_NO_COMPRESS | POLYRPC_WRITE_LAST)) == 0,
             "unknown write flags");
  uint32_t core_flags = 0;
  if (flags & POLYRPC_WRITE_NO_COMPRESS) core_flags |= polyrpc::kWriteNoCompress;
  if (flags & POLYRPC_WRITE_LAST) {
    st.RequireClient("POLYRPC_WRITE_LAST");
    core_flags |= polyrpc::kWriteLast;
  }
  return core_flags;
}

polyrpc_buffer* WrapSlice(polyrpc::Slice s) {
  auto b = std::make_unique<BufferHandle>();
  b->slice = std::move(s);
  return ToC(b.release());
}

}  // namespace
}  // namespace polyrpc::capi

using namespace polyrpc::capi;

polyrpc_call* polyrpc_capi_wrap_server_call(std::shared_ptr<polyrpc::ServerCall> call) {
  auto c = std::make_unique<CallHandle>();
  c->state = std::make_shared<CallState>(std::move(call));
  return ToC(c.release());
}

extern "C" {

// ---- per-call credentials ----

polyrpc_error_t polyrpc_call_credentials_create_bearer(const char* token,
                                                       polyrpc_call_credentials_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(token != nullptr, "token is NULL");
  for (const char* p = token; *p; p++) {
    RequireArg(*p >= 0x20 && *p <= 0x7e, "token has a non-printable character");
  }
  auto c = std::make_unique<CallCredsHandle>();
  c->bearer_token = token;
  *out = ToC(c.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_call_credentials_destroy(polyrpc_call_credentials_t* creds) {
  POLYRPC_API_TRY
  if (creds == nullptr) return;
  auto* creds_h = Check(creds, kCallCredsTag, "call credentials");
  creds_h->bearer_token.clear();
  Retire(creds_h);
  POLYRPC_API_CATCH_VOID
}

// ---- client calls ----

polyrpc_error_t polyrpc_call_create(polyrpc_channel_t* ch, const char* method, int64_t timeout_ms,
                                    const polyrpc_metadata_t* metadata, uint32_t flags,
                                    polyrpc_call_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  ChannelHandle* ch_h = CheckChannel(ch);
  RequireArg(method != nullptr && method[0] == '/', "method must be \"/package.Service/Method\"");
  RequireArg((flags & ~(POLYRPC_CALL_WAIT_FOR_READY | POLYRPC_CALL_ONE_RESPONSE)) == 0,
             "unknown call flags");
  polyrpc::CallOptions options;
  if (timeout_ms >= 0) {
    options.deadline = polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  }
  options.metadata = CopyMetadata(metadata);
  options.wait_for_ready = (flags & POLYRPC_CALL_WAIT_FOR_READY) != 0;
  options.expect_one_response = (flags & POLYRPC_CALL_ONE_RESPONSE) != 0;
  auto c = std::make_unique<CallHandle>();
  c->state = std::make_shared<CallState>(ch_h->channel, method, std::move(options));
  *out = ToC(c.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_set_compression(polyrpc_call_t* call, const char* algorithm) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  RequireArg(IsKnownCompression(algorithm), "algorithm must be identity, deflate or gzip");
  st.SetOptions([&](polyrpc::CallOptions& o) { o.compression = algorithm; });
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_set_authority(polyrpc_call_t* call, const char* authority) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  RequireArg(authority != nullptr && *authority != '\0', "authority is NULL or empty");
  st.SetOptions([&](polyrpc::CallOptions& o) { o.authority = authority; });
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_set_credentials(polyrpc_call_t* call,
                                             const polyrpc_call_credentials_t* creds) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  auto* creds_h = Check(creds, kCallCredsTag, "call credentials");
  st.SetOptions([&](polyrpc::CallOptions& o) { o.bearer_token = creds_h->bearer_token; });
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_set_encoding_label_for_testing(polyrpc_call_t* call,
                                                            const char* name) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  RequireArg(name != nullptr && *name != '\0', "name is NULL or empty");
  st.SetOptions([&](polyrpc::CallOptions& o) { o.testing_encoding_label = name; });
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_start(polyrpc_call_t* call, polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireClient(__func__);
  return st.RunOp(kOpStart, cq, tag, [&](polyrpc::Completion done) {
    st.Client().Start(std::move(done));
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_close_send(polyrpc_call_t* call, polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireClient(__func__);
  return st.RunOp(kOpCloseSend, cq, tag, [&](polyrpc::Completion done) {
    st.Client().CloseSend(std::move(done));
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_recv_initial_metadata(polyrpc_call_t* call, polyrpc_cq_t* cq,
                                                   void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireClient(__func__);
  return st.RunOp(kOpRecvInitialMetadata, cq, tag, [&](polyrpc::Completion done) {
    st.Client().RecvInitialMetadata(std::move(done));
  });
  POLYRPC_API_CATCH
}

const polyrpc_metadata_t* polyrpc_call_initial_metadata(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  return CheckCall(call).InitialMetadata();
  POLYRPC_API_CATCH_RETURN(nullptr)
}

polyrpc_error_t polyrpc_call_recv_status(polyrpc_call_t* call, polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireClient(__func__);
  return st.RunOp(kOpRecvStatus, cq, tag, [&](polyrpc::Completion done) {
    st.Client().RecvStatus(std::move(done));
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_status(polyrpc_call_t* call, int* code, const char** message) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireClient(__func__);
  if (!st.status_ready()) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "the call is not over yet (wait for recv_status)");
  }
  const polyrpc::Status& s = st.status();
  if (code) *code = static_cast<int>(s.code());
  if (message) *message = s.message().c_str();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

const polyrpc_metadata_t* polyrpc_call_trailing_metadata(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  return CheckCall(call).TrailingMetadata();
  POLYRPC_API_CATCH_RETURN(nullptr)
}

polyrpc_error_t polyrpc_call_unary(polyrpc_call_t* call, const polyrpc_buffer_t* request,
                                   polyrpc_buffer_t** response) {
  POLYRPC_API_TRY
  RequireArg(response != nullptr, "response is NULL");
  *response = nullptr;
  CallState& st = CheckCall(call);
  st.RequireClient(__func__);
  auto* request_h = Check(request, kBufferTag, "request buffer");
  if (st.client_started()) {
    Throw(POLYRPC_ERROR_WRONG_STATE, "polyrpc_call_unary needs a fresh call (no operation yet)");
  }
  st.SetOptions([](polyrpc::CallOptions& o) { o.expect_one_response = true; });
  st.ClaimForUnary();
  // Three operations, one wait, with the call's I/O run on this thread meanwhile when it can
  // (polyrpc::IoDriver). The waiter is shared with the completions so that it outlives this
  // frame if need be (it does not: the core completes all three before the status).
  struct Unary {
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<int> left{3};
    bool got_message = false;
  };
  auto u = std::make_shared<Unary>();
  auto done = [u](bool is_recv) {
    return [u, is_recv](bool ok) {
      if (is_recv) u->got_message = ok;
      if (u->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(u->mu);
        u->cv.notify_all();
      }
    };
  };
  polyrpc::ClientCall& c = st.Client();
  polyrpc::IoDriver driver(c);
  c.SendMessage(request_h->slice, polyrpc::kWriteLast, done(false));
  c.RecvMessage(done(true));
  c.RecvStatus(done(false));
  auto finished = [&] { return u->left.load(std::memory_order_acquire) == 0; };
  if (driver.active()) {
    driver.RunUntil(finished);
  } else {
    std::unique_lock<std::mutex> lock(u->mu);
    u->cv.wait(lock, finished);
  }
  bool got = u->got_message;
  if (c.status().ok()) {
    polyrpc::Slice msg;
    if (!got || !c.TakeMessage(&msg)) {
      // What gRPC reports for a unary call that ended OK without a response. Set before the
      // status reads as ready: polyrpc_call_status on another thread must see it whole.
      st.SetStatusOverride(polyrpc::Status(polyrpc::StatusCode::INTERNAL,
                                           "No message returned for unary request"));
    } else {
      *response = WrapSlice(std::move(msg));
    }
  }
  st.OnOpDone(kOpRecvStatus, true);
  st.ReleaseUnary();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

// ---- both sides ----

polyrpc_error_t polyrpc_call_send_message(polyrpc_call_t* call, const polyrpc_buffer_t* buf,
                                          uint32_t flags, polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  auto* buf_h = Check(buf, kBufferTag, "buffer");
  uint32_t core_flags = CoreWriteFlags(st, flags);
  // The slice is a reference to the caller's bytes: no copy.
  polyrpc::Slice slice = buf_h->slice;
  return st.RunOp(kOpSend, cq, tag, [&](polyrpc::Completion done) {
    if (st.is_server()) {
      st.Server().SendMessage(std::move(slice), core_flags, std::move(done));
    } else {
      st.Client().SendMessage(std::move(slice), core_flags, std::move(done));
    }
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_recv_message(polyrpc_call_t* call, polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  if (cq == nullptr && st.TryRecvNow()) return POLYRPC_OK;
  return st.RunOp(kOpRecvMessage, cq, tag, [&](polyrpc::Completion done) {
    if (st.is_server()) {
      st.Server().RecvMessage(std::move(done));
    } else {
      st.Client().RecvMessage(std::move(done));
    }
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_take_message(polyrpc_call_t* call, polyrpc_buffer_t** out,
                                          int* compressed) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  if (compressed) *compressed = 0;
  CallState& st = CheckCall(call);
  polyrpc::Slice msg;
  bool was_compressed = false;
  bool got;
  if (st.is_server()) {
    got = st.Server().TakeMessage(&msg, &was_compressed);
  } else {
    got = st.client_started() && st.Client().TakeMessage(&msg, &was_compressed);
  }
  if (got) {
    *out = WrapSlice(std::move(msg));
    if (compressed) *compressed = was_compressed ? 1 : 0;
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_read(polyrpc_call_t* call, polyrpc_buffer_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  CallState& st = CheckCall(call);
  bool got = st.TryRecvNow();
  if (!got) {
    st.RunOp(
        kOpRecvMessage, nullptr, nullptr,
        [&](polyrpc::Completion done) {
          if (st.is_server()) {
            st.Server().RecvMessage(std::move(done));
          } else {
            st.Client().RecvMessage(std::move(done));
          }
        },
        &got);
  }
  if (!got) return POLYRPC_OK;  // end of stream, or the call is over
  polyrpc::Slice msg;
  bool taken = st.is_server() ? st.Server().TakeMessage(&msg, nullptr)
                              : st.Client().TakeMessage(&msg, nullptr);
  if (taken) *out = WrapSlice(std::move(msg));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_write(polyrpc_call_t* call, const polyrpc_buffer_t* buf,
                                   uint32_t flags, int* written) {
  POLYRPC_API_TRY
  RequireArg(written != nullptr, "written is NULL");
  *written = 0;
  CallState& st = CheckCall(call);
  auto* buf_h = Check(buf, kBufferTag, "buffer");
  uint32_t core_flags = CoreWriteFlags(st, flags);
  polyrpc::Slice slice = buf_h->slice;
  bool ok = false;
  st.RunOp(
      kOpSend, nullptr, nullptr,
      [&](polyrpc::Completion done) {
        if (st.is_server()) {
          st.Server().SendMessage(std::move(slice), core_flags, std::move(done));
        } else {
          st.Client().SendMessage(std::move(slice), core_flags, std::move(done));
        }
      },
      &ok);
  *written = ok ? 1 : 0;
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_cancel(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  CheckCall(call).Cancel();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

const char* polyrpc_call_peer(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  return CheckCall(call).Peer();
  POLYRPC_API_CATCH_RETURN(nullptr)
}

void polyrpc_call_destroy(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  if (call == nullptr) return;
  auto* call_h = Check(call, kCallTag, "call");
  if (call_h->state->owner() != CurrentOwner()) {
    KeepForever(std::move(call_h->state));  // a parent's call in a fork child: see KeepForever
  } else {
    call_h->state->Release();
  }
  call_h->state.reset();  // pending operations keep the state until they complete
  Retire(call_h);
  POLYRPC_API_CATCH_VOID
}

// ---- server calls ----

const char* polyrpc_call_method(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  if (!st.is_server()) return nullptr;
  return st.method().c_str();
  POLYRPC_API_CATCH_RETURN(nullptr)
}

const char* polyrpc_call_authority(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  if (!st.is_server()) return nullptr;
  return st.Server().authority().c_str();
  POLYRPC_API_CATCH_RETURN(nullptr)
}

const polyrpc_metadata_t* polyrpc_call_request_metadata(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  return CheckCall(call).RequestMetadata();
  POLYRPC_API_CATCH_RETURN(nullptr)
}

polyrpc_error_t polyrpc_call_time_remaining_ms(polyrpc_call_t* call, int64_t* ms) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  RequireArg(ms != nullptr, "ms is NULL");
  polyrpc::Deadline d = st.deadline();
  if (d == polyrpc::InfiniteDeadline()) {
    *ms = -1;
  } else {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - polyrpc::Clock::now());
    *ms = left.count() > 0 ? left.count() : 0;
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_set_response_compression(polyrpc_call_t* call,
                                                      const char* algorithm) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  RequireArg(IsKnownCompression(algorithm), "algorithm must be identity, deflate or gzip");
  st.Server().SetCompression(algorithm);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_send_initial_metadata(polyrpc_call_t* call,
                                                   const polyrpc_metadata_t* md,
                                                   polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  polyrpc::Metadata m = CopyMetadata(md);
  return st.RunOp(kOpSendInitialMetadata, cq, tag, [&](polyrpc::Completion done) {
    st.Server().SendInitialMetadata(std::move(m), std::move(done));
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_send_status(polyrpc_call_t* call, int code, const char* message,
                                         const polyrpc_metadata_t* trailers, polyrpc_cq_t* cq,
                                         void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  RequireArg(code >= 0 && code <= 16, "code must be a gRPC status code (0..16)");
  polyrpc::Metadata t = CopyMetadata(trailers);
  polyrpc::Status status(static_cast<polyrpc::StatusCode>(code), message ? message : "");
  return st.RunOp(kOpSendStatus, cq, tag, [&](polyrpc::Completion done) {
    st.MarkStatusStarted();
    st.Server().SendStatus(status, std::move(t), std::move(done));
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_recv_close(polyrpc_call_t* call, polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  return st.RunOp(kOpRecvClose, cq, tag, [&](polyrpc::Completion done) {
    st.Server().OnDone([done = std::move(done)](bool) { done(true); });
  });
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_is_cancelled(polyrpc_call_t* call, int* cancelled) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  RequireArg(cancelled != nullptr, "cancelled is NULL");
  *cancelled = st.Server().IsCancelled() ? 1 : 0;
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_expect_one_request(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  st.Server().ExpectOneRequest();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_call_close_connection_for_testing(polyrpc_call_t* call) {
  POLYRPC_API_TRY
  CallState& st = CheckCall(call);
  st.RequireServer(__func__);
  st.Server().CloseConnectionForTesting();
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

}  // extern "C"
