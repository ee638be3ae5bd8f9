// Channels at scale (docs/channels.md): target URIs and resolvers, pick_first and round_robin
// over several polyrpc servers on loopback addresses (127.0.0.2, 127.0.0.3, ...: Linux routes
// all of 127/8 to lo), service config, retries and hedging. Every wait is bounded.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "channel/channel_impl.h"
#include "channel/resolver.h"
#include "channel/service_config.h"
#include "polyrpc++/polyrpc.hpp"
#include "polyrpc++/resolver.hpp"
#include "protocol/json.h"
#include "transport/dns.h"

using namespace polyrpc;
using namespace std::chrono_literals;

namespace {

// ---- pure pieces -------------------------------------------------------------------------------

TEST(Json, ParsesDocumentsAndRefusesBadOnes) {
  Json j;
  std::string err;
  ASSERT_TRUE(Json::Parse(R"( {"a": [1, 2.5e1, -0.5], "b": {"c": "x\u00e9\ud83d\ude00\n"},
                              "t": true, "f": false, "n": null} )", &j, &err)) << err;
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.Find("a")->array().size(), 3u);
  EXPECT_EQ(j.Find("a")->array()[1].number(), 25);
  EXPECT_EQ(j.Find("a")->array()[2].number_text(), "-0.5");
  EXPECT_EQ(j.Find("b")->Find("c")->string_value(), "x\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_TRUE(j.Find("t")->bool_value());
  EXPECT_TRUE(j.Find("n")->is_null());
  EXPECT_EQ(j.Find("zz"), nullptr);
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "\"\\x\"",
                          "{\"a\":1,\"a\":2}", "\"\\ud800\"", "tru", "[1] 2", "\"a\nb\""}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(Json::Parse(bad, &j, &err));
    EXPECT_FALSE(err.empty());
  }
  std::string deep(100, '[');
  EXPECT_FALSE(Json::Parse(deep + std::string(100, ']'), &j, &err));
}

TEST(ServiceConfigParse, ReadsMethodConfigsPoliciesAndThrottling) {
  std::string err;
  auto sc = ServiceConfig::Parse(R"({
    "loadBalancingConfig": [{"grpclb": {}}, {"round_robin": {}}],
    "methodConfig": [
      {"name": [{"service": "pkg.Svc", "method": "Get"}], "timeout": "1.5s",
       "waitForReady": true, "maxRequestMessageBytes": 1024, "maxResponseMessageBytes": "2048",
       "retryPolicy": {"maxAttempts": 9, "initialBackoff": "0.1s", "maxBackoff": "1s",
                       "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE", 10]}},
      {"name": [{"service": "pkg.Svc"}],
       "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.05s",
                         "nonFatalStatusCodes": ["UNAVAILABLE"]}},
      {"name": [{}], "timeout": "10s"}
    ],
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1234}
  })", &err);
  ASSERT_TRUE(sc) << err;
  EXPECT_EQ(sc->lb_policy(), "round_robin");
  const MethodConfig* get = sc->Find("/pkg.Svc/Get");
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->timeout_ns, 1500000000);
  EXPECT_EQ(get->wait_for_ready, 1);
  EXPECT_EQ(get->max_request_bytes, 1024);
  EXPECT_EQ(get->max_response_bytes, 2048);
  ASSERT_TRUE(get->retry);
  EXPECT_EQ(get->retry->max_attempts, 5);  // capped, as gRPC does
  EXPECT_EQ(get->retry->initial_backoff_ns, 100000000);
  EXPECT_EQ(get->retry->retryable_codes,
            StatusBit(StatusCode::UNAVAILABLE) | StatusBit(StatusCode::ABORTED));
  const MethodConfig* other = sc->Find("/pkg.Svc/Other");
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->hedging);
  EXPECT_EQ(other->hedging->hedging_delay_ns, 50000000);
  const MethodConfig* def = sc->Find("/x.Y/Z");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->timeout_ns, 10000000000);
  ASSERT_TRUE(sc->retry_throttling());
  EXPECT_DOUBLE_EQ(sc->retry_throttling()->token_ratio, 0.123);

  auto plain = ServiceConfig::Parse(R"({"loadBalancingPolicy": "ROUND_ROBIN"})", &err);
  ASSERT_TRUE(plain) << err;
  EXPECT_EQ(plain->lb_policy(), "round_robin");
  EXPECT_EQ(plain->Find("/a.B/C"), nullptr);

  for (const char* bad : {
           R"([])",
           R"({"loadBalancingConfig": [{"grpclb": {}}]})",
           R"({"loadBalancingPolicy": "magic"})",
           R"({"methodConfig": [{"name": [{"method": "M"}]}]})",
           R"({"methodConfig": [{"name": [{"service": "s"}]}, {"name": [{"service": "s"}]}]})",
           R"({"methodConfig": [{"name": [{}], "timeout": "1"}]})",
           R"({"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 1,
               "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 1,
               "retryableStatusCodes": ["UNAVAILABLE"]}}]})",
           R"({"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
               "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 1,
               "retryableStatusCodes": []}}]})",
           R"({"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
               "initialBackoff": "0s", "maxBackoff": "1s", "backoffMultiplier": 1,
               "retryableStatusCodes": ["UNAVAILABLE"]}}]})",
           R"({"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2,
               "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 1,
               "retryableStatusCodes": ["NOPE"]}}]})",
           R"({"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2},
               "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s",
               "backoffMultiplier": 1, "retryableStatusCodes": ["UNAVAILABLE"]}}]})",
           R"({"retryThrottling": {"maxTokens": 0, "tokenRatio": 1}})",
           R"({"retryThrottling": {"maxTokens": 10}})",
       }) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ServiceConfig::Parse(bad, &err));
    EXPECT_FALSE(err.empty());
  }
}

TEST(ServiceConfigParse, Durations) {
  int64_t ns = 0;
  EXPECT_TRUE(ParseJsonDuration("1s", &ns));
  EXPECT_EQ(ns, 1000000000);
  EXPECT_TRUE(ParseJsonDuration("0.000000001s", &ns));
  EXPECT_EQ(ns, 1);
  EXPECT_TRUE(ParseJsonDuration("2.5s", &ns));
  EXPECT_EQ(ns, 2500000000);
  for (const char* bad : {"", "s", "1", "-1s", "1.s", ".5s", "1.0000000001s", "1ms", "x s"}) {
    EXPECT_FALSE(ParseJsonDuration(bad, &ns)) << bad;
  }
}

