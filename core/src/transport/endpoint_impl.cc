// The Endpoint implementation: a libuv stream (TCP or Unix socket) plus, for TLS, an OpenSSL
// session over memory BIOs so that all socket I/O stays in libuv.
//
// Lifetime rules that shape this file:
//  - The Endpoint may be destroyed right after Close(), but libuv frees a handle only in its
//    close callback. The handle therefore lives in a separate HandleBlock, freed by that
//    callback; libuv callbacks reach the endpoint through HandleBlock::owner, which Close()
//    clears.
//  - A handler callback may destroy the endpoint (and its owner). After calling out, code
//    re-checks HandleBlock::owner (the block outlives the current libuv callback) and never
//    touches `this` after OnEndpointClosed.
//  - Errors detected inside Write() or Start() are reported from a later loop turn, so that the
//    owner is never re-entered with OnEndpointClosed from inside its own call.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <vector>

#include "transport/endpoint.h"
#include "transport/tls_context.h"

namespace polyrpc {

namespace {

// Socket reads go to the loop's shared read buffer (EventLoop::read_buffer): reads are consumed
// synchronously, so a per-connection buffer only cost 64 KiB of resident memory for every idle
// connection.
constexpr size_t kReadBufferSize = EventLoop::kReadBufferSize;
// Plaintext is cut into records of at most this size (the TLS maximum), copying small gather
// pieces together so that a 9-byte frame header does not become a record of its own.
constexpr size_t kTlsRecordSize = 16 * 1024;

class EndpointImpl;

struct HandleBlock {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };
  EndpointImpl* owner = nullptr;
  // Reused for every read (and, for TLS, for the decrypted plaintext).
};

struct WriteReq {
  uv_write_t req;
  std::unique_ptr<WriteBatch> batch;  // keeps the bytes alive until libuv is done with them
  size_t bytes = 0;                   // not yet written when queued
};

std::string UvError(const char* what, int code) {
  return std::string(what) + ": " + uv_strerror(code);
}

class EndpointImpl final : public Endpoint {
 public:
  EndpointImpl(EventLoop* loop, std::string peer) : loop_(loop), peer_(std::move(peer)) {}

  ~EndpointImpl() override {
    Close();
    if (ssl_ != nullptr) SSL_free(ssl_);  // also frees both BIOs
  }

