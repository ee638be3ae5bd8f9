// Soak: many RPCs of all four kinds through one polyrpc server, on the public C++ API, with
// random cancellations and deadlines, over connection churn (channels created and dropped,
// the server shut down gracefully and restarted on the same port), every message checksummed,
// and resident memory measured at quiet checkpoints. See docs/reliability.md ("Soak").
//
// Every message carries the call's tag, its sequence number in the call, its length and a
// 64-bit hash of all of that and the payload. Both ends check every message they receive: the
// right tag, the next sequence number (a gap is a lost message, a repeat a duplicate, anything
// else a reordering), and the hash (corruption). A call that ends OK must have delivered
// everything: every echo, every streamed message, a client stream's count and hash summary.
// A call that was cancelled or ran out of time may stop early, but what it got must still be a
// clean prefix. Its status must be one it could have: CANCELLED only if the client cancelled
// it, DEADLINE_EXCEEDED only with a deadline, UNAVAILABLE only for a call that does not wait
// for ready and overlapped a server restart (or the reconnect back-off after one).
//
// Memory: the run is cut into phases. After each, the clients finish their calls and drop
// their channels, the server must hold nothing (no connection, no call, no charged byte), and
// resident memory is read after malloc_trim(0): glibc keeps memory freed by the load resident
// for reuse until asked to give it back, so without it the figure would be the peak of the
// load, not what is still in use. The first checkpoint is the warm-up (threads, pools, free
// lists and allocator arenas at the size this load needs); later checkpoints must stay within
// --max-growth of it.
//
// Usage: polyrpc_soak [--rpcs N] [--seconds S] [--workers W] [--channels C] [--restart-ms R]
//                     [--churn N] [--phases P] [--max-growth F] [--seed X]
//   --restart-ms R: a graceful server restart every R ms under load (0: never)
//   --churn N: one call in N replaces the channel it runs on (0: never)
// Exit status 0 when nothing was lost, duplicated, corrupted or wrongly failed, nothing hung,
// the server was idle at every checkpoint and memory stayed flat; 1 otherwise.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "polyrpc++/polyrpc.hpp"
#include "runtime/object_pool.h"  // ObjectPoolCachedBytes
#include "runtime/small_alloc.h"  // SmallAllocAllThreadsCachedBytes

using namespace polyrpc;
using namespace std::chrono_literals;

namespace {

// ---- Checksummed messages ---------------------------------------------------------------------
// tag (8 bytes) | seq (4) | payload length (4) | payload | hash of everything before (8).

constexpr size_t kHead = 16;
constexpr size_t kTail = 8;

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Hash(const uint8_t* p, size_t n) {
  uint64_t h = 0x243f6a8885a308d3ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ Mix(w)) * 0x100000001b3ull;
  }
  uint64_t last = 0;
  std::memcpy(&last, p + i, n - i);
  return Mix(h ^ Mix(last ^ (n - i)));
}

// A message with the given payload, or (payload == nullptr) len bytes derived from tag and seq.
Slice MakeMessage(uint64_t tag, uint32_t seq, uint32_t len, const void* payload = nullptr) {
  uint8_t* p;
  Slice s = Slice::Allocate(kHead + len + kTail, &p);
  std::memcpy(p, &tag, 8);
  std::memcpy(p + 8, &seq, 4);
  std::memcpy(p + 12, &len, 4);
  if (payload != nullptr) {
    std::memcpy(p + kHead, payload, len);
  } else {
    uint64_t x = Mix(tag ^ (uint64_t{seq} << 32));
    for (uint32_t i = 0; i < len; i += 8) {
      x = Mix(x);
      std::memcpy(p + kHead + i, &x, std::min<uint32_t>(8, len - i));
    }
  }
  uint64_t h = Hash(p, kHead + len);
  std::memcpy(p + kHead + len, &h, 8);
  return s;
}

struct Parsed {
  uint64_t tag = 0;
  uint32_t seq = 0;
  uint32_t len = 0;
  uint64_t hash = 0;
  const uint8_t* payload = nullptr;
};

// Checks framing and hash; the caller checks tag and sequence.
bool Parse(const Slice& m, Parsed* out, std::string* why) {
  if (m.size() < kHead + kTail) {
    *why = "short message (" + std::to_string(m.size()) + " bytes)";
    return false;
  }
  const uint8_t* p = m.data();
  std::memcpy(&out->tag, p, 8);
  std::memcpy(&out->seq, p + 8, 4);
  std::memcpy(&out->len, p + 12, 4);
  if (kHead + size_t{out->len} + kTail != m.size()) {
    *why = "length field " + std::to_string(out->len) + " in a message of " +
           std::to_string(m.size()) + " bytes";
    return false;
  }
  std::memcpy(&out->hash, p + kHead + out->len, 8);
  if (Hash(p, kHead + out->len) != out->hash) {
    *why = "hash mismatch (corrupted message)";
    return false;
  }
  out->payload = p + kHead;
  return true;
}