TEST(ChannelTarget, ParsesGrpcNamingForms) {
  Options o;
  TargetSpec t;
  std::string err;
  ASSERT_TRUE(ParseChannelTarget("ipv4:127.0.0.2:5,127.0.0.3:6,10.0.0.1", o, &t, &err)) << err;
  EXPECT_EQ(t.kind, TargetSpec::kStatic);
  ASSERT_EQ(t.addresses.size(), 3u);
  EXPECT_EQ(t.addresses[0].name, "ipv4:127.0.0.2:5");
  EXPECT_EQ(t.addresses[2].name, "ipv4:10.0.0.1:443");
  EXPECT_EQ(t.authority, "127.0.0.2:5,127.0.0.3:6,10.0.0.1");  // gRPC: the URI's path

  ASSERT_TRUE(ParseChannelTarget("ipv6:[::1]:7,[::2]", o, &t, &err)) << err;
  ASSERT_EQ(t.addresses.size(), 2u);
  EXPECT_EQ(t.addresses[1].name, "ipv6:[::2]:443");

  ASSERT_TRUE(ParseChannelTarget("ipv4:127.0.0.1:9", o, &t, &err)) << err;
  EXPECT_EQ(t.authority, "127.0.0.1:9");

  ASSERT_TRUE(ParseChannelTarget("unix-abstract:some name", o, &t, &err)) << err;
  ASSERT_EQ(t.addresses.size(), 1u);
  EXPECT_EQ(t.addresses[0].name, "unix-abstract:some name");
  EXPECT_EQ(t.authority, "localhost");

  ASSERT_TRUE(ParseChannelTarget("unix:///tmp/x.sock", o, &t, &err)) << err;
  EXPECT_EQ(t.addresses[0].name, "unix:/tmp/x.sock");

  ASSERT_TRUE(ParseChannelTarget("dns://127.0.0.1:5353/svc.example:8080", o, &t, &err)) << err;
  EXPECT_EQ(t.kind, TargetSpec::kDns);
  EXPECT_EQ(t.host, "svc.example");
  EXPECT_EQ(t.port, 8080);
  EXPECT_EQ(t.dns_server, "127.0.0.1:5353");
  EXPECT_EQ(t.authority, "svc.example:8080");

  ASSERT_TRUE(ParseChannelTarget("dns:///localhost:1", o, &t, &err)) << err;
  EXPECT_EQ(t.kind, TargetSpec::kDns);
  ASSERT_TRUE(ParseChannelTarget("localhost:50051", o, &t, &err)) << err;  // no scheme: dns
  EXPECT_EQ(t.kind, TargetSpec::kDns);
  EXPECT_EQ(t.host, "localhost");
  ASSERT_TRUE(ParseChannelTarget("dns:127.0.0.1:5", o, &t, &err)) << err;
  EXPECT_EQ(t.kind, TargetSpec::kStatic);  // an IP literal needs no lookup

  for (const char* bad : {"", "ipv4:", "ipv4:1.2.3.4:1,::1", "ipv4:a.b:1", "ipv6:1.2.3.4:1",
                          "ipv4://x/1.2.3.4:1", "unix:", "dns://name.server/host:1", "dns:",
                          "host:99999"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseChannelTarget(bad, o, &t, &err));
  }
}

TEST(Dns, QueryAndAnswerBytes) {
  std::string q;
  ASSERT_TRUE(BuildDnsQuery(0x1234, "a.example.", kDnsTxt, &q));
  // Header, "\1a\7example\0", type 16, class 1, then the OPT record.
  EXPECT_EQ(q.substr(0, 4), std::string("\x12\x34\x01\x00", 4));
  EXPECT_EQ(q.substr(12, 11), std::string("\x01" "a" "\x07" "example" "\x00", 11));
  EXPECT_EQ(q.substr(23, 4), std::string("\x00\x10\x00\x01", 4));
  EXPECT_FALSE(BuildDnsQuery(1, "a..b", kDnsA, &q));
  EXPECT_FALSE(BuildDnsQuery(1, std::string(64, 'x') + ".com", kDnsA, &q));

  // An answer with a CNAME, an A and a TXT record (two strings), names compressed.
  std::string m("\x12\x34\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00", 12);
  m += std::string("\x01" "a" "\x07" "example" "\x00" "\x00\x01\x00\x01", 15);
  m += std::string("\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x10\x00\x02\xc0\x0c", 14);
  m += std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x10\x00\x04\x7f\x00\x00\x02", 16);
  m += std::string("\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x10\x00\x06\x02" "ab" "\x02" "cd", 18);
  DnsAnswer a;
  std::string err;
  ASSERT_TRUE(ParseDnsResponse(m, 0x1234, 80, &a, &err)) << err;
  ASSERT_EQ(a.addresses.size(), 1u);
  EXPECT_EQ(a.addresses[0].name, "ipv4:127.0.0.2:80");
  ASSERT_EQ(a.txt.size(), 1u);
  EXPECT_EQ(a.txt[0], "abcd");
  EXPECT_FALSE(ParseDnsResponse(m, 0x9999, 80, &a, &err));
  EXPECT_FALSE(ParseDnsResponse(m.substr(0, m.size() - 3), 0x1234, 80, &a, &err));
}

TEST(Dns, ServiceConfigFromTxtPicksTheFirstChoiceThatApplies) {
  std::string err;
  auto sc = ServiceConfigFromTxt(
      {"unrelated", "grpc_config=[{\"clientLanguage\":[\"go\"],\"serviceConfig\":"
                    "{\"loadBalancingPolicy\":\"pick_first\"}},",
       "grpc_config={\"percentage\":100,\"serviceConfig\":{\"loadBalancingPolicy\":"
       "\"round_robin\"}}]"},
      &err);
  ASSERT_TRUE(sc) << err;
  EXPECT_EQ(sc->lb_policy(), "round_robin");
  EXPECT_FALSE(ServiceConfigFromTxt({"grpc_config=[{\"percentage\":0,\"serviceConfig\":{}}]"},
                                    &err));
  EXPECT_TRUE(err.empty());
  EXPECT_FALSE(ServiceConfigFromTxt({"grpc_config=nope"}, &err));
  EXPECT_FALSE(err.empty());
}

