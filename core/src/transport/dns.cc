#include "transport/dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace polyrpc {

namespace {

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

uint16_t Get16(std::string_view m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) | static_cast<uint8_t>(m[at + 1]));
}

// Skips a (possibly compressed) name starting at *pos. False if it runs off the message.
bool SkipName(std::string_view m, size_t* pos) {
  size_t p = *pos;
  for (int labels = 0; labels < 128; ++labels) {
    if (p >= m.size()) return false;
    uint8_t len = static_cast<uint8_t>(m[p]);
    if (len == 0) {
      *pos = p + 1;
      return true;
    }
    if ((len & 0xc0) == 0xc0) {  // a pointer ends the name
      if (p + 2 > m.size()) return false;
      *pos = p + 2;
      return true;
    }
    if ((len & 0xc0) != 0) return false;
    p += 1 + len;
  }
  return false;
}

}  // namespace

bool BuildDnsQuery(uint16_t id, std::string_view name, uint16_t type, std::string* out) {
  out->clear();
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  Put16(out, id);
  Put16(out, 0x0100);  // standard query, recursion desired
  Put16(out, 1);       // one question
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, 1);  // the EDNS0 OPT record
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    size_t len = dot - start;
    if (len == 0 || len > 63) return false;
    out->push_back(static_cast<char>(len));
    out->append(name.substr(start, len));
    start = dot + 1;
  }
  out->push_back('\0');
  Put16(out, type);
  Put16(out, 1);  // class IN
  // OPT: root name, type 41, "class" = UDP payload size, extended rcode/flags 0, no options.
  out->push_back('\0');
  Put16(out, 41);
  Put16(out, 4096);
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, 0);
  return true;
}

bool ParseDnsResponse(std::string_view m, uint16_t id, int port, DnsAnswer* out,
                      std::string* error) {
  *out = DnsAnswer();
  if (m.size() < 12) {
    *error = "DNS answer shorter than its header";
    return false;
  }
  if (Get16(m, 0) != id) {
    *error = "DNS answer to another query";
    return false;
  }
  uint16_t flags = Get16(m, 2);
  if ((flags & 0x8000) == 0) {
    *error = "not a DNS answer";
    return false;
  }
  if (flags & 0x0200) {
    *error = "DNS answer truncated";
    return false;
  }
  out->rcode = flags & 0x000f;
  uint16_t qd = Get16(m, 4);
  uint16_t an = Get16(m, 6);
  size_t pos = 12;
  for (uint16_t i = 0; i < qd; ++i) {
    if (!SkipName(m, &pos) || pos + 4 > m.size()) {
      *error = "malformed DNS question";
      return false;
    }
    pos += 4;
  }
  for (uint16_t i = 0; i < an; ++i) {
    if (!SkipName(m, &pos) || pos + 10 > m.size()) {
      *error = "malformed DNS record";
      return false;
    }
    uint16_t type = Get16(m, pos);
    uint16_t cls = Get16(m, pos + 2);
    uint16_t rdlen = Get16(m, pos + 8);
    pos += 10;
    if (pos + rdlen > m.size()) {
      *error = "malformed DNS record";
      return false;
    }
    std::string_view rd = m.substr(pos, rdlen);
    pos += rdlen;
    if (cls != 1) continue;
    if (type == kDnsA && rdlen == 4) {
      ResolvedAddress a;
      auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage);
      in4->sin_family = AF_INET;
      in4->sin_port = htons(static_cast<uint16_t>(port));
      std::memcpy(&in4->sin_addr, rd.data(), 4);
      a.len = sizeof(sockaddr_in);
      a.name = SockaddrToPeer(a.sa(), a.len);
      out->addresses.push_back(std::move(a));
    } else if (type == kDnsAaaa && rdlen == 16) {
      ResolvedAddress a;
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<uint16_t>(port));
      std::memcpy(&in6->sin6_addr, rd.data(), 16);
      a.len = sizeof(sockaddr_in6);
      a.name = SockaddrToPeer(a.sa(), a.len);
      out->addresses.push_back(std::move(a));
    } else if (type == kDnsTxt) {
      std::string text;
      size_t p = 0;
      while (p < rd.size()) {
        size_t len = static_cast<uint8_t>(rd[p]);
        if (p + 1 + len > rd.size()) {
          *error = "malformed TXT record";
          return false;
        }
        text.append(rd.substr(p + 1, len));
        p += 1 + len;
      }
      out->txt.push_back(std::move(text));
    }
  }
  return true;
}

std::vector<ResolvedAddress> SystemNameservers() {
  std::vector<ResolvedAddress> out;
  std::ifstream f("/etc/resolv.conf");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string key, value;
    if (!(ls >> key >> value) || key != "nameserver") continue;
    size_t pct = value.find('%');  // a zone index (fe80::1%eth0) is not supported
    if (pct != std::string::npos) continue;
    ResolvedAddress a;
    if (MakeIpAddress(value, 53, &a)) out.push_back(std::move(a));
  }
  return out;
}

