// gRPC-Web over HTTP/1.1 on the server's gRPC port. Each accepted connection's first bytes
// decide: the HTTP/2 connection preface ("PRI * HTTP/2.0...") goes to the HTTP/2 server as
// always; anything else is HTTP/1.1, parsed with http-parser (Debian's libhttp-parser). An
// HTTP/1.1 connection is bridged: each POST becomes a gRPC-Web request on an in-process HTTP/2
// connection (an nghttp2 client session over an in-memory endpoint served by the same server,
// where server calls speak gRPC-Web: server_impl.cc, web/grpc_web.h), and its answer is written
// back as an HTTP/1.1 response with a chunked body, so server streaming flows as it is sent.
// CORS preflights (OPTIONS) are answered here; other methods and content types get a plain
// HTTP error with a readable body.
//
// Threading: Serve and the connections run on the connection's loop; Close from any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "runtime/event_loop.h"
#include "transport/endpoint.h"

namespace polyrpc::web {

class SniffEndpoint;

class Http1Hub : public std::enable_shared_from_this<Http1Hub> {
 public:
  // serve_http2 serves an HTTP/2 connection (ServerImpl::ServeEndpoint); max_body bounds an
  // HTTP/1.1 request body; a connection silent for handshake_timeout_ms (> 0) is closed.
  using ServeHttp2 = std::function<void(EventLoop*, std::unique_ptr<Endpoint>)>;
  // Both out of line: SniffEndpoint (pending_) is complete only in http1_server.cc.
  Http1Hub(ServeHttp2 serve_http2, size_t max_body, int64_t handshake_timeout_ms);
  ~Http1Hub();

  // A freshly accepted connection. Loop thread.
  void Serve(EventLoop* loop, std::unique_ptr<Endpoint> ep);
  // Server shutdown: connections still deciding are closed, later ones refused. HTTP/1.1
  // connections already bridged end with their in-process HTTP/2 connection (which the
  // server's shutdown drains). Any thread; after it serve_http2 is never called.
  void Close();

  // Internal (SniffEndpoint): the decision for a pending connection.
  void Decided(SniffEndpoint* s, int outcome);

 private:
  ServeHttp2 serve_http2_;
  size_t max_body_;
  int64_t handshake_timeout_ms_;
  std::mutex mu_;
  bool closed_ = false;
  std::unordered_map<SniffEndpoint*, std::unique_ptr<SniffEndpoint>> pending_;
};

}  // namespace polyrpc::web