// ---- backends ----------------------------------------------------------------------------------

// What every backend of a test shares: the order in which calls arrived anywhere.
struct Shared {
  std::atomic<int> arrivals{0};
};

// A polyrpc server on one loopback address; "/test.Lb/Who" answers with its host. Per call,
// x-delay-ms delays the answer (ending early if the call is cancelled), x-fail-first makes the
// first N calls of the backend end with UNAVAILABLE, x-hang-before N makes the calls that arrive
// (at any backend) before the Nth hang until cancelled, x-pushback adds grpc-retry-pushback-ms.
class Backend {
 public:
  Backend(std::string host, int port, std::shared_ptr<Shared> shared)
      : host_(std::move(host)), shared_(std::move(shared)) {
    server_ = Server::Create();
    server_->RegisterMethod("/test.Lb/Who", [this](std::shared_ptr<ServerCall> call) {
      auto c = call;
      c->RecvMessage([this, c](bool ok) {
        Slice msg;
        if (!ok || !c->TakeMessage(&msg)) return;
        OnCall(c);
      });
    });
    std::string err;
    port_ = server_->AddListener(host_ + ":" + std::to_string(port), ServerCredentials::Insecure(),
                                 &err);
    EXPECT_GT(port_, 0) << err;
    EXPECT_TRUE(server_->Start(&err)) << err;
  }
  ~Backend() {
    Stop();
    // The delayed answers' threads use this object until their last statement (the shutdown
    // above cancelled their calls, so they end within a poll).
    for (int i = 0; i < 5000 && delayed_ > 0; ++i) std::this_thread::sleep_for(1ms);
  }
  void Stop() {
    if (server_) server_->Shutdown(Clock::now());
    server_.reset();
  }
  int port() const { return port_; }
  const std::string& host() const { return host_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  std::atomic<int> calls{0};
  std::atomic<int> cancelled{0};
  std::atomic<bool> always_unavailable{false};

 private:
  void OnCall(std::shared_ptr<ServerCall> c) {
    int mine = calls++;
    int order = shared_->arrivals++;
    const Metadata& md = c->client_metadata();
    int delay = 0, fail_first = 0, hang_before = -1;
    if (auto* v = FindMetadata(md, "x-delay-ms")) delay = atoi(v->c_str());
    if (auto* v = FindMetadata(md, "x-fail-first")) fail_first = atoi(v->c_str());
    if (auto* v = FindMetadata(md, "x-hang-before")) hang_before = atoi(v->c_str());
    Metadata trailers;
    if (auto* v = FindMetadata(md, "x-pushback")) trailers.emplace_back("grpc-retry-pushback-ms", *v);
    if (auto* v = FindMetadata(md, "x-status")) {
      c->SendStatus(Status(static_cast<StatusCode>(atoi(v->c_str())), "as asked"), trailers,
                    [](bool) {});
      return;
    }
    if (mine < fail_first || always_unavailable) {
      c->SendStatus(Status(StatusCode::UNAVAILABLE, "not yet"), trailers, [](bool) {});
      return;
    }
    if (order < hang_before) delay = 5000;
    if (delay == 0) {
      Answer(*c);
      return;
    }
    delayed_++;
    std::thread([this, c, delay] {
      auto until = Clock::now() + std::chrono::milliseconds(delay);
      while (Clock::now() < until && !c->IsCancelled()) std::this_thread::sleep_for(2ms);
      if (c->IsCancelled()) {
        cancelled++;
      } else {
        Answer(*c);
      }
      delayed_--;
    }).detach();
  }
  void Answer(ServerCall& c) {
    c.SendMessage(Slice::Copy(host_), 0, [](bool) {});
    c.SendStatus(Status::Ok(), {}, [](bool) {});
  }

  std::string host_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Server> server_;
  int port_ = -1;
  std::atomic<int> delayed_{0};  // threads of delayed answers still running
};

struct Backends {
  explicit Backends(int n, bool same_port = false) {
    for (int i = 0; i < n; ++i) {
      int port = same_port && i > 0 ? list[0]->port() : 0;
      list.push_back(std::make_unique<Backend>("127.0.0." + std::to_string(i + 2), port, shared));
    }
  }
  std::string Ipv4Target() const {
    std::string t = "ipv4:";
    for (size_t i = 0; i < list.size(); ++i) t += (i ? "," : "") + list[i]->address();
    return t;
  }
  int Total() const {
    int n = 0;
    for (auto& b : list) n += b->calls;
    return n;
  }
  void Reset() {
    for (auto& b : list) b->calls = 0;
  }
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::vector<std::unique_ptr<Backend>> list;
};

Status Who(Channel& ch, std::string* who = nullptr, Metadata md = {},
           std::chrono::milliseconds timeout = 3000ms, bool wait_for_ready = false) {
  CallOptions o;
  o.deadline = DeadlineAfter(timeout);
  o.metadata = std::move(md);
  o.wait_for_ready = wait_for_ready;
  Slice resp;
  Status st = BlockingUnaryCall(ch, "/test.Lb/Who", Slice::Copy("?"), &resp, o);
  if (who) *who = st.ok() ? resp.ToString() : "";
  return st;
}

std::shared_ptr<Channel> MakeChannel(const std::string& target, const Options& o = Options()) {
  std::string err;
  auto ch = Channel::Create(target, ChannelCredentials::Insecure(), o, &err);
  EXPECT_TRUE(ch) << err;
  return ch;
}

Options RoundRobin() {
  Options o;
  o.Set("grpc.lb_policy_name", std::string("round_robin"));
  return o;
}

// Calls until every backend has answered once (round_robin connects to all of them, in
// parallel), then forgets the counts.
void WarmUp(Channel& ch, Backends& b) {
  auto until = Clock::now() + 5s;
  while (Clock::now() < until) {
    bool all = true;
    for (auto& x : b.list) all = all && x->calls > 0;
    if (all) break;
    Who(ch);
  }
  for (auto& x : b.list) ASSERT_GT(x->calls, 0) << x->host() << " never answered";
  b.Reset();
}

// ---- load balancing ----------------------------------------------------------------------------

TEST(LoadBalancing, RoundRobinSpreadsCallsEvenly) {
  Backends b(3);
  auto ch = MakeChannel(b.Ipv4Target(), RoundRobin());
  WarmUp(*ch, b);
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(Who(*ch).ok());
  // Once all three are READY the rotation is exact.
  for (auto& x : b.list) EXPECT_EQ(x->calls, 100) << x->host();
  EXPECT_EQ(ch->GetState(false), ConnectivityState::READY);
}

TEST(LoadBalancing, RoundRobinSpreadsConcurrentAsyncCallsToo) {
  Backends b(3);
  auto ch = MakeChannel(b.Ipv4Target(), RoundRobin());
  WarmUp(*ch, b);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) failures += Who(*ch).ok() ? 0 : 1;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  for (auto& x : b.list) {
    EXPECT_GE(x->calls, 90) << x->host();
    EXPECT_LE(x->calls, 110) << x->host();
  }
}

