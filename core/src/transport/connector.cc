#include "transport/connector.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

namespace polyrpc {

namespace {

struct Address {
  sockaddr_storage storage;
  socklen_t len;
};

class ConnectAttemptImpl;

// libuv handles and requests live in boxes that hold a reference to the attempt and are freed by
// their own callbacks, so nothing dangles however Cancel() and completion interleave.
struct TimerBox {
  uv_timer_t timer;
  std::shared_ptr<ConnectAttemptImpl> owner;
};
struct PollBox {
  uv_poll_t poll;
  std::shared_ptr<ConnectAttemptImpl> owner;
};
struct ResolveBox {
  uv_getaddrinfo_t req;
  std::shared_ptr<ConnectAttemptImpl> owner;
};

class ConnectAttemptImpl final : public ConnectAttempt,
                                 public std::enable_shared_from_this<ConnectAttemptImpl> {
 public:
  ConnectAttemptImpl(EventLoop* loop, ParsedTarget target, int timeout_ms, ConnectCallback cb)
      : loop_(loop), target_(std::move(target)), timeout_ms_(timeout_ms), cb_(std::move(cb)) {}

  ConnectAttemptImpl(EventLoop* loop, const ResolvedAddress& address, int timeout_ms,
                     ConnectCallback cb)
      : loop_(loop), timeout_ms_(timeout_ms), cb_(std::move(cb)) {
    Address a{};
    std::memcpy(&a.storage, &address.storage, sizeof a.storage);
    a.len = address.len;
    addresses_.push_back(a);
    name_ = address.name;
  }

  void Cancel() override {
    if (done_) return;
    done_ = true;
    cb_ = nullptr;
    Cleanup();
  }

  void Begin() {
    if (done_) return;  // cancelled before the posted start ran
    if (timeout_ms_ > 0) {
      auto box = std::make_unique<TimerBox>();
      box->owner = shared_from_this();
      uv_timer_init(loop_->uv(), &box->timer);
      box->timer.data = box.get();
      uv_update_time(loop_->uv());  // the cached time may be a whole idle spell old (timer.h)
      uv_timer_start(&box->timer, &ConnectAttemptImpl::OnTimeout,
                     static_cast<uint64_t>(timeout_ms_), 0);
      timer_ = box.release();
    }
    if (!addresses_.empty()) {  // given resolved (StartConnect with an address)
      TryNext();
      return;
    }
    if (target_.kind == ParsedTarget::kUnix || target_.kind == ParsedTarget::kUnixAbstract) {
      Address a{};
      auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
      un->sun_family = AF_UNIX;
      if (target_.kind == ParsedTarget::kUnix) {
        std::memcpy(un->sun_path, target_.path.data(), target_.path.size());
        a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + target_.path.size() + 1);
      } else {
        std::memcpy(un->sun_path + 1, target_.path.data(), target_.path.size());
        a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + target_.path.size());
      }
      addresses_.push_back(a);
      TryNext();
      return;
    }
    Address a{};
    auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET, target_.host.c_str(), &in4->sin_addr) == 1) {
      in4->sin_family = AF_INET;
      in4->sin_port = htons(static_cast<uint16_t>(target_.port));
      a.len = sizeof(sockaddr_in);
      addresses_.push_back(a);
      TryNext();
      return;
    }
    if (inet_pton(AF_INET6, target_.host.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<uint16_t>(target_.port));
      a.len = sizeof(sockaddr_in6);
      addresses_.push_back(a);
      TryNext();
      return;
    }
    if (target_.host.empty()) {
      Finish(-1, "", "empty host in target");
      return;
    }
    auto box = std::make_unique<ResolveBox>();
    box->owner = shared_from_this();
    box->req.data = box.get();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    std::string port = std::to_string(target_.port);
    int r = uv_getaddrinfo(loop_->uv(), &box->req, &ConnectAttemptImpl::OnResolved,
                           target_.host.c_str(), port.c_str(), &hints);
    if (r != 0) {
      Finish(-1, "", "cannot resolve " + target_.host + ": " + uv_strerror(r));
      return;
    }
    resolve_ = box.release();
  }

 private:
  static void OnTimeout(uv_timer_t* t) {
    auto* box = static_cast<TimerBox*>(t->data);
    ConnectAttemptImpl* self = box->owner.get();
    std::string what = "connect to " + self->TargetName() + " timed out after " +
                       std::to_string(self->timeout_ms_) + " ms";
    if (!self->last_error_.empty()) what += " (last error: " + self->last_error_ + ")";
    self->Finish(-1, "", what);
  }

  static void OnResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    std::unique_ptr<ResolveBox> box(static_cast<ResolveBox*>(req->data));
    std::shared_ptr<ConnectAttemptImpl> self = std::move(box->owner);
    self->resolve_ = nullptr;
    if (self->done_) {
      uv_freeaddrinfo(res);
      return;
    }
    if (status != 0) {
      uv_freeaddrinfo(res);
      self->Finish(-1, "", "cannot resolve " + self->target_.host + ": " + uv_strerror(status));
      return;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
      Address a{};
      std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
      a.len = ai->ai_addrlen;
      self->addresses_.push_back(a);
    }
    uv_freeaddrinfo(res);
    if (self->addresses_.empty()) {
      self->Finish(-1, "", "no addresses for " + self->target_.host);
      return;
    }
    self->TryNext();
  }

  static void OnPoll(uv_poll_t* p, int status, int events) {
    auto* box = static_cast<PollBox*>(p->data);
    ConnectAttemptImpl* self = box->owner.get();
    if (self->done_ || self->poll_ != box) return;
    int err = 0;
    socklen_t len = sizeof err;
    // libuv reports POLLERR as UV_EBADF; the socket's own error says what really happened.
    if (getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    } else if (err == 0 && status < 0) {
      err = -status;
    }
    self->ClosePoll();
    if (err == 0) {
      int fd = self->fd_;
      self->fd_ = -1;
      self->Finish(fd, self->current_peer_, "");
      return;
    }
    self->FailCurrent(err);
  }

  static void OnPollClosed(uv_handle_t* h) {
    std::unique_ptr<PollBox> box(static_cast<PollBox*>(h->data));
  }
  static void OnTimerClosed(uv_handle_t* h) {
    std::unique_ptr<TimerBox> box(static_cast<TimerBox*>(h->data));
  }

  std::string TargetName() const {
    if (!name_.empty()) return name_;
    if (target_.kind == ParsedTarget::kUnixAbstract) return "unix-abstract:" + target_.path;
    return target_.kind == ParsedTarget::kUnix ? "unix:" + target_.path : target_.authority;
  }

  void TryNext() {
    while (!done_ && next_ < addresses_.size()) {
      const Address& a = addresses_[next_++];
      const auto* sa = reinterpret_cast<const sockaddr*>(&a.storage);
      current_peer_ = SockaddrToPeer(sa, a.len);
      fd_ = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd_ < 0) {
        FailCurrent(errno, /*try_next=*/false);
        continue;
      }
      int r;
      do {
        r = connect(fd_, sa, a.len);
      } while (r != 0 && errno == EINTR);
      if (r == 0) {
        int fd = fd_;
        fd_ = -1;
        Finish(fd, current_peer_, "");
        return;
      }
      // Only EINPROGRESS means "in progress"; EAGAIN on a Unix socket means the server's
      // backlog is full and nothing was queued.
      if (errno != EINPROGRESS) {
        FailCurrent(errno, /*try_next=*/false);
        continue;
      }
      auto box = std::make_unique<PollBox>();
      box->owner = shared_from_this();
      box->poll.data = box.get();
      int ur = uv_poll_init_socket(loop_->uv(), &box->poll, fd_);
      if (ur != 0) {
        FailCurrent(-ur, /*try_next=*/false);
        continue;
      }
      poll_ = box.release();
      uv_poll_start(&poll_->poll, UV_WRITABLE, &ConnectAttemptImpl::OnPoll);
      return;
    }
    if (!done_) {
      Finish(-1, "", "connect to " + TargetName() + " failed: " +
                         (last_error_.empty() ? "no address" : last_error_));
    }
  }

  void FailCurrent(int err, bool try_next = true) {
    last_error_ = current_peer_ + ": " + strerror(err);
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (try_next) TryNext();
  }

  void ClosePoll() {
    if (poll_ == nullptr) return;
    // Stop polling before anyone closes or re-registers the fd.
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->poll), &ConnectAttemptImpl::OnPollClosed);
    poll_ = nullptr;
  }

  void Cleanup() {
    ClosePoll();
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (timer_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_->timer), &ConnectAttemptImpl::OnTimerClosed);
      timer_ = nullptr;
    }
    if (resolve_ != nullptr) {
      uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));  // OnResolved still runs
    }
  }

  void Finish(int fd, std::string peer, std::string error) {
    if (done_) return;
    done_ = true;
    ConnectCallback cb = std::move(cb_);
    cb_ = nullptr;
    Cleanup();
    cb(fd, std::move(peer), std::move(error));
  }

  EventLoop* loop_;
  ParsedTarget target_;
  std::string name_;  // of the given address, if any
  int timeout_ms_;
  ConnectCallback cb_;
  bool done_ = false;
  std::vector<Address> addresses_;
  size_t next_ = 0;
  int fd_ = -1;
  std::string current_peer_;
  std::string last_error_;
  TimerBox* timer_ = nullptr;
  PollBox* poll_ = nullptr;
  ResolveBox* resolve_ = nullptr;
};

}  // namespace

std::shared_ptr<ConnectAttempt> StartConnect(EventLoop* loop, const ResolvedAddress& address,
                                             int timeout_ms, ConnectCallback cb) {
  auto attempt = std::make_shared<ConnectAttemptImpl>(loop, address, timeout_ms, std::move(cb));
  loop->Post([attempt] { attempt->Begin(); });
  return attempt;
}

std::shared_ptr<ConnectAttempt> StartConnect(EventLoop* loop, const ParsedTarget& target,
                                             int timeout_ms, ConnectCallback cb) {
  auto attempt = std::make_shared<ConnectAttemptImpl>(loop, target, timeout_ms, std::move(cb));
  // Always posted, so that cb never runs before the caller holds the returned handle.
  loop->Post([attempt] { attempt->Begin(); });
  return attempt;
}

}  // namespace polyrpc
