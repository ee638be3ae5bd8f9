// ServerImpl and ServerCallImpl: the server side. Listeners accept on one loop and hand each
// connection to a loop of the runtime (round robin); a connection and all its calls stay there,
// and handlers run inline on that loop thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "call/call_base.h"
#include "runtime/object_pool.h"
#include "polyrpc++/server.hpp"
#include "transport/listener.h"
#include "transport/tls_context.h"

namespace polyrpc {

class ServerImpl;

class ServerCallImpl final : public ServerCall, public CallBase {
 public:
  POLYRPC_POOLED_CLASS(ServerCallImpl)

  ServerCallImpl(ServerImpl* server, std::shared_ptr<Http2Connection> conn);
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
  void CloseConnectionForTesting() override;

 private:
  std::shared_ptr<ServerCallImpl> self() {
    return std::static_pointer_cast<ServerCallImpl>(shared_from_this());
  }
  void OnHeader(std::string_view name, std::string_view value) override;
  void OnHeadersEnd(bool end_stream) override;
  void OnRemoteEndStream() override;
  void OnClose(uint32_t h2_error, const std::string& connection_error) override;
  void OnRecvError(StatusCode code, const std::string& message) override;
  bool OnOutputDrained(uint32_t* data_flags) override;
  void OnLocalEndStreamSent() override;

  void HandleRequestHeaders(bool end_stream);
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
};

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const Options& options);
  ~ServerImpl() override;

  int AddListener(const std::string& address, std::shared_ptr<ServerCredentials> creds,
                  std::string* error) override;
  void RegisterMethod(const std::string& path, Handler handler) override;
  void SetGenericHandler(Handler handler) override;
  bool Start(std::string* error) override;
  void Shutdown(Deadline deadline) override;
  void Wait() override;

  // Loop threads. The registered method for path, or null.
  struct Method {
    std::shared_ptr<const std::string> path;
    Handler handler;
  };
  const Method* FindMethod(std::string_view path) const;
  const Handler* generic_handler() const { return generic_ ? &generic_ : nullptr; }
  size_t max_recv() const { return max_recv_; }
  int64_t max_send() const { return max_send_; }

 private:
  void OnAccept(int fd, std::string peer, std::shared_ptr<TlsContext> tls);
  void OnConnectionClosed(Http2Connection* conn);

  Options options_;
  std::shared_ptr<Runtime> runtime_;
  Http2Settings settings_;
  size_t max_recv_;
  int64_t max_send_;
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, Method, PathHash, std::equal_to<>> methods_;
  Handler generic_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::atomic<bool> started_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Http2Connection*, std::shared_ptr<Http2Connection>> conns_;
  bool shutting_down_ = false;
  bool shutdown_done_ = false;
};

}  // namespace polyrpc