TEST(LoadBalancing, PickFirstSendsEverythingToTheFirstAddressThatWorks) {
  Backends b(2);
  int closed;
  {
    Backend gone("127.0.0.5", 0, b.shared);
    closed = gone.port();
  }
  // The first address refuses connections: pick_first moves on to the next.
  auto ch = MakeChannel("ipv4:127.0.0.5:" + std::to_string(closed) + "," + b.list[0]->address() +
                        "," + b.list[1]->address());
  for (int i = 0; i < 20; ++i) {
    std::string who;
    ASSERT_TRUE(Who(*ch, &who).ok());
    EXPECT_EQ(who, "127.0.0.2");
  }
  EXPECT_EQ(b.list[1]->calls, 0);
}

TEST(LoadBalancing, PickFirstFailsOverWhenItsServerGoes) {
  Backends b(2);
  auto ch = MakeChannel(b.Ipv4Target());
  std::string who;
  ASSERT_TRUE(Who(*ch, &who).ok());
  EXPECT_EQ(who, "127.0.0.2");
  b.list[0]->Stop();
  // The connection is lost (IDLE); the next call walks the list again and lands on the second.
  auto until = Clock::now() + 5s;
  Status st;
  while (Clock::now() < until) {
    st = Who(*ch, &who);
    if (st.ok()) break;
  }
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(who, "127.0.0.3");
}

// A polyrpc server in a child process on host, killed with SIGKILL by the test (no GOAWAY, no
// FIN before the kernel's): a real crash.
class ChildServer {
 public:
  explicit ChildServer(const std::string& host) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(fds[0]);
      auto server = Server::Create();
      server->RegisterMethod("/test.Lb/Who", [host](std::shared_ptr<ServerCall> c) {
        c->RecvMessage([c, host](bool) {
          Slice m;
          c->TakeMessage(&m);
          c->SendMessage(Slice::Copy(host), 0, [](bool) {});
          c->SendStatus(Status::Ok(), {}, [](bool) {});
        });
      });
      int port = server->AddListener(host + ":0", ServerCredentials::Insecure());
      if (port <= 0 || !server->Start()) _exit(2);
      if (write(fds[1], &port, sizeof port) != sizeof port) _exit(3);
      for (;;) pause();
    }
    close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 10000) == 1) {
      EXPECT_EQ(read(fds[0], &port_, sizeof port_), static_cast<ssize_t>(sizeof port_));
    }
    close(fds[0]);
    EXPECT_GT(port_, 0);
  }
  ~ChildServer() { Kill(); }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST(LoadBalancing, RoundRobinAvoidsAKilledServerAfterItsFailure) {
  Backends b(2);
  ChildServer child("127.0.0.4");
  ASSERT_GT(child.port(), 0);
  auto ch = MakeChannel(b.Ipv4Target() + ",127.0.0.4:" + std::to_string(child.port()),
                        RoundRobin());
  // Connections come up in parallel; call until all three have answered.
  std::set<std::string> seen;
  for (auto until = Clock::now() + 5s; seen.size() < 3 && Clock::now() < until;) {
    std::string who;
    if (Who(*ch, &who).ok()) seen.insert(who);
  }
  ASSERT_EQ(seen.size(), 3u);
  child.Kill();
  // Calls racing the crash may fail (the connection dies under them); once the channel has seen
  // the connection go, it stops picking it.
  int failures = 0;
  for (int i = 0; i < 30; ++i) {
    std::string who;
    if (!Who(*ch, &who).ok()) failures++;
  }
  EXPECT_LE(failures, 3);
  b.Reset();
  for (int i = 0; i < 100; ++i) {
    std::string who;
    Status st = Who(*ch, &who);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_NE(who, "127.0.0.4");
  }
  EXPECT_EQ(b.list[0]->calls, 50);
  EXPECT_EQ(b.list[1]->calls, 50);
  EXPECT_EQ(ch->GetState(false), ConnectivityState::READY);
}

TEST(LoadBalancing, RoundRobinGoesToTransientFailureWhenAllAreGoneAndBackWhenOneReturns) {
  Backends b(2);
  int port0 = b.list[0]->port();
  auto ch = MakeChannel(b.Ipv4Target(), [] {
    Options o = RoundRobin();
    o.Set("grpc.initial_reconnect_backoff_ms", 50);
    o.Set("grpc.max_reconnect_backoff_ms", 100);
    return o;
  }());
  WarmUp(*ch, b);
  b.list[0]->Stop();
  b.list[1]->Stop();
  auto until = Clock::now() + 5s;
  while (ch->GetState(false) != ConnectivityState::TRANSIENT_FAILURE && Clock::now() < until) {
    ch->WaitForStateChange(ch->GetState(false), Clock::now() + 100ms);
  }
  ASSERT_EQ(ch->GetState(false), ConnectivityState::TRANSIENT_FAILURE);
  EXPECT_EQ(Who(*ch).code(), StatusCode::UNAVAILABLE);  // fails fast
  // One comes back on its old address: round_robin keeps reconnecting and finds it.
  Backend back("127.0.0.2", port0, b.shared);
  std::string who;
  Status st = Who(*ch, &who, {}, 3000ms, /*wait_for_ready=*/true);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(who, "127.0.0.2");
}