namespace {

class DnsQueryImpl;

struct UdpBox {
  uv_udp_t udp;
  std::shared_ptr<DnsQueryImpl> owner;
};
struct DnsTimerBox {
  uv_timer_t timer;
  std::shared_ptr<DnsQueryImpl> owner;
};
struct SendBox {
  uv_udp_send_t req;
  std::string bytes;
  std::shared_ptr<DnsQueryImpl> owner;
};

class DnsQueryImpl final : public DnsQuery, public std::enable_shared_from_this<DnsQueryImpl> {
 public:
  DnsQueryImpl(EventLoop* loop, ResolvedAddress server, std::string name, uint16_t type, int port,
               int timeout_ms, DnsCallback cb)
      : loop_(loop),
        server_(std::move(server)),
        name_(std::move(name)),
        type_(type),
        port_(port),
        timeout_ms_(timeout_ms > 0 ? timeout_ms : 1000),
        cb_(std::move(cb)) {
    thread_local std::mt19937 rng{std::random_device{}()};
    id_ = static_cast<uint16_t>(rng());
  }

  void Cancel() override {
    if (done_) return;
    done_ = true;
    cb_ = nullptr;
    Cleanup();
  }

  void Begin() {
    if (done_) return;
    if (!BuildDnsQuery(id_, name_, type_, &query_)) {
      Finish("invalid DNS name '" + name_ + "'", {});
      return;
    }
    auto udp = std::make_unique<UdpBox>();
    udp->owner = shared_from_this();
    udp->udp.data = udp.get();
    int r = uv_udp_init(loop_->uv(), &udp->udp);
    if (r != 0) {
      Finish(std::string("cannot open a UDP socket: ") + uv_strerror(r), {});
      return;
    }
    udp_ = udp.release();
    r = uv_udp_recv_start(&udp_->udp, &DnsQueryImpl::OnAlloc, &DnsQueryImpl::OnRecv);
    auto timer = std::make_unique<DnsTimerBox>();
    timer->owner = shared_from_this();
    timer->timer.data = timer.get();
    uv_timer_init(loop_->uv(), &timer->timer);
    timer_ = timer.release();
    Send();
  }

 private:
  void Send() {
    if (done_) return;
    ++tries_;
    auto box = std::make_unique<SendBox>();
    box->owner = shared_from_this();
    box->bytes = query_;
    box->req.data = box.get();
    uv_buf_t buf = uv_buf_init(box->bytes.data(), static_cast<unsigned>(box->bytes.size()));
    int r = uv_udp_send(&box->req, &udp_->udp, &buf, 1, server_.sa(), &DnsQueryImpl::OnSent);
    if (r != 0) {
      Finish("cannot send a DNS query to " + server_.name + ": " + uv_strerror(r), {});
      return;
    }
    box.release();
    uv_update_time(loop_->uv());  // the cached time may be a whole idle spell old (timer.h)
    uv_timer_start(&timer_->timer, &DnsQueryImpl::OnTimeout, static_cast<uint64_t>(timeout_ms_),
                   0);
  }

  static void OnSent(uv_udp_send_t* req, int) {
    std::unique_ptr<SendBox> box(static_cast<SendBox*>(req->data));
  }

  static void OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    thread_local char space[65536];
    *buf = uv_buf_init(space, sizeof space);
  }

  static void OnRecv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                     unsigned) {
    auto* box = static_cast<UdpBox*>(h->data);
    DnsQueryImpl* self = box->owner.get();
    if (self->done_ || n <= 0 || from == nullptr) return;
    DnsAnswer answer;
    std::string error;
    if (!ParseDnsResponse(std::string_view(buf->base, static_cast<size_t>(n)), self->id_,
                          self->port_, &answer, &error)) {
      if (error == "DNS answer to another query") return;  // a late answer to nothing we ask
      self->Finish(error + " (from " + self->server_.name + ")", {});
      return;
    }
    self->Finish("", std::move(answer));
  }

  static void OnTimeout(uv_timer_t* t) {
    auto* box = static_cast<DnsTimerBox*>(t->data);
    DnsQueryImpl* self = box->owner.get();
    if (self->done_) return;
    if (self->tries_ < kTries) {
      self->Send();
      return;
    }
    self->Finish("DNS server " + self->server_.name + " did not answer (" + self->name_ + ")", {});
  }

  void Cleanup() {
    if (udp_ != nullptr) {
      uv_udp_recv_stop(&udp_->udp);
      uv_close(reinterpret_cast<uv_handle_t*>(&udp_->udp), [](uv_handle_t* h) {
        std::unique_ptr<UdpBox> b(static_cast<UdpBox*>(h->data));
      });
      udp_ = nullptr;
    }
    if (timer_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_->timer), [](uv_handle_t* h) {
        std::unique_ptr<DnsTimerBox> b(static_cast<DnsTimerBox*>(h->data));
      });
      timer_ = nullptr;
    }
  }

  void Finish(std::string error, DnsAnswer answer) {
    if (done_) return;
    done_ = true;
    DnsCallback cb = std::move(cb_);
    cb_ = nullptr;
    Cleanup();
    cb(std::move(error), std::move(answer));
  }

  static constexpr int kTries = 3;
  EventLoop* loop_;
  ResolvedAddress server_;
  std::string name_;
  uint16_t type_;
  int port_;
  int timeout_ms_;
  DnsCallback cb_;
  uint16_t id_ = 0;
  std::string query_;
  int tries_ = 0;
  bool done_ = false;
  UdpBox* udp_ = nullptr;
  DnsTimerBox* timer_ = nullptr;
};

}  // namespace

std::shared_ptr<DnsQuery> StartDnsQuery(EventLoop* loop, const ResolvedAddress& server,
                                        std::string name, uint16_t type, int port,
                                        int timeout_ms, DnsCallback cb) {
  auto q = std::make_shared<DnsQueryImpl>(loop, server, std::move(name), type, port, timeout_ms,
                                          std::move(cb));
  loop->Post([q] { q->Begin(); });
  return q;
}

}  // namespace polyrpc
