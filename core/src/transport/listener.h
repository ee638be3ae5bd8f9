// Listener: a listening socket whose accepts run on one EventLoop. The owner hands accepted
// fds to whichever loop should serve them (an fd is just an int; CreateEndpoint on any loop).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/event_loop.h"

namespace polyrpc {

struct ListenerBox;  // listener.cc

class Listener {
 public:
  // fd: connected, non-blocking, close-on-exec, owned by the callee. peer as gRPC prints it
  // ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:/path" with the listening path).
  using AcceptCallback = std::function<void(int fd, std::string peer)>;

  // Binds and listens on address (any ParseTarget form: "0.0.0.0:0", "[::]:50051",
  // "localhost:0" (127.0.0.1), ":50051" (all interfaces, dual-stack when IPv6 exists),
  // "unix:/path" (a stale socket file is unlinked first)). *bound_port receives the actual
  // port (0 for Unix sockets). on_accept runs on loop's thread. Callable from any thread: it
  // blocks until the listener is registered on loop. Returns nullptr with *error on failure.
  static std::unique_ptr<Listener> Create(EventLoop* loop, const std::string& address,
                                          AcceptCallback on_accept, int* bound_port,
                                          std::string* error);

  // Closes the socket (and unlinks a Unix socket path). Callable from any thread: off the loop
  // it posts to the loop and blocks until done, so on_accept never runs after Close() returns.
  // Must not be called from a non-loop thread while the loop is blocked on that thread.
  // Idempotent; the destructor calls it.
  void Close();
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  EventLoop* loop() const { return loop_; }
  int port() const { return port_; }

 private:
  Listener(EventLoop* loop, int port) : loop_(loop), port_(port) {}

  EventLoop* loop_;
  int port_;
  ListenerBox* box_ = nullptr;  // freed by libuv's close callback
};

}  // namespace polyrpc