// Checks that m is message `seq` of call `tag`; names what is wrong otherwise.
bool CheckMessage(const Slice& m, uint64_t tag, uint32_t seq, Parsed* out, std::string* why) {
  if (!Parse(m, out, why)) return false;
  if (out->tag != tag) {
    *why = "message of call " + std::to_string(out->tag) + " on call " + std::to_string(tag);
    return false;
  }
  if (out->seq != seq) {
    *why = std::string(out->seq < seq ? "duplicate or reordered" : "lost") + " message: got seq " +
           std::to_string(out->seq) + ", expected " + std::to_string(seq);
    return false;
  }
  return true;
}

// Message sizes: mostly small, some medium, a few large (up to 256 KiB).
uint32_t SizeFrom(uint64_t r) {
  uint64_t k = r % 1000;
  if (k < 900) return static_cast<uint32_t>((r >> 10) % 1025);
  if (k < 990) return static_cast<uint32_t>((r >> 10) % 16385);
  return static_cast<uint32_t>((r >> 10) % 262145);
}

// ---- Failures ---------------------------------------------------------------------------------

struct Failures {
  std::mutex mu;
  std::vector<std::string> first;
  std::atomic<uint64_t> count{0};
  void Add(const std::string& what) {
    count++;
    std::lock_guard<std::mutex> lock(mu);
    if (first.size() < 30) first.push_back(what);
  }
};
Failures g_server_errors;  // what the server saw wrong in what it received
Failures g_failures;       // everything else

uint64_t TagOf(const ServerCall& call) {
  const std::string* t = FindMetadata(call.client_metadata(), "x-tag");
  return t ? std::strtoull(t->c_str(), nullptr, 10) : 0;
}

// ---- Server: handlers chained through completions, on the I/O threads ----------------------

struct ServerState : std::enable_shared_from_this<ServerState> {
  std::shared_ptr<ServerCall> call;
  uint64_t tag = 0;
  uint32_t next = 0;     // the next sequence number expected (or sent)
  uint32_t count = 0;    // server streaming: messages to send
  uint64_t hashes = 0;   // client streaming: xor of the hashes received

  bool Check(const Slice& m, Parsed* p) {
    std::string why;
    if (!CheckMessage(m, tag, next, p, &why)) {
      g_server_errors.Add("server, " + call->method() + " call " + std::to_string(tag) + ": " + why);
      call->SendStatus(Status(StatusCode::DATA_LOSS, why), {}, [](bool) {});
      return false;
    }
    ++next;
    return true;
  }
  // A receive for a call that ended OK without its message is a server-side loss.
  bool TakeOrFail(Slice* m) {
    if (call->TakeMessage(m)) return true;
    g_server_errors.Add("server: receive completed without a message, call " + std::to_string(tag));
    return false;
  }

  void Unary() {
    auto s = shared_from_this();
    call->RecvMessage([s](bool ok) {
      Slice m;
      Parsed p;
      if (!ok || !s->TakeOrFail(&m) || !s->Check(m, &p)) return;
      s->call->SendMessage(m, 0, [](bool) {});
      s->call->SendStatus(Status::Ok(), {}, [](bool) {});
    });
  }

  void ServerStream() {
    auto s = shared_from_this();
    call->RecvMessage([s](bool ok) {
      Slice m;
      Parsed p;
      if (!ok || !s->TakeOrFail(&m) || !s->Check(m, &p)) return;
      if (p.len != 4) {
        g_server_errors.Add("server stream: bad request");
        return;
      }
      std::memcpy(&s->count, p.payload, 4);
      s->next = 0;
      s->SendNext();
    });
  }
  void SendNext() {
    if (next == count) {
      call->SendStatus(Status::Ok(), {}, [](bool) {});
      return;
    }
    auto s = shared_from_this();
    uint32_t seq = next++;
    call->SendMessage(MakeMessage(tag, seq, SizeFrom(Mix(tag * 31 + seq))), 0, [s](bool ok) {
      if (ok) s->SendNext();  // else the call is over (cancelled, deadline, connection lost)
    });
  }

  void ClientStream() {
    auto s = shared_from_this();
    call->RecvMessage([s](bool ok) {
      if (!ok) {
        if (s->call->IsCancelled()) return;
        // The client half-closed: answer with what arrived.
        uint64_t summary[2] = {s->next, s->hashes};
        s->call->SendMessage(MakeMessage(s->tag, s->next, sizeof summary, summary), 0,
                             [](bool) {});
        s->call->SendStatus(Status::Ok(), {}, [](bool) {});
        return;
      }
      Slice m;
      Parsed p;
      if (!s->TakeOrFail(&m) || !s->Check(m, &p)) return;
      s->hashes ^= p.hash;
      s->ClientStream();
    });
  }

  void Bidi() {
    auto s = shared_from_this();
    call->RecvMessage([s](bool ok) {
      if (!ok) {
        if (!s->call->IsCancelled()) s->call->SendStatus(Status::Ok(), {}, [](bool) {});
        return;
      }
      Slice m;
      Parsed p;
      if (!s->TakeOrFail(&m) || !s->Check(m, &p)) return;
      s->call->SendMessage(m, 0, [s](bool ok) {
        if (ok) s->Bidi();
      });
    });
  }
};