  // Called once by CreateEndpoint. On failure the fd is closed.
  bool Init(int fd, std::shared_ptr<TlsContext> tls, bool tls_server,
            const std::string& server_name, std::string* error) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      *error = std::string("getsockname: ") + strerror(errno);
      ::close(fd);
      return false;
    }
    auto block = std::make_unique<HandleBlock>();
    int r;
    if (ss.ss_family == AF_UNIX) {
      r = uv_pipe_init(loop_->uv(), &block->pipe, 0);
      if (r == 0) r = uv_pipe_open(&block->pipe, fd);
    } else {
      r = uv_tcp_init(loop_->uv(), &block->tcp);
      if (r == 0) r = uv_tcp_open(&block->tcp, fd);
      if (r == 0) uv_tcp_nodelay(&block->tcp, 1);
    }
    if (r != 0) {
      *error = UvError("cannot open socket", r);
      ::close(fd);
      // An initialised handle must still go through uv_close.
      if (block->handle.loop != nullptr) {
        block->handle.data = block.get();
        uv_close(&block->handle, &EndpointImpl::OnHandleClosed);
        block.release();
      }
      return false;
    }
    block->owner = this;
    block->handle.data = block.get();
    block_ = block.release();  // freed in OnHandleClosed
    if (tls != nullptr && !InitTls(std::move(tls), tls_server, server_name, error)) {
      Close();
      return false;
    }
    return true;
  }

  void Start(Handler* handler) override {
    if (closed_ || handler_ != nullptr) return;
    handler_ = handler;
    int r = uv_read_start(&block_->stream, &EndpointImpl::OnAlloc, &EndpointImpl::OnRead);
    if (r != 0) {
      FailLater(UvError("read failed", r));
      return;
    }
    if (ssl_ != nullptr && !tls_server_) {
      // Sends the ClientHello; failures here are reported from the next loop turn.
      int hr = SSL_do_handshake(ssl_);
      int err = SSL_get_error(ssl_, hr);
      if (hr <= 0 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        FailLater("TLS handshake failed: " + TlsErrorString("cannot start handshake"));
        return;
      }
      FlushTls();
    }
  }

  void Write(std::unique_ptr<WriteBatch> batch) override {
    if (closed_ || batch == nullptr || batch->empty()) return;
    if (ssl_ == nullptr) {
      WriteRaw(std::move(batch));
      return;
    }
    if (!handshake_done_) {
      held_bytes_ += batch->size();
      held_.push_back(std::move(batch));
      return;
    }
    if (!Encrypt(*batch)) return;
    batch.reset();
    FlushTls();
  }

  size_t PendingWriteBytes() const override { return pending_bytes_ + held_bytes_; }

  void ShutdownWrite() override {
    if (closed_ || write_shut_) return;
    write_shut_ = true;
    if (ssl_ != nullptr && handshake_done_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // queues close_notify
      FlushTls();
    }
    auto req = std::make_unique<uv_shutdown_t>();
    if (uv_shutdown(req.get(), &block_->stream, [](uv_shutdown_t* r, int) { delete r; }) == 0) {
      req.release();  // freed by the callback (also when the handle closes first: ECANCELED)
    }
  }

  void SetReadPaused(bool paused) override {
    if (closed_ || handler_ == nullptr || paused == read_paused_) return;
    read_paused_ = paused;
    int r = paused ? uv_read_stop(&block_->stream)
                   : uv_read_start(&block_->stream, &EndpointImpl::OnAlloc, &EndpointImpl::OnRead);
    if (r != 0) FailLater(UvError("read failed", r));
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    held_.clear();
    held_bytes_ = 0;
    if (block_ != nullptr) {
      block_->owner = nullptr;
      if (!uv_is_closing(&block_->handle)) {
        uv_read_stop(&block_->stream);
        uv_close(&block_->handle, &EndpointImpl::OnHandleClosed);
      }
      block_ = nullptr;
    }
  }

  EventLoop* loop() const override { return loop_; }
  const std::string& peer() const override { return peer_; }
  bool is_tls() const override { return ssl_ != nullptr; }
  std::string alpn() const override { return alpn_; }

 private:
  bool InitTls(std::shared_ptr<TlsContext> tls, bool tls_server, const std::string& server_name,
               std::string* error) {
    if (tls->is_server() != tls_server) {
      *error = tls_server ? "TLS server endpoint needs a server TlsContext"
                          : "TLS client endpoint needs a client TlsContext";
      return false;
    }
    tls_ = std::move(tls);
    tls_server_ = tls_server;
    ERR_clear_error();
    ssl_ = SSL_new(tls_->ctx());
    if (ssl_ == nullptr) {
      *error = "SSL_new failed: " + TlsErrorString("unknown error");
      return false;
    }
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, rbio_, wbio_);  // ssl_ owns both from here
    if (tls_server) {
      SSL_set_accept_state(ssl_);
      return true;
    }
    SSL_set_connect_state(ssl_);
    std::string name = tls_->server_name_override().empty() ? server_name
                                                            : tls_->server_name_override();
    // Accept "host", "host:port", "[v6]" and "[v6]:port".
    if (!name.empty() && name[0] == '[') {
      name = name.substr(1, name.find(']') - 1);
    } else if (size_t colon = name.find(':');
               colon != std::string::npos && name.find(':', colon + 1) == std::string::npos) {
      name.resize(colon);
    }
    if (name.empty()) {
      *error = "TLS client needs a server name to verify";
      return false;
    }
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name.c_str(), ip) == 1 ||
                 inet_pton(AF_INET6, name.c_str(), ip) == 1;
    if (is_ip) {
      // No SNI for IP literals (RFC 6066); the certificate must carry an IP SAN.
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) != 1) {
        *error = "cannot verify IP " + name + ": " + TlsErrorString("bad address");
        return false;
      }
    } else {
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set_tlsext_host_name(ssl_, name.c_str()) != 1 ||
          SSL_set1_host(ssl_, name.c_str()) != 1) {
        *error = "cannot set TLS server name " + name + ": " + TlsErrorString("bad name");
        return false;
      }
    }
    return true;
  }

  static void OnHandleClosed(uv_handle_t* h) {
    std::unique_ptr<HandleBlock> block(static_cast<HandleBlock*>(h->data));
  }

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    *buf = uv_buf_init(EventLoop::FromUv(h->loop)->read_buffer(), kReadBufferSize);
  }

  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* block = static_cast<HandleBlock*>(s->data);
    if (block->owner == nullptr || n == 0) return;
    block->owner->HandleRead(n);
  }

  static void OnWriteDone(uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
    auto* block = static_cast<HandleBlock*>(req->handle->data);
    EndpointImpl* self = block->owner;
    if (self == nullptr) return;  // closed: just release the bytes
    self->pending_bytes_ -= w->bytes;
    w.reset();
    if (status < 0) {
      self->CloseWithReason(UvError("write failed", status));
      return;
    }
    if (self->pending_bytes_ == 0 && self->handler_ != nullptr) self->handler_->OnEndpointWritable();
  }

  void HandleRead(ssize_t n) {
    if (n < 0) {
      CloseWithReason(n == UV_EOF ? "connection closed by peer"
                                  : UvError("read failed", static_cast<int>(n)));
      return;
    }
    if (ssl_ == nullptr) {
      handler_->OnEndpointRead(reinterpret_cast<const uint8_t*>(loop_->read_buffer()),
                               static_cast<size_t>(n));
      return;  // `this` may be gone
    }
    BIO_write(rbio_, loop_->read_buffer(), static_cast<int>(n));
    if (!handshake_done_ && !ContinueHandshake()) return;
    ReadPlaintext();
  }

  // Returns true when the handshake has completed and the endpoint is still open.
  bool ContinueHandshake() {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      handshake_done_ = true;
      const unsigned char* proto = nullptr;
      unsigned int proto_len = 0;
      SSL_get0_alpn_selected(ssl_, &proto, &proto_len);
      alpn_.assign(reinterpret_cast<const char*>(proto), proto_len);
      if (!tls_server_ && alpn_ != "h2") {
        FlushTls();
        CloseWithReason("TLS peer did not negotiate ALPN h2");
        return false;
      }
      std::vector<std::unique_ptr<WriteBatch>> held = std::move(held_);
      held_.clear();
      held_bytes_ = 0;
      for (auto& b : held) {
        if (!Encrypt(*b)) return false;
      }
      FlushTls();
      return !closed_;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      FlushTls();
      return false;
    }
    std::string reason = "TLS handshake failed: ";
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      reason += std::string("certificate verify failed: ") +
                X509_verify_cert_error_string(verify) + " (" + TlsErrorString("") + ")";
    } else {
      reason += TlsErrorString(err == SSL_ERROR_SYSCALL ? "connection closed during handshake"
                                                        : "unknown error");
    }
    FlushTls();  // best effort: lets the peer see our alert
    CloseWithReason(reason);
    return false;
  }

  void ReadPlaintext() {
    HandleBlock* block = block_;
    for (;;) {
      ERR_clear_error();
      int r = SSL_read(ssl_, loop_->read_buffer(), kReadBufferSize);
      if (r > 0) {
        handler_->OnEndpointRead(reinterpret_cast<const uint8_t*>(loop_->read_buffer()),
                                 static_cast<size_t>(r));
        if (block->owner == nullptr) return;  // closed (and maybe destroyed) by the handler
        continue;
      }
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ) break;
      if (err == SSL_ERROR_ZERO_RETURN) {
        CloseWithReason("TLS connection closed by peer");
      } else {
        CloseWithReason("TLS read failed: " + TlsErrorString("connection error"));
      }
      return;
    }
    FlushTls();  // post-handshake messages (key updates) produce output while reading
  }

  // Feeds the batch's plaintext into the TLS session; the records accumulate in wbio_.
  bool Encrypt(const WriteBatch& batch) {
    uint8_t stage[kTlsRecordSize];
    size_t staged = 0;
    auto write_out = [&](const void* p, size_t n) {
      ERR_clear_error();
      int r = SSL_write(ssl_, p, static_cast<int>(n));
      if (r <= 0) {
        FailLater("TLS write failed: " + TlsErrorString("connection error"));
        return false;
      }
      return true;
    };
    for (const uv_buf_t& b : batch.Iovecs()) {
      const char* p = b.base;
      size_t n = b.len;
      while (n > 0) {
        if (staged == 0 && n >= kTlsRecordSize) {  // whole records straight from the slice
          if (!write_out(p, kTlsRecordSize)) return false;
          p += kTlsRecordSize;
          n -= kTlsRecordSize;
          continue;
        }
        size_t take = std::min(n, kTlsRecordSize - staged);
        std::memcpy(stage + staged, p, take);
        staged += take;
        p += take;
        n -= take;
        if (staged == kTlsRecordSize) {
          if (!write_out(stage, staged)) return false;
          staged = 0;
        }
      }
    }
    return staged == 0 || write_out(stage, staged);
  }

  // Moves everything OpenSSL produced into one socket write.
  void FlushTls() {
    size_t n = BIO_ctrl_pending(wbio_);
    if (n == 0 || closed_) return;
    std::string out(n, '\0');
    int got = BIO_read(wbio_, out.data(), static_cast<int>(n));
    if (got <= 0) return;
    out.resize(static_cast<size_t>(got));
    auto batch = std::make_unique<WriteBatch>();
    batch->AppendSlice(Slice::FromString(std::move(out)));
    WriteRaw(std::move(batch));
  }

  void WriteRaw(std::unique_ptr<WriteBatch> batch) {
    if (closed_) return;
    std::vector<uv_buf_t> iov = batch->Iovecs();
    size_t total = batch->size();
    size_t written = 0;
    if (pending_bytes_ == 0) {
      int r = uv_try_write(&block_->stream, iov.data(), static_cast<unsigned>(iov.size()));
      if (r >= 0) {
        written = static_cast<size_t>(r);
      } else if (r != UV_EAGAIN) {
        FailLater(UvError("write failed", r));
        return;
      }
    }
    if (written == total) return;
    size_t first = 0;
    while (written >= iov[first].len) {
      written -= iov[first].len;
      ++first;
    }
    iov[first].base += written;
    iov[first].len -= written;
    size_t remaining = 0;
    for (size_t i = first; i < iov.size(); ++i) remaining += iov[i].len;
    auto req = std::make_unique<WriteReq>();
    req->req.data = req.get();
    req->batch = std::move(batch);
    req->bytes = remaining;
    int r = uv_write(&req->req, &block_->stream, iov.data() + first,
                     static_cast<unsigned>(iov.size() - first), &EndpointImpl::OnWriteDone);
    if (r != 0) {
      FailLater(UvError("write failed", r));
      return;
    }
    pending_bytes_ += remaining;
    req.release();  // owned by libuv until OnWriteDone
  }

  // Closes and tells the handler. Nothing may touch `this` after this returns.
  void CloseWithReason(const std::string& reason) {
    if (closed_) return;
    Handler* handler = handler_;
    Close();
    if (handler != nullptr) handler->OnEndpointClosed(reason);
  }

  void FailLater(std::string reason) {
    loop_->Post([alive = std::weak_ptr<char>(alive_), this, reason = std::move(reason)] {
      if (alive.expired()) return;
      CloseWithReason(reason);
    });
  }

  EventLoop* loop_;
  std::string peer_;
  HandleBlock* block_ = nullptr;  // owned by libuv's close callback once closing
  Handler* handler_ = nullptr;
  bool closed_ = false;
  bool read_paused_ = false;
  bool write_shut_ = false;
  size_t pending_bytes_ = 0;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);  // expires with the endpoint

  std::shared_ptr<TlsContext> tls_;
  bool tls_server_ = false;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // network -> OpenSSL (owned by ssl_)
  BIO* wbio_ = nullptr;  // OpenSSL -> network (owned by ssl_)
  bool handshake_done_ = false;
  std::string alpn_;
  std::vector<std::unique_ptr<WriteBatch>> held_;  // plaintext written before the handshake
  size_t held_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Endpoint> CreateEndpoint(EventLoop* loop, int fd, std::string peer,
                                         std::shared_ptr<TlsContext> tls, bool tls_server,
                                         const std::string& server_name, std::string* error) {
  auto ep = std::make_unique<EndpointImpl>(loop, std::move(peer));
  if (!ep->Init(fd, std::move(tls), tls_server, server_name, error)) return nullptr;
  return ep;
}

}  // namespace polyrpc
