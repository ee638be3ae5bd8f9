// ServerImpl and ServerCallImpl: the server side. Listeners accept on one loop and hand each
// connection to a loop of the runtime (round robin); a connection and all its calls stay there,
// and handlers run inline on that loop thread, or on the method's executor (MethodOptions).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "call/call_base.h"
#include "polyrpc++/server.hpp"
#include "polyrpc++/thread_pool.hpp"
#include "runtime/object_pool.h"
#include "transport/listener.h"
#include "transport/tls_context.h"
#include "web/grpc_web.h"

namespace polyrpc {

class ServerImpl;
namespace web {
class Http1Hub;  // web/http1_server.h
}

class ServerCallImpl final : public ServerCall, public CallBase {
 public:
  POLYRPC_POOLED_CLASS(ServerCallImpl)

  // quota: the connection's; stream_charge: what the call's existence was charged to it.
  ServerCallImpl(ServerImpl* server, std::shared_ptr<Http2Connection> conn,
                 std::shared_ptr<MemoryQuota> quota, MemoryReservation stream_charge);
  ~ServerCallImpl() override;

  const std::string& method() const override { return method_ ? *method_ : NoString(); }
  const std::string& authority() const override { return authority_; }
  const Metadata& client_metadata() const override;
  Deadline deadline() const override { return deadline_; }
  std::string peer() const override { return *peer_; }
  void SetCompression(const std::string& algorithm) override;
  void SendInitialMetadata(Metadata metadata, Completion done) override;
  void SendMessage(Slice message, uint32_t flags, Completion done) override;
  void RecvMessage(Completion done) override;
  bool TakeMessage(Slice* out, bool* compressed) override {
    return TakeReadyMessage(out, compressed);
  }
  bool TryRecvMessage() override { return TryRecvNow(); }
  void SendStatus(const Status& status, Metadata trailers, Completion done) override;
  void OnDone(std::function<void(bool cancelled)> fn) override;
  bool IsCancelled() const override { return cancelled_.load(); }
  void Cancel() override;
  void ExpectOneRequest() override;
  void CloseConnectionForTesting() override;

 private:
  std::shared_ptr<ServerCallImpl> self() {
    return std::static_pointer_cast<ServerCallImpl>(shared_from_this());
  }
  void OnHeader(std::string_view name, std::string_view value) override;
  void OnHeadersEnd(bool end_stream) override;
  void OnRemoteEndStream() override;
  void OnData(const uint8_t* data, size_t len) override;
  void OnClose(uint32_t h2_error, const std::string& connection_error) override;
  void OnRecvError(StatusCode code, const std::string& message) override;
  void OnCardinalityViolation(const std::string& message) override;
  // Loop thread: ends the call UNIMPLEMENTED if what arrived already breaks expect_one_message_.
  bool CheckOneRequest();
  bool OnOutputDrained(uint32_t* data_flags) override;
  void OnLocalEndStreamSent() override;

  void HandleRequestHeaders(bool end_stream);
  // Runs the handler (inline or on the executor), once the request is in if the method waits
  // for it.
  void Dispatch();
  // The handler's handle: dropping the last copy cancels the call unless its status is on its
  // way.
  static std::shared_ptr<ServerCall> MakeHandle(std::shared_ptr<ServerCallImpl> impl);
  void DoSendInitialMetadata(Metadata md, Completion done);
  void DoSendMessage(Slice prefix, Slice payload, Completion done);

  // The hand-off to the method's executor: this call, queued on the pool with the other calls
  // of the loop turn (no allocation), keeping the call alive through dispatch_keep_.
  struct DispatchTask final : ThreadPool::Task {
    ServerCallImpl* call = nullptr;
    void Run() override;
    void Rejected() override;
  };
  DispatchTask dispatch_task_;
  std::shared_ptr<ServerCallImpl> dispatch_keep_;
  const Handler* dispatch_handler_ = nullptr;
  const MethodOptions* method_options_ = nullptr;  // null: the generic or no handler
  bool awaiting_request_ = false;  // dispatch once the first message (or the end) is in

  // The way back: the operations a handler thread starts most (initial metadata, a message, the
  // status) are left in slots of the call and the call's own node is pushed onto the loop's
  // lock-free list (EventLoop::Work): no allocation, no lock, one push for all three. Used only
  // while no operation of this call is posted (posted_ops_ == 0), which keeps the order of
  // operations. A slot is claimed with its busy flag and released by the loop once taken; the
  // loop runs the slots in the order metadata, message, status, so a slot is claimed only while
  // no later one is pending (a message after a pending status is posted, and fails as it should).
  struct CrossOps final : EventLoop::Work {
    ServerCallImpl* call = nullptr;
    void RunWork() override;
  };
  enum : uint32_t { kXInitialMetadata = 1, kXSend = 2, kXStatus = 4 };
  bool ClaimCrossSlot(std::atomic<bool>& busy, uint32_t bit);
  void ScheduleCross(uint32_t bit);
  CrossOps xwork_;
  std::atomic<uint32_t> xbits_{0};
  std::shared_ptr<ServerCallImpl> xkeep_;  // keeps the call alive while xwork_ is pushed
  std::atomic<bool> x_md_busy_{false};
  std::atomic<bool> x_send_busy_{false};
  std::atomic<bool> x_status_busy_{false};
  Metadata x_md_;
  Completion x_md_done_;
  Slice x_prefix_;
  Slice x_payload_;
  Completion x_send_done_;
  Status x_status_;
  Metadata x_trailers_;
  Completion x_status_done_;
  // Set by SendStatus on the calling thread: the handle's release need not cancel.
  std::atomic<bool> status_started_{false};
  // What the request headers said, parsed as they arrived.
  struct RequestFields {
    bool post = false;
    std::string http_method;  // only when it is not POST (for the error message)
    bool grpc_content_type = false;
    std::string content_type;  // only when it is not a gRPC one
    bool have_timeout = false;
    bool timeout_ok = false;
    int64_t timeout_ns = 0;
    std::string bad_timeout;
    std::string encoding;
    bool bad_binary = false;
  };
  RequestFields fields_;
  web::CallState web_;  // gRPC-Web requests (web/grpc_web.h); mode kNone for gRPC
  void RespondPreflight();  // CORS preflight (OPTIONS with an Origin), answered 204
  // Answers without running a handler: an HTTP error or a trailers-only gRPC status.
  void RejectHttp(int http_status, StatusCode code, const std::string& message);
  void SendHeadersIfNeeded();
  // Submits grpc-status, grpc-message and trailers (as trailers, or as a trailers-only response).
  void SubmitStatus(const Status& status, const Metadata& trailers, bool trailers_only);
  void DoSendStatus(const Status& status, const Metadata& trailers, Completion done);
  void MarkDone(bool cancelled);
  // Ends the call with this status if it can still be sent cleanly, else resets the stream.
  void FailWithStatus(StatusCode code, const std::string& message);
  void AfterStatusSent();