template <void (ServerState::*Run)()>
Handler MakeHandler() {
  return [](std::shared_ptr<ServerCall> call) {
    auto s = std::make_shared<ServerState>();
    s->call = call;
    s->tag = TagOf(*call);
    if (FindMetadata(call->client_metadata(), "x-gzip")) call->SetCompression("gzip");
    ((*s).*Run)();
  };
}

void RegisterMethods(Server& server) {
  server.RegisterMethod("/soak.Soak/Unary", MakeHandler<&ServerState::Unary>());
  server.RegisterMethod("/soak.Soak/ServerStream", MakeHandler<&ServerState::ServerStream>());
  server.RegisterMethod("/soak.Soak/ClientStream", MakeHandler<&ServerState::ClientStream>());
  server.RegisterMethod("/soak.Soak/Bidi", MakeHandler<&ServerState::Bidi>());
  // Never answers: the call ends by the client's deadline or cancellation.
  server.RegisterMethod("/soak.Soak/Hold", [](std::shared_ptr<ServerCall> call) {
    call->OnDone([call](bool) {});
  });
}

// A server on 127.0.0.1:port (0: any; the port is returned in *bound).
std::unique_ptr<Server> StartServer(int port, int* bound) {
  std::string err;
  // A restart listens on the port the previous server has just released: retry briefly.
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto server = Server::Create();
    RegisterMethods(*server);
    int got = server->AddListener("127.0.0.1:" + std::to_string(port),
                                  ServerCredentials::Insecure(), &err);
    if (got > 0 && server->Start(&err)) {
      if (bound != nullptr) *bound = got;
      return server;
    }
    std::this_thread::sleep_for(20ms);
  }
  std::fprintf(stderr, "soak: cannot serve on port %d: %s\n", port, err.c_str());
  std::exit(2);
}

// ---- Restarts: which UNAVAILABLE a call may see -------------------------------------------------

std::atomic<uint64_t> g_restart_gen{0};  // odd while the server is down or shutting down
std::atomic<int64_t> g_restart_end_ns{0};
// After a restart a channel may still be in its reconnect back-off (at most 1 s here, see
// ChannelOptions), failing calls that do not wait for ready.
constexpr auto kRestartGrace = 2s;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---- Cancellations from another thread ----------------------------------------------------------

class Canceller {
 public:
  Canceller() : thread_([this] { Run(); }) {}
  ~Canceller() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void CancelAt(Clock::time_point t, std::weak_ptr<ClientCall> call) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push(Entry{t, std::move(call)});
    }
    cv_.notify_all();
  }
  uint64_t fired() const { return fired_.load(); }

 private:
  struct Entry {
    Clock::time_point t;
    std::weak_ptr<ClientCall> call;
    bool operator>(const Entry& o) const { return t > o.t; }
  };
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (q_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto t = q_.top().t;
      if (Clock::now() < t) {
        cv_.wait_until(lock, t);
        continue;
      }
      std::weak_ptr<ClientCall> w = q_.top().call;
      q_.pop();
      lock.unlock();
      if (auto c = w.lock()) {
        c->Cancel();
        fired_++;
      }
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> q_;
  bool stop_ = false;
  std::atomic<uint64_t> fired_{0};
  std::thread thread_;
};

// ---- Client ---------------------------------------------------------------------------------------

enum Kind { kUnary, kServerStream, kClientStream, kBidi, kHold, kKinds };
const char* const kKindNames[kKinds] = {"unary", "server-stream", "client-stream", "bidi", "hold"};
const char* const kMethods[kKinds] = {"/soak.Soak/Unary", "/soak.Soak/ServerStream",
                                      "/soak.Soak/ClientStream", "/soak.Soak/Bidi",
                                      "/soak.Soak/Hold"};

struct Plan {
  Kind kind = kUnary;
  uint64_t tag = 0;
  uint32_t count = 0;        // streamed messages
  bool wait_for_ready = false;
  bool gzip = false;
  bool deadline = false;
  std::chrono::microseconds deadline_in{0};
  int cancel = 0;            // 0 none, 1 by the worker after `cancel_after` messages, 2 by the
                             // canceller thread after `cancel_in`
  uint32_t cancel_after = 0;
  std::chrono::microseconds cancel_in{0};
};

// Outcome counters, per kind and status code.
struct Counters {
  std::atomic<uint64_t> by[kKinds][17] = {};
  std::atomic<uint64_t> messages_sent{0}, messages_received{0}, bytes_received{0};
  std::atomic<uint64_t> wait_for_ready{0}, with_deadline{0}, cancelled_by_worker{0},
      cancel_scheduled{0}, gzip{0};
};
Counters g_counters;