TEST(LoadBalancing, ServiceConfigChoosesThePolicy) {
  Backends b(2);
  Options o;
  o.Set("grpc.service_config", std::string(R"({"loadBalancingConfig": [{"round_robin": {}}]})"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  WarmUp(*ch, b);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Who(*ch).ok());
  EXPECT_EQ(b.list[0]->calls, 5);
  EXPECT_EQ(b.list[1]->calls, 5);
}

TEST(LoadBalancing, AnInvalidServiceConfigFailsChannelCreation) {
  std::string err;
  Options o;
  o.Set("grpc.service_config", std::string(R"({"methodConfig": 7})"));
  EXPECT_FALSE(Channel::Create("127.0.0.1:1", ChannelCredentials::Insecure(), o, &err));
  EXPECT_NE(err.find("grpc.service_config"), std::string::npos) << err;
}

// ---- resolvers ---------------------------------------------------------------------------------

TEST(Resolvers, UnixAbstractSockets) {
  std::string name = "polyrpc-test-" + std::to_string(getpid());
  auto server = Server::Create();
  server->RegisterMethod("/test.Lb/Who", [](std::shared_ptr<ServerCall> c) {
    c->RecvMessage([c](bool) {
      Slice m;
      c->TakeMessage(&m);
      c->SendMessage(Slice::Copy("abstract"), 0, [](bool) {});
      c->SendStatus(Status::Ok(), {}, [](bool) {});
    });
  });
  std::string err;
  ASSERT_EQ(server->AddListener("unix-abstract:" + name, ServerCredentials::Insecure(), &err), 0)
      << err;
  ASSERT_TRUE(server->Start(&err)) << err;
  auto ch = MakeChannel("unix-abstract:" + name);
  std::string who;
  Status st = Who(*ch, &who);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(who, "abstract");
  server->Shutdown(Clock::now());
}

TEST(Resolvers, ManualResolverFeedsAddressesAndHearsReresolutionRequests) {
  Backends b(3);
  auto manual = std::make_shared<ManualResolver>("test-manual");
  ASSERT_TRUE(RegisterResolverFactory(manual));
  EXPECT_FALSE(RegisterResolverFactory(std::make_shared<ManualResolver>("dns")));
  std::string err;
  EXPECT_FALSE(manual->SetResult({{"not an address"}, ""}, &err));
  EXPECT_FALSE(err.empty());
  ASSERT_TRUE(manual->SetResult({{"ipv4:" + b.list[0]->address(), b.list[1]->address()},
                                 R"({"loadBalancingPolicy": "round_robin"})"},
                                &err))
      << err;
  auto ch = MakeChannel("test-manual:///my-service");
  for (auto until = Clock::now() + 5s;
       (b.list[0]->calls == 0 || b.list[1]->calls == 0) && Clock::now() < until;) {
    ASSERT_TRUE(Who(*ch).ok());
  }
  EXPECT_GT(b.list[0]->calls, 0);
  EXPECT_GT(b.list[1]->calls, 0);
  EXPECT_EQ(b.list[2]->calls, 0);
  // New addresses: the channel moves over (the subchannel it keeps keeps its connection).
  ASSERT_TRUE(manual->SetResult({{b.list[2]->address()}, ""}, &err)) << err;
  auto until = Clock::now() + 3s;
  while (b.list[2]->calls == 0 && Clock::now() < until) Who(*ch);
  b.Reset();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Who(*ch).ok());
  EXPECT_EQ(b.list[2]->calls, 10);
  // Losing the connection asks the resolver for fresh addresses.
  int before = manual->resolution_requests();
  b.list[2]->Stop();
  until = Clock::now() + 3s;
  while (manual->resolution_requests() == before && Clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GT(manual->resolution_requests(), before);
}

TEST(Resolvers, AResolverErrorFailsCallsWithItsMessage) {
  auto manual = std::make_shared<ManualResolver>("test-failing");
  Options o;
  o.SetResolverFactory(manual);  // this channel only, no registration
  manual->SetError("no such service in the registry");
  auto ch = MakeChannel("test-failing:svc", o);
  Status st = Who(*ch);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(st.message().find("no such service"), std::string::npos) << st.message();
  EXPECT_EQ(ch->GetState(false), ConnectivityState::TRANSIENT_FAILURE);
}

// A DNS server for the tests: answers A and TXT questions from a table that the test changes.
class FakeDns {
 public:
  FakeDns() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  void SetA(const std::string& name, std::vector<std::string> ips) {
    std::lock_guard<std::mutex> lock(mu_);
    a_[name] = std::move(ips);
  }
  void SetTxt(const std::string& name, std::string txt) {
    std::lock_guard<std::mutex> lock(mu_);
    txt_[name] = std::move(txt);
  }
  int queries() const { return queries_; }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      char buf[1500];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      queries_++;
      std::string q(buf, static_cast<size_t>(n));
      // The question: labels from offset 12, then type and class.
      std::string name;
      size_t pos = 12;
      while (pos < q.size() && q[pos] != 0) {
        size_t l = static_cast<uint8_t>(q[pos]);
        if (!name.empty()) name += ".";
        name += q.substr(pos + 1, l);
        pos += 1 + l;
      }
      size_t qend = pos + 5;
      uint16_t type = static_cast<uint16_t>((static_cast<uint8_t>(q[pos + 1]) << 8) |
                                            static_cast<uint8_t>(q[pos + 2]));
      std::vector<std::string> rdatas;
      bool known = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (type == kDnsA && a_.count(name)) {
          known = true;
          for (auto& ip : a_[name]) {
            in_addr in{};
            inet_pton(AF_INET, ip.c_str(), &in);
            rdatas.emplace_back(reinterpret_cast<char*>(&in), 4);
          }
        } else if (type == kDnsTxt && txt_.count(name)) {
          known = true;
          std::string t = txt_[name], rd;
          for (size_t i = 0; i < t.size(); i += 255) {
            std::string chunk = t.substr(i, 255);
            rd += static_cast<char>(chunk.size());
            rd += chunk;
          }
          rdatas.push_back(rd);
        } else if (a_.count(name) || txt_.count(name)) {
          known = true;  // the name exists, without records of this type
        }
      }
      std::string r = q.substr(0, 2);
      r += known ? std::string("\x81\x80", 2) : std::string("\x81\x83", 2);
      r += std::string("\x00\x01", 2);
      r += static_cast<char>(0);
      r += static_cast<char>(rdatas.size());
      r += std::string(4, '\0');
      r += q.substr(12, qend - 12);
      for (auto& rd : rdatas) {
        r += std::string("\xc0\x0c", 2);
        r += static_cast<char>(type >> 8);
        r += static_cast<char>(type & 0xff);
        r += std::string("\x00\x01\x00\x00\x00\x01", 6);
        r += static_cast<char>(rd.size() >> 8);
        r += static_cast<char>(rd.size() & 0xff);
        r += rd;
      }
      sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> a_;
  std::map<std::string, std::string> txt_;
};

