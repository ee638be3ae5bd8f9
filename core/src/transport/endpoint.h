// Endpoint: a connected byte stream (TCP, Unix domain socket, optionally wrapped in TLS) living
// on one EventLoop. The HTTP/2 layer above it sees plaintext bytes only.
//
// Threading: every method, and every Handler callback, runs on the endpoint's loop thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/event_loop.h"
#include "transport/write_batch.h"

namespace polyrpc {

class TlsContext;  // transport/tls_context.h

class Endpoint {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // Plaintext bytes from the peer; borrowed for the duration of the call.
    virtual void OnEndpointRead(const uint8_t* data, size_t len) = 0;
    // Everything handed to Write() so far has been passed to the kernel; a good moment to
    // produce more output if the writer was holding back (see PendingWriteBytes).
    virtual void OnEndpointWritable() = 0;
    // The connection is gone (peer closed, I/O error, TLS failure). Called once; no callback
    // follows. reason is human readable.
    virtual void OnEndpointClosed(const std::string& reason) = 0;
  };

  virtual ~Endpoint() = default;

  // Starts delivering reads to handler (not owned; must outlive the endpoint or call Close()).
  // A TLS endpoint performs its handshake first; bytes written before the handshake completes
  // are held and sent after it.
  virtual void Start(Handler* handler) = 0;
  // Queues the batch for sending, in order. The endpoint owns the batch (and so keeps its
  // slices alive) until the kernel has taken the bytes.
  virtual void Write(std::unique_ptr<WriteBatch> batch) = 0;
  // Bytes accepted by Write() but not yet handed to the kernel.
  virtual size_t PendingWriteBytes() const = 0;
  // Stops (true) or resumes (false) reading from the socket. Reads are on after Start().
  virtual void SetReadPaused(bool paused) = 0;
  // Half-closes: what was written goes out first (TLS: then a close_notify alert), then the
  // write side is shut down. Reads go on, so that closing later does not turn the peer's unread
  // bytes into a TCP reset that could overtake what we sent. Idempotent.
  virtual void ShutdownWrite() = 0;
  // Closes the connection. No handler callback runs after Close() returns. Idempotent.
  virtual void Close() = 0;

  virtual EventLoop* loop() const = 0;
  // "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000" or "unix:/path", as gRPC prints peers.
  virtual const std::string& peer() const = 0;
  virtual bool is_tls() const = 0;
  // For a TLS endpoint after the handshake: the ALPN protocol selected ("h2"), else "".
  virtual std::string alpn() const = 0;
};

// Wraps an already connected, non-blocking socket fd (TCP or Unix) into an endpoint on loop.
// With tls != nullptr the endpoint runs a TLS client or server handshake over it; server_name is
// used by a TLS client for SNI and for verifying the server certificate's name (may be empty
// for a server). The endpoint takes ownership of fd. Returns nullptr and sets *error on failure.
std::unique_ptr<Endpoint> CreateEndpoint(EventLoop* loop, int fd, std::string peer,
                                         std::shared_ptr<TlsContext> tls, bool tls_server,
                                         const std::string& server_name, std::string* error);

}  // namespace polyrpc