// A call's client side; returns false (and records why) if something was lost, duplicated,
// corrupted or ended with a status it could not have.
class Worker {
 public:
  Worker(int id, uint64_t seed, Canceller* canceller)
      : id_(id), rng_(seed * 1000003 + static_cast<uint64_t>(id)), canceller_(canceller) {}

  Plan MakePlan() {
    Plan p;
    uint64_t r = rng_();
    int k = static_cast<int>(r % 100);
    p.kind = k < 35 ? kUnary : k < 55 ? kServerStream : k < 75 ? kClientStream : k < 96 ? kBidi
                                                                                      : kHold;
    p.tag = (uint64_t(id_ + 1) << 48) | ++calls_;
    p.count = static_cast<uint32_t>(rng_() % 33);
    p.wait_for_ready = rng_() % 2 == 0;
    p.gzip = rng_() % 20 == 0;
    uint64_t d = rng_() % 100;
    if (d < 12 || p.kind == kHold) {
      p.deadline = true;
      p.deadline_in = std::chrono::microseconds(500 + rng_() % 30000);
    }
    uint64_t c = rng_() % 100;
    if (c < 5) {
      p.cancel = 1;
      p.cancel_after = static_cast<uint32_t>(rng_() % (p.count + 1));
    } else if (c < 10) {
      p.cancel = 2;
      p.cancel_in = std::chrono::microseconds(rng_() % 5000);
    }
    return p;
  }

  bool Run(Channel& ch, const Plan& plan) {
    plan_ = &plan;
    {
      std::lock_guard<std::mutex> lock(desc_mu_);
      desc_ = DescribePlan(plan);
    }
    Stage("start");
    CallOptions o;
    o.wait_for_ready = plan.wait_for_ready;
    if (plan.deadline) o.deadline = DeadlineAfter(plan.deadline_in);
    o.metadata.emplace_back("x-tag", std::to_string(plan.tag));
    if (plan.gzip) {
      o.compression = "gzip";
      o.metadata.emplace_back("x-gzip", "1");
    }
    uint64_t gen0 = g_restart_gen.load();
    int64_t t0 = NowNs();
    auto call = ch.CreateCall(kMethods[plan.kind], o);
    if (plan.cancel == 2) {
      g_counters.cancel_scheduled++;
      canceller_->CancelAt(Clock::now() + plan.cancel_in, call);
    }
    ok_ = true;
    complete_ = false;
    cancelled_early_ = false;
    sends_ = recvs_ = 0;
    switch (plan.kind) {
      case kUnary: Unary(*call); break;
      case kServerStream: ServerStream(*call); break;
      case kClientStream: ClientStream(*call); break;
      case kBidi: Bidi(*call); break;
      default: Hold(*call); break;
    }
    Stage("finish");
    Status st = FinishBlocking(*call);
    Stage("done");
    uint64_t gen1 = g_restart_gen.load();
    bool near_restart = gen0 != gen1 || (gen0 & 1) != 0 ||
                        t0 < g_restart_end_ns.load() +
                                 std::chrono::duration_cast<std::chrono::nanoseconds>(kRestartGrace)
                                     .count();
    int code = static_cast<int>(st.code());
    g_counters.by[plan.kind][code >= 0 && code <= 16 ? code : 2]++;
    bool allowed = false;
    switch (st.code()) {
      case StatusCode::OK:
        allowed = true;
        // A call the worker cancelled part-way may still end OK (the server was done first);
        // it did not read everything, so there is nothing more to check.
        if (!complete_ && !cancelled_early_) Fail("OK without all its messages");
        break;
      case StatusCode::CANCELLED:
        allowed = plan.cancel != 0;
        break;
      case StatusCode::DEADLINE_EXCEEDED:
        allowed = plan.deadline;
        break;
      case StatusCode::UNAVAILABLE:
        allowed = !plan.wait_for_ready && near_restart;
        break;
      default:
        break;
    }
    if (plan.kind == kHold && st.ok()) Fail("a held call ended OK");
    if (!allowed) {
      Fail(std::string("unexpected status ") + StatusCodeName(st.code()) + " (" + st.message() +
           ")" + (near_restart ? ", near a restart" : ""));
    }
    return ok_;
  }

  // What the worker is doing now, for the watchdog.
  std::string Describe() {
    std::lock_guard<std::mutex> lock(desc_mu_);
    return desc_ + ", at " + stage_.load() + " " + std::to_string(stage_n_.load());
  }