TEST(Resolvers, DnsWithAServerAuthorityTxtServiceConfigAndReresolution) {
  Backends b(3, /*same_port=*/true);
  FakeDns dns;
  dns.SetA("svc.polyrpc.test", {"127.0.0.2", "127.0.0.3"});
  dns.SetTxt("_grpc_config.svc.polyrpc.test",
             "grpc_config=[{\"serviceConfig\":{\"loadBalancingPolicy\":\"round_robin\"}}]");
  Options o;
  o.Set("polyrpc.dns_enable_txt_lookup", 1);
  o.Set("grpc.dns_min_time_between_resolutions_ms", 0);
  o.Set("grpc.initial_reconnect_backoff_ms", 50);
  auto ch = MakeChannel("dns://127.0.0.1:" + std::to_string(dns.port()) + "/svc.polyrpc.test:" +
                            std::to_string(b.list[0]->port()),
                        o);
  ASSERT_TRUE(Who(*ch).ok());
  for (auto until = Clock::now() + 5s;
       (b.list[0]->calls == 0 || b.list[1]->calls == 0) && Clock::now() < until;) {
    Who(*ch);
  }
  b.Reset();
  for (int i = 0; i < 40; ++i) {
    Status st = Who(*ch);
    ASSERT_TRUE(st.ok()) << i << ": " << st.ToString();
  }
  // round_robin came from the TXT record: both addresses served, in turn.
  EXPECT_EQ(b.list[0]->calls, 20);
  EXPECT_EQ(b.list[1]->calls, 20);
  EXPECT_EQ(b.list[2]->calls, 0);
  // The service moves: DNS now says .4; the old servers go away, the lost connections make the
  // channel resolve again, and calls reach the new address.
  dns.SetA("svc.polyrpc.test", {"127.0.0.4"});
  b.list[0]->Stop();
  b.list[1]->Stop();
  auto until = Clock::now() + 5s;
  while (b.list[2]->calls == 0 && Clock::now() < until) {
    Who(*ch, nullptr, {}, 500ms, /*wait_for_ready=*/true);
  }
  EXPECT_GT(b.list[2]->calls, 0);
  std::string who;
  ASSERT_TRUE(Who(*ch, &who).ok());
  EXPECT_EQ(who, "127.0.0.4");
}

TEST(Resolvers, DnsNameThatDoesNotExistIsUnavailable) {
  FakeDns dns;
  dns.SetA("other.test", {"127.0.0.2"});
  auto ch = MakeChannel("dns://127.0.0.1:" + std::to_string(dns.port()) + "/missing.test:1");
  Status st = Who(*ch);
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(st.message().find("missing.test"), std::string::npos) << st.message();
}

TEST(Resolvers, DnsReresolutionIsRateLimited) {
  Backends b(1);
  FakeDns dns;
  dns.SetA("limited.test", {"127.0.0.2"});
  Options o;
  o.Set("grpc.dns_min_time_between_resolutions_ms", 60000);
  auto ch = MakeChannel("dns://127.0.0.1:" + std::to_string(dns.port()) + "/limited.test:" +
                        std::to_string(b.list[0]->port()), o);
  ASSERT_TRUE(Who(*ch).ok());
  int after_first = dns.queries();  // A and AAAA
  EXPECT_EQ(after_first, 2);
  // Connection losses ask for re-resolution, which waits out the minimum interval.
  for (int i = 0; i < 3; ++i) {
    b.list[0]->Stop();
    b.list[0] = std::make_unique<Backend>("127.0.0.2", b.list[0]->port(), b.shared);
    auto until = Clock::now() + 3s;
    Status st;
    while (Clock::now() < until && !(st = Who(*ch)).ok()) {
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(dns.queries(), after_first);
}

// ---- service config: per-method settings -------------------------------------------------------

TEST(ServiceConfigCalls, TimeoutWaitForReadyAndMessageLimits) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", std::string(R"({"methodConfig": [
      {"name": [{"service": "test.Lb"}], "timeout": "0.15s", "maxResponseMessageBytes": 4}]})"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  auto start = Clock::now();
  Status st = Who(*ch, nullptr, {{"x-delay-ms", "2000"}}, 5000ms);
  EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED) << st.ToString();
  EXPECT_LT(Clock::now() - start, 1500ms);
  // "127.0.0.2" is longer than the method's 4-byte limit.
  st = Who(*ch);
  EXPECT_EQ(st.code(), StatusCode::RESOURCE_EXHAUSTED) << st.ToString();

  // waitForReady from the config: a call to a closed port waits (until the method timeout)
  // instead of failing at once.
  int closed = b.list[0]->port();
  b.list[0]->Stop();
  Options w;
  w.Set("grpc.service_config", std::string(R"({"methodConfig": [
      {"name": [{}], "timeout": "0.3s", "waitForReady": true}]})"));
  auto ch2 = MakeChannel("127.0.0.2:" + std::to_string(closed), w);
  st = Who(*ch2);
  EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED) << st.ToString();
}

// ---- retries -----------------------------------------------------------------------------------

std::string RetryConfig(int attempts, const std::string& codes = "\"UNAVAILABLE\"",
                        const std::string& extra = "") {
  return R"({"methodConfig": [{"name": [{"service": "test.Lb"}], "retryPolicy": {"maxAttempts": )" +
         std::to_string(attempts) +
         R"(, "initialBackoff": "0.01s", "maxBackoff": "0.05s", "backoffMultiplier": 2,
             "retryableStatusCodes": [)" + codes + "]}}]" + extra + "}";
}

