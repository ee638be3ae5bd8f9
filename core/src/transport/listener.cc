#include "transport/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <future>

#include "transport/address.h"

namespace polyrpc {

// The poll handle, the socket and the callback, in one allocation that libuv's close callback
// frees; `open` is cleared by Close() so a callback in flight stops accepting.
struct ListenerBox {
  uv_poll_t poll;
  int fd = -1;
  bool open = false;
  std::string unix_path;  // non-empty for Unix sockets
  Listener::AcceptCallback on_accept;
};

namespace {

void RunOnLoopSync(EventLoop* loop, const std::function<void()>& fn) {
  if (loop->InLoopThread()) {
    fn();
    return;
  }
  std::promise<void> done;
  loop->Post([&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

// Creates, binds and listens; returns the fd or -1 with *error.
int BindListen(const sockaddr* sa, socklen_t len, bool dual_stack, std::string* error) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = Errno("socket");
    return -1;
  }
  int one = 1;
  if (sa->sa_family != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa->sa_family == AF_INET6) {
    int v6only = dual_stack ? 0 : 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (bind(fd, sa, len) != 0) {
    *error = Errno("bind to " + SockaddrToPeer(sa, len));
    ::close(fd);
    return -1;
  }
  if (listen(fd, 1024) != 0) {
    *error = Errno("listen");
    ::close(fd);
    return -1;
  }
  return fd;
}

void OnBoxClosed(uv_handle_t* h) {
  std::unique_ptr<ListenerBox> box(static_cast<ListenerBox*>(h->data));
  ::close(box->fd);  // only now: the poll handle no longer watches it
}

void OnReadable(uv_poll_t* p, int status, int events) {
  auto* box = static_cast<ListenerBox*>(p->data);
  while (box->open) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(box->fd, reinterpret_cast<sockaddr*>(&ss), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EAGAIN: drained. EMFILE and friends: try again on the next readiness event.
      return;
    }
    std::string peer = box->unix_path.empty()
                           ? SockaddrToPeer(reinterpret_cast<sockaddr*>(&ss), len)
                           : "unix:" + box->unix_path;
    box->on_accept(fd, std::move(peer));  // may Close() the listener: the loop re-checks
  }
}

}  // namespace

std::unique_ptr<Listener> Listener::Create(EventLoop* loop, const std::string& address,
                                           AcceptCallback on_accept, int* bound_port,
                                           std::string* error) {
  ParsedTarget t;
  if (!ParseTarget(address, &t, error)) return nullptr;
  int fd = -1;
  int port = 0;
  std::string unix_path;
  if (t.kind == ParsedTarget::kUnix) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, t.path.data(), t.path.size());
    // A stale socket from an earlier run would make bind fail; remove only sockets.
    struct stat st;
    if (lstat(t.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(t.path.c_str());
    fd = BindListen(reinterpret_cast<sockaddr*>(&un), sizeof un, false, error);
    unix_path = t.path;
  } else if (t.kind == ParsedTarget::kUnixAbstract) {
    // The abstract namespace (Linux): no file, nothing to unlink.
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path + 1, t.path.data(), t.path.size());
    fd = BindListen(reinterpret_cast<sockaddr*>(&un),
                    static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + t.path.size()),
                    false, error);
  } else {
    sockaddr_storage ss{};
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
    uint16_t nport = htons(static_cast<uint16_t>(t.port));
    std::string host = t.host == "localhost" ? "127.0.0.1" : t.host;
    if (host.empty()) {
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_any;
      in6->sin6_port = nport;
      fd = BindListen(sa, sizeof *in6, /*dual_stack=*/true, error);
      if (fd < 0) {  // no IPv6 on this machine
        ss = {};
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        in4->sin_port = nport;
        fd = BindListen(sa, sizeof *in4, false, error);
      }
    } else if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
      in4->sin_family = AF_INET;
      in4->sin_port = nport;
      fd = BindListen(sa, sizeof *in4, false, error);
    } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = nport;
      // "[::]" also accepts IPv4, as gRPC servers do.
      bool any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
      fd = BindListen(sa, sizeof *in6, any, error);
    } else {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
      addrinfo* res = nullptr;
      int r = getaddrinfo(host.c_str(), std::to_string(t.port).c_str(), &hints, &res);
      if (r != 0 || res == nullptr) {
        *error = "cannot resolve " + host + ": " + gai_strerror(r);
        return nullptr;
      }
      fd = BindListen(res->ai_addr, res->ai_addrlen, false, error);
      freeaddrinfo(res);
    }
    if (fd >= 0) {
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      port = ss.ss_family == AF_INET6 ? ntohs(in6->sin6_port) : ntohs(in4->sin_port);
    }
  }
  if (fd < 0) return nullptr;

  auto box = std::make_unique<ListenerBox>();
  box->fd = fd;
  box->unix_path = unix_path;
  box->on_accept = std::move(on_accept);
  int r = 0;
  RunOnLoopSync(loop, [&] {
    r = uv_poll_init_socket(loop->uv(), &box->poll, fd);
    if (r != 0) return;
    box->poll.data = box.get();
    box->open = true;
    uv_poll_start(&box->poll, UV_READABLE, &OnReadable);
  });
  if (r != 0) {
    *error = std::string("cannot watch listening socket: ") + uv_strerror(r);
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<Listener> listener(new Listener(loop, port));
  listener->box_ = box.release();
  if (bound_port != nullptr) *bound_port = port;
  return listener;
}

void Listener::Close() {
  if (box_ == nullptr) return;
  ListenerBox* box = box_;
  box_ = nullptr;
  RunOnLoopSync(loop_, [box] {
    box->open = false;
    if (!box->unix_path.empty()) unlink(box->unix_path.c_str());
    uv_close(reinterpret_cast<uv_handle_t*>(&box->poll), &OnBoxClosed);
  });
}

Listener::~Listener() { Close(); }

}  // namespace polyrpc