 private:
  static std::string DescribePlan(const Plan& p) {
    return std::string(kKindNames[p.kind]) + " call " + std::to_string(p.tag) + " (count " +
           std::to_string(p.count) + (p.wait_for_ready ? ", wfr" : "") + (p.gzip ? ", gzip" : "") +
           (p.deadline ? ", deadline " + std::to_string(p.deadline_in.count()) + "us" : "") +
           (p.cancel == 1 ? ", cancel after " + std::to_string(p.cancel_after) : "") +
           (p.cancel == 2 ? ", cancel in " + std::to_string(p.cancel_in.count()) + "us" : "") + ")";
  }
  void Stage(const char* what, uint32_t n = 0) {
    stage_ = what;
    stage_n_ = n;
  }
  void Fail(const std::string& why) {
    if (!ok_) return;  // one failure per call is enough
    ok_ = false;
    g_failures.Add(DescribePlan(*plan_) + ": " + why);
  }
  void CancelNow(ClientCall& call) {
    cancelled_early_ = true;
    g_counters.cancelled_by_worker++;
    call.Cancel();
  }
  bool Send(ClientCall& call, Slice m, uint32_t flags = 0) {
    Stage("send", sends_++);
    bool ok = SendBlocking(call, std::move(m), flags);
    if (ok) g_counters.messages_sent++;
    return ok;
  }
  bool Recv(ClientCall& call, Slice* m) {
    Stage("recv", recvs_++);
    bool ok = RecvBlocking(call, m);
    if (ok) {
      g_counters.messages_received++;
      g_counters.bytes_received += m->size();
    }
    return ok;
  }
  bool Expect(const Slice& got, const Slice& sent) {
    if (got.size() == sent.size() && std::memcmp(got.data(), sent.data(), got.size()) == 0) {
      return true;
    }
    Parsed p;
    std::string why;
    Parsed q;
    Parse(sent, &q, &why);
    if (!CheckMessage(got, q.tag, q.seq, &p, &why)) why = "echo differs";
    Fail("echo of message " + std::to_string(q.seq) + ": " + why);
    return false;
  }

  void Unary(ClientCall& call) {
    Slice req = MakeMessage(plan_->tag, 0, SizeFrom(rng_()));
    bool cancel = plan_->cancel == 1;
    if (!Send(call, req, kWriteLast)) return;
    if (cancel) return CancelNow(call);
    Slice resp;
    if (!Recv(call, &resp)) return;
    if (!Expect(resp, req)) return;
    Slice extra;
    if (Recv(call, &extra)) return Fail("a second response message");
    complete_ = true;
  }

  void ServerStream(ClientCall& call) {
    uint32_t n = plan_->count;
    if (!Send(call, MakeMessage(plan_->tag, 0, 4, &n), kWriteLast)) return;
    Slice m;
    uint32_t got = 0;
    while (true) {
      if (plan_->cancel == 1 && got == plan_->cancel_after) return CancelNow(call);
      if (!Recv(call, &m)) break;
      Parsed p;
      std::string why;
      if (!CheckMessage(m, plan_->tag, got, &p, &why)) return Fail(why);
      ++got;
    }
    if (got == n) complete_ = true;
    // Fewer than n: the status must say why (checked by the caller: OK would be a loss).
  }

  void ClientStream(ClientCall& call) {
    uint64_t hashes = 0;
    for (uint32_t i = 0; i < plan_->count; ++i) {
      if (plan_->cancel == 1 && i == plan_->cancel_after) return CancelNow(call);
      Slice m = MakeMessage(plan_->tag, i, SizeFrom(rng_()));
      uint64_t h;
      std::memcpy(&h, m.data() + m.size() - kTail, 8);
      if (!Send(call, std::move(m))) return;
      hashes ^= h;
    }
    if (plan_->cancel == 1) return CancelNow(call);
    Stage("close-send");
    if (!CloseSendBlocking(call)) return;
    Slice summary;
    if (!Recv(call, &summary)) return;
    Parsed p;
    std::string why;
    if (!CheckMessage(summary, plan_->tag, plan_->count, &p, &why) || p.len != 16) {
      return Fail("summary: " + (why.empty() ? "bad length" : why));
    }
    uint64_t s[2];
    std::memcpy(s, p.payload, 16);
    if (s[0] != plan_->count) {
      return Fail("the server received " + std::to_string(s[0]) + " of " +
                  std::to_string(plan_->count) + " messages");
    }
    if (s[1] != hashes) return Fail("the server's hash of the stream differs");
    complete_ = true;
  }

  void Bidi(ClientCall& call) {
    for (uint32_t i = 0; i < plan_->count; ++i) {
      if (plan_->cancel == 1 && i == plan_->cancel_after) return CancelNow(call);
      Slice m = MakeMessage(plan_->tag, i, SizeFrom(rng_()));
      if (!Send(call, m)) return;
      Slice echo;
      if (!Recv(call, &echo)) return;
      if (!Expect(echo, m)) return;
    }
    if (plan_->cancel == 1) return CancelNow(call);
    Stage("close-send");
    if (!CloseSendBlocking(call)) return;
    Slice extra;
    if (Recv(call, &extra)) return Fail("a message after the last echo");
    complete_ = true;
  }

  void Hold(ClientCall& call) {
    if (plan_->cancel == 1) {
      Send(call, MakeMessage(plan_->tag, 0, 16));
      return CancelNow(call);
    }
    Send(call, MakeMessage(plan_->tag, 0, 16));
  }