TEST(Retries, RecoverUnavailable) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", RetryConfig(4));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  std::string who;
  Status st = Who(*ch, &who, {{"x-fail-first", "2"}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(who, "127.0.0.2");
  EXPECT_EQ(b.list[0]->calls, 3);
}

TEST(Retries, GiveUpAfterMaxAttemptsWithTheLastStatus) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", RetryConfig(3));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  Status st = Who(*ch, nullptr, {{"x-fail-first", "100"}});
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.message(), "not yet");
  EXPECT_EQ(b.list[0]->calls, 3);
}

TEST(Retries, OnlyRetryableCodesAreRetried) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", RetryConfig(5));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  Status st = Who(*ch, nullptr, {{"x-status", "13"}});
  EXPECT_EQ(st.code(), StatusCode::INTERNAL);
  EXPECT_EQ(b.list[0]->calls, 1);
}

TEST(Retries, DisabledByEnableRetriesZero) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", RetryConfig(5));
  o.Set("grpc.enable_retries", 0);
  auto ch = MakeChannel(b.Ipv4Target(), o);
  EXPECT_EQ(Who(*ch, nullptr, {{"x-fail-first", "1"}}).code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(b.list[0]->calls, 1);
}

TEST(Retries, ServerPushbackDelaysOrStopsThem) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", RetryConfig(3));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  // A negative pushback: no retry.
  EXPECT_EQ(Who(*ch, nullptr, {{"x-fail-first", "100"}, {"x-pushback", "-1"}}).code(),
            StatusCode::UNAVAILABLE);
  EXPECT_EQ(b.list[0]->calls, 1);
  // 200 ms: the retry waits for it (the policy's own backoff is 10 ms).
  auto start = Clock::now();
  b.list[0]->calls = 0;
  Status st = Who(*ch, nullptr, {{"x-fail-first", "1"}, {"x-pushback", "200"}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_GE(Clock::now() - start, 190ms);
  EXPECT_EQ(b.list[0]->calls, 2);
}

TEST(Retries, ThrottlingStopsRetriesWhenMostCallsFail) {
  Backends b(1);
  Options o;
  // 4 tokens: each failure takes one; at 2 (half) or fewer, no more retries.
  o.Set("grpc.service_config",
        RetryConfig(5, "\"UNAVAILABLE\"", R"(, "retryThrottling": {"maxTokens": 4, "tokenRatio": 0.5})"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  EXPECT_EQ(Who(*ch, nullptr, {{"x-fail-first", "1000"}}).code(), StatusCode::UNAVAILABLE);
  // 4 -> 3 -> 2: the second failure leaves half, so that call stopped at two attempts.
  EXPECT_EQ(b.list[0]->calls, 2);
  b.list[0]->calls = 0;
  EXPECT_EQ(Who(*ch, nullptr, {{"x-fail-first", "1000"}}).code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(b.list[0]->calls, 1);  // throttled: no retry at all
}

TEST(Retries, RoundRobinRetriesLandOnAHealthyServer) {
  Backends b(3);
  Options o = RoundRobin();
  o.Set("grpc.service_config", RetryConfig(3));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  WarmUp(*ch, b);
  // One server answers every call UNAVAILABLE; the retry goes to the next in the rotation.
  b.list[1]->always_unavailable = true;
  for (int i = 0; i < 30; ++i) {
    std::string who;
    Status st = Who(*ch, &who);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_NE(who, "127.0.0.3");
  }
  EXPECT_GT(b.list[1]->calls, 5);  // it was tried, and each such call recovered
}

TEST(Retries, StreamingRequestsAreReplayed) {
  // A client-streaming call whose first attempt fails after all messages went out: the retry
  // sends them all again.
  auto server = Server::Create();
  std::atomic<int> attempts{0};
  server->RegisterMethod("/test.Lb/Sum", [&](std::shared_ptr<ServerCall> call) {
    std::thread([call, &attempts] {
      int n = attempts++;
      size_t total = 0;
      Slice m;
      while (RecvBlocking(*call, &m)) total += m.size();
      if (n == 0) {
        FinishBlocking(*call, Status(StatusCode::UNAVAILABLE, "first try"));
        return;
      }
      SendBlocking(*call, Slice::Copy(std::to_string(total)));
      FinishBlocking(*call, Status::Ok());
    }).detach();
  });
  std::string err;
  int port = server->AddListener("127.0.0.2:0", ServerCredentials::Insecure(), &err);
  ASSERT_GT(port, 0) << err;
  ASSERT_TRUE(server->Start(&err));
  Options o;
  o.Set("grpc.service_config", RetryConfig(2));
  auto ch = MakeChannel("127.0.0.2:" + std::to_string(port), o);
  CallOptions co;
  co.deadline = DeadlineAfter(5s);
  auto call = ch->CreateCall("/test.Lb/Sum", co);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(SendBlocking(*call, Slice::Copy(std::string(1000, 'x'))));
  ASSERT_TRUE(CloseSendBlocking(*call));
  Slice resp;
  ASSERT_TRUE(RecvBlocking(*call, &resp));
  EXPECT_EQ(resp.ToString(), "5000");
  EXPECT_TRUE(FinishBlocking(*call).ok());
  EXPECT_EQ(attempts, 2);
  server->Shutdown(Clock::now());
}

// ---- hedging -----------------------------------------------------------------------------------

std::string HedgingConfig(int attempts, const std::string& delay,
                          const std::string& non_fatal = "\"UNAVAILABLE\"") {
  return R"({"methodConfig": [{"name": [{"service": "test.Lb"}], "hedgingPolicy": {"maxAttempts": )" +
         std::to_string(attempts) + R"(, "hedgingDelay": ")" + delay +
         R"(", "nonFatalStatusCodes": [)" + non_fatal + "]}}]}";
}