  ServerImpl* server_;
  // The :path, shared with the server's registration when the method is registered (no copy
  // per call); handler_ is that method's handler (null: not registered).
  std::shared_ptr<const std::string> method_;
  const Handler* handler_ = nullptr;
  static const std::string& NoString() {
    static const std::string empty;
    return empty;
  }
  std::string authority_;
  std::shared_ptr<const std::string> peer_;
  // The request's user metadata, turned into client_metadata_ when first asked for (any
  // thread, once the handler runs: the headers are complete by then).
  RawMetadata raw_metadata_;
  mutable std::once_flag metadata_once_;
  mutable Metadata client_metadata_;
  Deadline deadline_ = InfiniteDeadline();
  Compression accept_mask_[3] = {Compression::kIdentity, Compression::kUnknown,
                                 Compression::kUnknown};
  std::string client_accept_encoding_;
  bool got_request_ = false;
  std::mutex compression_mu_;  // headers_sent_ + send_compression_, for SetCompression
  bool headers_sent_ = false;
  bool rst_sent_ = false;
  Metadata initial_metadata_to_send_;
  bool status_sent_ = false;
  bool status_pending_ = false;  // trailers waiting for the output queue to drain
  Status pending_status_;
  Metadata pending_trailers_;
  Completion status_done_;
  bool stream_closed_ = false;
  std::atomic<bool> cancelled_{false};
  bool done_ = false;
  std::vector<std::function<void(bool)>> on_done_;
  std::unique_ptr<Timer> deadline_timer_;
  MemoryReservation stream_charge_;
};

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const Options& options);
  ~ServerImpl() override;

  int AddListener(const std::string& address, std::shared_ptr<ServerCredentials> creds,
                  std::string* error) override;
  void RegisterMethod(const std::string& path, Handler handler) override;
  void RegisterMethod(const std::string& path, Handler handler,
                      const MethodOptions& options) override;
  void SetGenericHandler(Handler handler) override;
  bool Start(std::string* error) override;
  void Shutdown(Deadline deadline) override;
  void Wait() override;
  ServerStats GetStats() const override;
  std::vector<std::string> RegisteredMethods() const override;
  void OnShutdown(std::function<void()> fn) override { on_shutdown_.push_back(std::move(fn)); }

  // Loop threads. The registered method for path, or null.
  struct Method {
    std::shared_ptr<const std::string> path;
    Handler handler;
    MethodOptions options;
  };
  const Method* FindMethod(std::string_view path) const;
  const Handler* generic_handler() const { return generic_ ? &generic_ : nullptr; }
  size_t max_recv() const { return max_recv_; }
  // Testing hook (reliability/h2spec): any method and content-type reaches the handler, so
  // that h2spec's "GET /" gets an answer with a body instead of gRPC's 405.
  bool testing_accept_any_request() const { return testing_accept_any_request_; }
  int64_t max_send() const { return max_send_; }
  // Serves one connection over ep (connected; TLS, if any, inside it) on loop. Loop thread.
  // The second half of accepting a socket, and how fuzz/server_http2 feeds a server without
  // one (an in-memory endpoint).
  void ServeEndpoint(EventLoop* loop, std::unique_ptr<Endpoint> ep);

 private:
  void OnAccept(int fd, std::string peer, std::shared_ptr<TlsContext> tls);
  void OnConnectionClosed(Http2Connection* conn);

  Options options_;
  std::shared_ptr<Runtime> runtime_;
  Http2Settings settings_;
  // Every connection's quota has this one as its parent.
  std::shared_ptr<MemoryQuota> quota_;
  int64_t connection_memory_limit_;
  bool testing_accept_any_request_ = false;
  std::atomic<uint64_t> streams_refused_{0};
  size_t max_recv_;
  int64_t max_send_;
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, Method, PathHash, std::equal_to<>> methods_;
  Handler generic_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::function<void()>> on_shutdown_;
  std::atomic<bool> started_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Http2Connection*, std::shared_ptr<Http2Connection>> conns_;
  bool shutting_down_ = false;
  bool shutdown_done_ = false;
  // Accepted connections go through it: HTTP/2 to ServeEndpoint, HTTP/1.1 (gRPC-Web) bridged.
  std::shared_ptr<web::Http1Hub> web_hub_;
};

}  // namespace polyrpc