  int id_;
  std::mt19937_64 rng_;
  Canceller* canceller_;
  uint64_t calls_ = 0;
  const Plan* plan_ = nullptr;
  bool ok_ = true;
  bool complete_ = false;         // everything the call should deliver was delivered and checked
  bool cancelled_early_ = false;  // the worker cancelled before reading everything
  uint32_t sends_ = 0, recvs_ = 0;
  std::mutex desc_mu_;
  std::string desc_ = "idle";
  std::atomic<const char*> stage_{"idle"};
  std::atomic<uint32_t> stage_n_{0};
};

// ---- Driver -------------------------------------------------------------------------------------

struct Config {
  uint64_t rpcs = 1000000;
  double seconds = 0;  // 0: no time limit
  int workers = 8;
  int channels = 4;
  int restart_ms = 2000;  // 0: never
  int churn = 150;        // one call in this many replaces its channel (0: never)
  int phases = 10;
  double max_growth = 0.05;
  uint64_t seed = 1;
};

int64_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

Options ChannelOptions() {
  Options o;
  // Faster reconnects than gRPC's default (1 s, x1.6, up to 120 s) so that a restart every few
  // seconds does not leave channels backing off for long: the same mechanism, smaller numbers.
  o.Set("grpc.initial_reconnect_backoff_ms", 100);
  o.Set("grpc.max_reconnect_backoff_ms", 1000);
  return o;
}

// Channel slots shared by the workers; a worker now and then replaces one (the old channel
// lives until the calls on it end).
class ChannelPool {
 public:
  ChannelPool(int n, int port) : slots_(static_cast<size_t>(n)), port_(port) {}
  std::shared_ptr<Channel> Get(size_t i, bool replace) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& s = slots_[i % slots_.size()];
    if (!s || replace) {
      s = Channel::Create("127.0.0.1:" + std::to_string(port_), ChannelCredentials::Insecure(),
                          ChannelOptions());
      created_++;
    }
    return s;
  }
  void DropAll() {
    std::vector<std::shared_ptr<Channel>> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& s : slots_) old.push_back(std::move(s));
      slots_.assign(slots_.size(), nullptr);
    }
  }
  uint64_t created() const { return created_.load(); }

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Channel>> slots_;
  const int port_;
  std::atomic<uint64_t> created_{0};
};

struct Checkpoint {
  uint64_t rpcs;
  double seconds;
  int64_t resident;
  int64_t heap_in_use;  // malloc's count of allocated bytes (mallinfo2), all arenas
  int64_t cached;       // of which in polyrpc's per-thread free lists and object pools (free
                        // for reuse)
  bool idle;
  int64_t held() const { return resident - cached; }
};