TEST(Hedging, ReturnsTheFirstAnswerAndCancelsTheOthers) {
  Backends b(3);
  Options o = RoundRobin();
  o.Set("grpc.service_config", HedgingConfig(3, "0.05s"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  WarmUp(*ch, b);
  b.shared->arrivals = 0;
  // The first two attempts hang; the third (sent 100 ms in) answers at once.
  auto start = Clock::now();
  std::string who;
  Status st = Who(*ch, &who, {{"x-hang-before", "2"}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto took = Clock::now() - start;
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 2000ms);
  EXPECT_EQ(b.Total(), 3);  // one attempt per server (round_robin)
  // The two losers are cancelled (their servers see it).
  auto until = Clock::now() + 3s;
  auto cancelled = [&] {
    int n = 0;
    for (auto& x : b.list) n += x->cancelled;
    return n;
  };
  while (cancelled() < 2 && Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(cancelled(), 2);
}

TEST(Hedging, ANonFatalFailureSendsTheNextHedgeAtOnce) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", HedgingConfig(3, "5s"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  auto start = Clock::now();
  Status st = Who(*ch, nullptr, {{"x-fail-first", "2"}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_LT(Clock::now() - start, 2000ms);  // never waited for the 5 s delay
  EXPECT_EQ(b.list[0]->calls, 3);
}

TEST(Hedging, AFatalStatusEndsTheCall) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", HedgingConfig(3, "0.2s"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  Status st = Who(*ch, nullptr, {{"x-status", "3"}});
  EXPECT_EQ(st.code(), StatusCode::INVALID_ARGUMENT);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(b.list[0]->calls, 1);  // no hedge after the answer
}

TEST(Hedging, AllAttemptsFailingEndsWithTheLastFailure) {
  Backends b(1);
  Options o;
  o.Set("grpc.service_config", HedgingConfig(3, "0.01s"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  Status st = Who(*ch, nullptr, {{"x-fail-first", "100"}});
  EXPECT_EQ(st.code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(b.list[0]->calls, 3);
}

TEST(Hedging, CancellingAHedgedCallCancelsEveryAttempt) {
  Backends b(2);
  Options o = RoundRobin();
  o.Set("grpc.service_config", HedgingConfig(2, "0s"));
  auto ch = MakeChannel(b.Ipv4Target(), o);
  CallOptions co;
  co.metadata = {{"x-delay-ms", "3000"}};
  auto call = ch->CreateCall("/test.Lb/Who", co);
  ASSERT_TRUE(SendBlocking(*call, Slice::Copy("?"), kWriteLast));
  // Both attempts (hedgingDelay 0) reach a server.
  auto until = Clock::now() + 2s;
  while (b.Total() < 2 && Clock::now() < until) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(b.Total(), 2);
  call->Cancel();
  EXPECT_EQ(FinishBlocking(*call).code(), StatusCode::CANCELLED);
  until = Clock::now() + 3s;
  while (b.list[0]->cancelled + b.list[1]->cancelled < 2 && Clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(b.list[0]->cancelled + b.list[1]->cancelled, 2);
}

// ---- lifetime ----------------------------------------------------------------------------------

// A listener on 127.0.0.1 that accepts TCP connections (the kernel does) and never speaks HTTP/2.
struct SilentPeer {
  SilentPeer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd, 8), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
  }
  ~SilentPeer() { ::close(fd); }
  // Accepts the pending connection and resets it (RST: the client's preface is unread).
  bool ResetOne() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return false;
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return false;
    linger l{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    std::this_thread::sleep_for(20ms);  // the preface is in
    ::close(c);
    return true;
  }
  int fd = -1;
  int port = 0;
};

// Regression (capi.dynamic crashed in PickFirst::Walk): a call that timed out while its channel
// was still CONNECTING stayed in the channel's queue, keeping the channel alive after the
// application dropped it; when the peer then reset the connection, the subchannel's failure ran
// the policy, the policy's report freed the queue and with it the channel and the policy under
// the policy's own frames. Now the queue lets go of calls that are over, and a channel is freed
// only at the end of a loop turn.
TEST(Lifetime, ADroppedChannelWhoseCallTimedOutWhileConnectingIsFreedAndSurvivesAReset) {
  for (const char* policy : {"pick_first", "round_robin"}) {
    SCOPED_TRACE(policy);
    SilentPeer peer;
    Options o;
    o.Set("grpc.lb_policy_name", std::string(policy));
    auto ch = MakeChannel("127.0.0.1:" + std::to_string(peer.port), o);
    ASSERT_TRUE(ch);
    Status st = Who(*ch, nullptr, {}, 200ms);
    EXPECT_EQ(st.code(), StatusCode::DEADLINE_EXCEEDED) << st.message();
    // The channel itself, not the application's handle (a count of its own).
    std::weak_ptr<ChannelImpl> weak = static_cast<ChannelImpl*>(ch.get())->weak_self;
    ch.reset();
    ASSERT_TRUE(peer.ResetOne());
    auto until = Clock::now() + 2s;
    while (!weak.expired() && Clock::now() < until) std::this_thread::sleep_for(5ms);
    EXPECT_TRUE(weak.expired()) << "the channel outlived its last application reference";
    std::this_thread::sleep_for(50ms);  // the reset reaches the client: nothing may run on it
  }
}

// A wait_for_ready call cancelled while no server is up leaves the channel's queue at once: the
// channel, dropped, is freed (and stops reconnecting) instead of living on with its backoff.
TEST(Lifetime, ACancelledWaitForReadyCallDoesNotKeepItsChannel) {
  auto ch = MakeChannel("127.0.0.1:1");  // nothing listens on port 1
  ASSERT_TRUE(ch);
  CallOptions co;
  co.wait_for_ready = true;
  co.deadline = DeadlineAfter(5s);
  auto call = ch->CreateCall("/test.Lb/Who", co);
  call->SendMessage(Slice::Copy("?"), kWriteLast, [](bool) {});  // queued: no connection
  std::this_thread::sleep_for(100ms);  // connecting failed at least once; still queued
  EXPECT_EQ(ch->GetState(false), ConnectivityState::TRANSIENT_FAILURE);
  call->Cancel();
  EXPECT_EQ(FinishBlocking(*call).code(), StatusCode::CANCELLED);
  call.reset();
  // The channel itself, not the application's handle (a count of its own).
  std::weak_ptr<ChannelImpl> weak = static_cast<ChannelImpl*>(ch.get())->weak_self;
  ch.reset();
  auto until = Clock::now() + 2s;
  while (!weak.expired() && Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(weak.expired()) << "the channel outlived its last application reference";
}

}  // namespace