void PrintUsage() {
  std::fprintf(stderr,
               "usage: polyrpc_soak [--rpcs N] [--seconds S] [--workers W] [--channels C]\n"
               "                    [--restart-ms R] [--churn N] [--phases P] [--max-growth F]\n"
               "                    [--seed X]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  bool rpcs_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        PrintUsage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rpcs") {
      cfg.rpcs = std::strtoull(next(), nullptr, 10);
      rpcs_given = true;
    } else if (a == "--seconds") {
      cfg.seconds = std::atof(next());
    } else if (a == "--workers") {
      cfg.workers = std::max(1, std::atoi(next()));
    } else if (a == "--channels") {
      cfg.channels = std::max(1, std::atoi(next()));
    } else if (a == "--restart-ms") {
      cfg.restart_ms = std::max(0, std::atoi(next()));
    } else if (a == "--churn") {
      cfg.churn = std::max(0, std::atoi(next()));
    } else if (a == "--phases") {
      cfg.phases = std::max(2, std::atoi(next()));
    } else if (a == "--max-growth") {
      cfg.max_growth = std::atof(next());
    } else if (a == "--seed") {
      cfg.seed = std::strtoull(next(), nullptr, 10);
    } else {
      PrintUsage();
      return 2;
    }
  }
  if (cfg.seconds > 0 && !rpcs_given) cfg.rpcs = UINT64_MAX;
  std::printf("soak: %s RPCs%s, %d workers, %d channel slots, server restart every %d ms, %d phases\n",
              cfg.rpcs == UINT64_MAX ? "unlimited" : std::to_string(cfg.rpcs).c_str(),
              cfg.seconds > 0 ? (", at most " + std::to_string(cfg.seconds) + " s").c_str() : "",
              cfg.workers, cfg.channels, cfg.restart_ms, cfg.phases);
  std::fflush(stdout);

  int port = 0;
  std::unique_ptr<Server> server = StartServer(0, &port);
  ChannelPool pool(cfg.channels, port);
  Canceller canceller;
  uint64_t restarts = 0;

  // Phase control: workers run calls while issued < limit; main waits for all to park.
  std::mutex mu;
  std::condition_variable cv;
  uint64_t phase = 0;
  int parked = 0;
  bool done = false;
  std::atomic<uint64_t> issued{0}, completed{0}, phase_limit{0};
  std::atomic<bool> phase_open{false};
  // Watchdog: when each worker's current call started (0: none).
  std::vector<std::atomic<int64_t>> busy_since(static_cast<size_t>(cfg.workers));
  for (auto& b : busy_since) b = 0;

  std::vector<std::unique_ptr<Worker>> worker_state;
  for (int w = 0; w < cfg.workers; ++w) {
    worker_state.push_back(std::make_unique<Worker>(w, cfg.seed, &canceller));
  }
  std::vector<std::thread> workers;
  for (int w = 0; w < cfg.workers; ++w) {
    workers.emplace_back([&, w] {
      Worker& worker = *worker_state[static_cast<size_t>(w)];
      std::mt19937_64 rng(cfg.seed * 7919 + static_cast<uint64_t>(w));
      uint64_t seen_phase = 0;
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(mu);
          ++parked;
          cv.notify_all();
          cv.wait(lock, [&] { return done || phase != seen_phase; });
          --parked;
          if (done) return;
          seen_phase = phase;
        }
        while (phase_open.load()) {
          if (issued.fetch_add(1) >= phase_limit.load()) {
            issued.fetch_sub(1);
            break;
          }
          Plan plan = worker.MakePlan();
          // Churn: about one call in cfg.churn replaces the channel it runs on.
          bool replace = cfg.churn > 0 && rng() % static_cast<uint64_t>(cfg.churn) == 0;
          auto ch = pool.Get(rng() % static_cast<uint64_t>(cfg.channels), replace);
          busy_since[static_cast<size_t>(w)] = NowNs();
          worker.Run(*ch, plan);
          busy_since[static_cast<size_t>(w)] = 0;
          completed++;
        }
      }
    });
  }
  std::atomic<bool> watchdog_stop{false};
  std::thread watchdog([&] {
    while (!watchdog_stop) {
      std::this_thread::sleep_for(500ms);
      int64_t now = NowNs();
      for (size_t i = 0; i < busy_since.size(); ++i) {
        int64_t b = busy_since[i].load();
        if (b != 0 && now - b > int64_t{60} * 1000000000) {
          std::fprintf(stderr, "soak: HANG: worker %zu has been in one call for over 60 s: %s\n",
                       i, worker_state[i]->Describe().c_str());
          if (std::getenv("SOAK_HANG_WAIT") != nullptr) {
            // Left running for a debugger.
            std::fprintf(stderr, "soak: pid %d left running (SOAK_HANG_WAIT)\n", getpid());
            for (;;) std::this_thread::sleep_for(1s);
          }
          std::_Exit(3);
        }
      }
    }
  });

  auto t_start = Clock::now();
  double cpu_start = CpuSeconds();
  std::vector<Checkpoint> checkpoints;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t_start).count(); };
  for (int ph = 1; ph <= cfg.phases; ++ph) {
    uint64_t limit = cfg.rpcs == UINT64_MAX ? UINT64_MAX : cfg.rpcs / cfg.phases * ph;
    if (ph == cfg.phases && cfg.rpcs != UINT64_MAX) limit = cfg.rpcs;
    double phase_end = cfg.seconds > 0 ? cfg.seconds * ph / cfg.phases : 0;
    phase_limit = limit;
    phase_open = true;
    {
      std::lock_guard<std::mutex> lock(mu);
      ++phase;
    }
    cv.notify_all();
    auto next_restart = Clock::now() + std::chrono::milliseconds(cfg.restart_ms);
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      bool time_up = phase_end > 0 && elapsed() >= phase_end;
      if (time_up) phase_open = false;
      if (issued.load() >= limit || time_up) {
        phase_open = false;
        if (parked == cfg.workers) break;
      }
      cv.wait_for(lock, 20ms);
      lock.unlock();
      if (cfg.restart_ms > 0 && phase_open && Clock::now() >= next_restart) {
        // Graceful restart on the same port, under load.
        g_restart_gen++;  // odd: down
        server->Shutdown(Clock::now() + 2s);
        server.reset();
        server = StartServer(port, nullptr);
        g_restart_end_ns = NowNs();
        g_restart_gen++;  // even: up
        restarts++;
        next_restart = Clock::now() + std::chrono::milliseconds(cfg.restart_ms);
      }
    }
    // Quiet checkpoint: every call is over; drop the channels; the server must hold nothing.
    pool.DropAll();
    bool idle = false;
    ServerStats st;
    for (int i = 0; i < 1000 && !idle; ++i) {
      st = server->GetStats();
      idle = st.connections == 0 && st.calls == 0 && st.memory_used == 0;
      if (!idle) std::this_thread::sleep_for(10ms);
    }
    if (!idle) {
      g_failures.Add("checkpoint " + std::to_string(ph) + ": the server still holds " +
                     std::to_string(st.connections) + " connections, " +
                     std::to_string(st.calls) + " calls, " + std::to_string(st.memory_used) +
                     " charged bytes");
    }
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    Checkpoint c{completed.load(), elapsed(), ResidentBytes(),
                 static_cast<int64_t>(mi.uordblks + mi.hblkhd),
                 static_cast<int64_t>(SmallAllocAllThreadsCachedBytes() + ObjectPoolCachedBytes()),
                 idle};
    checkpoints.push_back(c);
    std::printf("checkpoint %2d: %9llu RPCs, %7.1f s, resident %6.1f MiB, malloc in use %6.1f MiB "
                "(free lists %4.1f MiB)%s, %llu failures\n",
                ph, static_cast<unsigned long long>(c.rpcs), c.seconds, c.resident / 1048576.0,
                c.heap_in_use / 1048576.0, c.cached / 1048576.0,
                idle ? "" : " (server NOT idle)",
                static_cast<unsigned long long>(g_failures.count + g_server_errors.count));
    std::fflush(stdout);
    if (issued.load() >= cfg.rpcs) break;
    if (cfg.seconds > 0 && elapsed() >= cfg.seconds) break;
  }
  double wall = elapsed();
  double cpu = CpuSeconds() - cpu_start;
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  for (auto& t : workers) t.join();
  watchdog_stop = true;
  watchdog.join();
  server->Shutdown(Clock::now() + 2s);
  server.reset();

  // ---- Report ----
  uint64_t total = completed.load();
  std::printf("\n%llu RPCs in %.1f s (%.0f/s), CPU %.1f s; %llu server restarts, %llu channels "
              "created\n",
              static_cast<unsigned long long>(total), wall, total / wall, cpu,
              static_cast<unsigned long long>(restarts),
              static_cast<unsigned long long>(pool.created()));
  std::printf("messages: %llu sent, %llu received (%.1f MiB), every one checked\n",
              static_cast<unsigned long long>(g_counters.messages_sent.load()),
              static_cast<unsigned long long>(g_counters.messages_received.load()),
              g_counters.bytes_received.load() / 1048576.0);
  std::printf("cancellations: %llu by the calling thread, %llu scheduled from another thread "
              "(%llu fired)\n",
              static_cast<unsigned long long>(g_counters.cancelled_by_worker.load()),
              static_cast<unsigned long long>(g_counters.cancel_scheduled.load()),
              static_cast<unsigned long long>(canceller.fired()));
  std::printf("\n%-14s %10s %10s %10s %10s %10s %10s\n", "kind", "OK", "CANCELLED", "DEADLINE",
              "UNAVAIL", "other", "total");
  const int shown[] = {0, 1, 4, 14};
  for (int k = 0; k < kKinds; ++k) {
    uint64_t sum = 0, other = 0;
    for (int c = 0; c <= 16; ++c) {
      uint64_t v = g_counters.by[k][c].load();
      sum += v;
      if (c != 0 && c != 1 && c != 4 && c != 14) other += v;
    }
    std::printf("%-14s", kKindNames[k]);
    for (int c : shown) {
      std::printf(" %10llu", static_cast<unsigned long long>(g_counters.by[k][c].load()));
    }
    std::printf(" %10llu %10llu\n", static_cast<unsigned long long>(other),
                static_cast<unsigned long long>(sum));
  }
  // What is compared: resident memory less the bytes in polyrpc's per-thread free lists and
  // call-object pools. Those are free blocks kept for reuse, bounded per thread by design (2 MiB
  // of small blocks, runtime/small_alloc.h; 1024 objects of each pooled class,
  // runtime/object_pool.h); a loop thread that deletes calls made by application threads fills
  // them over the first hundred thousand RPCs, long after the warm-up, which would pass for
  // growth.
  int64_t warm = checkpoints.front().held();
  int64_t last = checkpoints.back().held();
  int64_t max_after = warm;
  for (size_t i = 1; i < checkpoints.size(); ++i) {
    max_after = std::max(max_after, checkpoints[i].held());
  }
  double growth = checkpoints.size() > 1 ? static_cast<double>(last - warm) / warm : 0;
  double max_growth = static_cast<double>(max_after - warm) / warm;
  std::printf("\nresident less free lists after warm-up %.1f MiB, at the end %.1f MiB: growth %+.2f%% (highest "
              "checkpoint %+.2f%%; limit %.0f%%)\n",
              warm / 1048576.0, last / 1048576.0, growth * 100, max_growth * 100,
              cfg.max_growth * 100);
  bool ok = true;
  if (checkpoints.size() < 2) {
    std::printf("FAIL: fewer than two checkpoints, memory not compared\n");
    ok = false;
  }
  if (growth > cfg.max_growth) {
    std::printf("FAIL: resident memory (less free lists) grew by more than %.0f%% after warm-up\n",
                cfg.max_growth * 100);
    ok = false;
  }
  for (Failures* f : {&g_server_errors, &g_failures}) {
    if (f->count == 0) continue;
    ok = false;
    std::printf("FAIL: %llu %s\n", static_cast<unsigned long long>(f->count.load()),
                f == &g_server_errors ? "errors seen by the server" : "failed calls or checks");
    std::lock_guard<std::mutex> lock(f->mu);
    for (auto& s : f->first) std::printf("  %s\n", s.c_str());
  }
  std::printf("%s\n", ok ? "PASS: nothing lost, duplicated, corrupted or wrongly failed"
                         : "soak FAILED");
  return ok ? 0 : 1;
}
