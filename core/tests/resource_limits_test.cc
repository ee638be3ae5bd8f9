// Bounded resources: what one client can make a server hold. A server advertises a finite
// SETTINGS_MAX_CONCURRENT_STREAMS and refuses streams beyond it; a memory quota per connection
// and per server refuses new streams (REFUSED_STREAM) or ends a call (RESOURCE_EXHAUSTED) before
// memory runs out; a peer that writes without reading is stopped from queuing answers; and
// everything a closed connection held is given back. The abusive peers write hand-made frames
// (raw_h2.h), since an nghttp2 session would respect the limits they break. After each abuse the
// server must still serve a well-behaved client.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "polyrpc++/polyrpc.hpp"
#include "raw_h2.h"

using namespace polyrpc;
using namespace polyrpc_test;
using namespace std::chrono_literals;

namespace {

// Under ASan and TSan, resident memory says nothing about the server: ASan keeps freed blocks
// in its quarantine (hundreds of MB by design) and both map shadow memory as they go. The tests
// then check what the server itself accounts for (quota, calls, connections, how much the peer
// got through), which carries the same property, and only print resident sizes.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kResidentMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kResidentMeaningful = false;
#else
constexpr bool kResidentMeaningful = true;
#endif
#else
constexpr bool kResidentMeaningful = true;
#endif

// EXPECT_LT on resident sizes, reported instead under a sanitizer (see kResidentMeaningful).
#define EXPECT_RESIDENT_LT(a, b)                                                               \
  do {                                                                                         \
    if (kResidentMeaningful) {                                                                 \
      EXPECT_LT(a, b);                                                                         \
    } else {                                                                                   \
      std::cerr << "under a sanitizer, not checked: " #a " = " << (a) << " < " #b " = " << (b) \
                << "\n";                                                                       \
    }                                                                                          \
  } while (0)

int64_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// The frames a peer sent, as far as the test reads them.
struct PeerFrames {
  std::map<uint32_t, uint32_t> rst;  // stream id -> RST_STREAM error code
  std::map<uint16_t, uint32_t> settings;
  bool goaway = false;
  uint32_t goaway_error = 0;
  bool closed = false;
};

// Reads what the server sends on fd for up to `for_ms` (or until it closes) and parses frame
// headers, RST_STREAM, SETTINGS and GOAWAY.
PeerFrames ReadFrames(int fd, int for_ms) {
  PeerFrames out;
  std::string buf;
  auto end = TestClock::now() + std::chrono::milliseconds(for_ms);
  while (TestClock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      out.closed = true;
      break;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
  size_t pos = 0;
  while (buf.size() - pos >= 9) {
    const auto* h = reinterpret_cast<const uint8_t*>(buf.data() + pos);
    size_t len = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
    uint8_t type = h[3], flags = h[4];
    uint32_t id =
        ((uint32_t{h[5]} & 0x7f) << 24) | (uint32_t{h[6]} << 16) | (uint32_t{h[7]} << 8) | h[8];
    if (buf.size() - pos - 9 < len) break;
    const uint8_t* p = h + 9;
    auto u32 = [](const uint8_t* q) {
      return (uint32_t{q[0]} << 24) | (uint32_t{q[1]} << 16) | (uint32_t{q[2]} << 8) | q[3];
    };
    if (type == NGHTTP2_RST_STREAM && len == 4) {
      out.rst[id] = u32(p);
    } else if (type == NGHTTP2_SETTINGS && !(flags & NGHTTP2_FLAG_ACK)) {
      for (size_t i = 0; i + 6 <= len; i += 6) {
        out.settings[static_cast<uint16_t>((p[i] << 8) | p[i + 1])] = u32(p + i + 2);
      }
    } else if (type == NGHTTP2_GOAWAY && len >= 8) {
      out.goaway = true;
      out.goaway_error = u32(p + 4);
    }
    pos += 9 + len;
  }
  return out;
}

// A connected socket that gives up on a write after 10 s (a test must not hang on a server that
// stopped reading).
int ConnectWithSendTimeout(int port) {
  int fd = ConnectLoopback(port);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// The preface and an empty SETTINGS frame. The server's SETTINGS are deliberately not
// acknowledged: nghttp2 then refuses streams past the announced limit with REFUSED_STREAM
// instead of ending the connection, so one connection can keep trying.
std::string FloodPreface() { return std::string(kClientPreface) + H2Settings({}); }

class ResourceLimits : public ::testing::Test {
 protected:
  void StartServer(Options options = Options()) {
    server_ = Server::Create(options);
    // Echo, inline on the I/O thread.
    server_->RegisterMethod("/test.Limits/Echo", [](std::shared_ptr<ServerCall> call) {
      auto c = call;
      c->RecvMessage([c](bool ok) {
        Slice msg;
        if (!ok || !c->TakeMessage(&msg)) {
          c->SendStatus(Status(StatusCode::INTERNAL, "no request"), {}, [](bool) {});
          return;
        }
        c->SendMessage(msg, 0, [](bool) {});
        c->SendStatus(Status::Ok(), {}, [](bool) {});
      });
    });
    // Hold: never answers and never reads; the call lives until it ends (OnDone keeps it).
    auto held = held_;
    server_->RegisterMethod("/test.Limits/Hold", [held](std::shared_ptr<ServerCall> call) {
      held->fetch_add(1);
      call->OnDone([call, held](bool) { held->fetch_sub(1); });
    });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
    channel_ =
        Channel::Create("127.0.0.1:" + std::to_string(port_), ChannelCredentials::Insecure());
  }
  void TearDown() override {
    channel_.reset();
    if (server_) server_->Shutdown(Clock::now() + 2s);
  }

  Status Echo(const std::string& payload, std::string* reply = nullptr) {
    CallOptions o;
    o.deadline = DeadlineAfter(10s);
    Slice resp;
    Status st = BlockingUnaryCall(*channel_, "/test.Limits/Echo", Slice::Copy(payload), &resp, o);
    if (reply) *reply = resp.ToString();
    return st;
  }
  void ExpectServes() {
    std::string reply;
    Status st = Echo("still here", &reply);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(reply, "still here");
  }
  // Waits until the server holds nothing: no connection but the test channel's, no call, no
  // charged byte.
  bool WaitServerIdle(size_t connections, std::chrono::milliseconds timeout = 10s) {
    auto end = Clock::now() + timeout;
    for (;;) {
      ServerStats st = server_->GetStats();
      if (st.connections <= connections && st.calls == 0 && st.memory_used == 0) return true;
      if (Clock::now() > end) {
        ADD_FAILURE() << "server not idle: " << st.connections << " connections, " << st.calls
                      << " calls, " << st.memory_used << " bytes charged";
        return false;
      }
      std::this_thread::sleep_for(5ms);
    }
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<std::atomic<int>> held_ = std::make_shared<std::atomic<int>>(0);
};

TEST_F(ResourceLimits, AdvertisesAHundredConcurrentStreamsByDefault) {
  StartServer();
  RawH2Client c(port_);
  ASSERT_TRUE(c.PumpUntil([&] { return c.got_settings(); }, 5000ms));
  EXPECT_EQ(c.remote_setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100u);
}

TEST_F(ResourceLimits, StreamsPastTheLimitAreRefused) {
  Options o;
  o.Set("grpc.max_concurrent_streams", 7);
  StartServer(o);
  int fd = ConnectWithSendTimeout(port_);
  ASSERT_GE(fd, 0);
  std::string out = FloodPreface();
  std::string block = HpackLiterals(GrpcRequestHeaders("/test.Limits/Hold"));
  for (uint32_t i = 0; i < 10; ++i) {
    out += H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 2 * i + 1, block);
  }
  ASSERT_TRUE(WriteAll(fd, out.data(), out.size()));
  PeerFrames got = ReadFrames(fd, 500);
  EXPECT_EQ(got.settings[NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS], 7u);
  // Streams 1..13 (seven) are admitted; 15, 17 and 19 are refused.
  EXPECT_EQ(got.rst.size(), 3u);
  for (uint32_t id : {15u, 17u, 19u}) {
    ASSERT_TRUE(got.rst.count(id)) << "stream " << id << " not refused";
    EXPECT_EQ(got.rst[id], static_cast<uint32_t>(NGHTTP2_REFUSED_STREAM));
  }
  EXPECT_EQ(held_->load(), 7);
  EXPECT_FALSE(got.goaway);
  ExpectServes();
  ::close(fd);
  EXPECT_TRUE(WaitServerIdle(1));
  EXPECT_EQ(held_->load(), 0);
}

// One client flooding a connection with streams, then another, a hundred times. Each connection
// gets 10,000 streams without the client reading a byte: echo calls whose answers stall once
// the client's window is full (as in h2spec 5.1.2, which grew a server without a limit to 23 GB),
// and every 50th a call that holds a 16 KiB part of a 1 MiB message. The server must stay
// within a bounded amount of memory, keep serving, and give back everything once the
// connections are closed.
TEST_F(ResourceLimits, StreamFloodsStayBoundedAndEverythingComesBack) {
  StartServer();
  const int kConnections = 100, kStreams = 10000, kParallel = 4;
  std::string echo_block = HpackLiterals(GrpcRequestHeaders("/test.Limits/Echo"));
  std::string hold_block = HpackLiterals(GrpcRequestHeaders("/test.Limits/Hold"));
  std::string echo_body = GrpcFrame("0123456789");
  std::string hold_body = GrpcPrefix(0, 1u << 20) + std::string(16384 - 5, 'p');
  std::atomic<int> refusing_connections{0}, write_failures{0};
  auto flood_one = [&] {
    int fd = ConnectWithSendTimeout(port_);
    if (fd < 0) {
      write_failures++;
      return;
    }
    std::string out = FloodPreface();
    for (int i = 0; i < kStreams; ++i) {
      uint32_t id = 2 * static_cast<uint32_t>(i) + 1;
      bool hold = i % 50 == 0;
      out += H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, id, hold ? hold_block : echo_block);
      out += H2Frame(NGHTTP2_DATA, hold ? 0 : NGHTTP2_FLAG_END_STREAM, id,
                     hold ? hold_body : echo_body);
      if (out.size() > 65536 || i == kStreams - 1) {
        if (!WriteAll(fd, out.data(), out.size())) {
          write_failures++;
          break;
        }
        out.clear();
      }
    }
    PeerFrames got = ReadFrames(fd, 50);
    bool any = false;
    for (auto& [id, code] : got.rst) {
      if (code == NGHTTP2_REFUSED_STREAM) any = true;
    }
    if (any) refusing_connections++;
    ::close(fd);
  };
  // One round: `connections` floods, kParallel at a time, while a well-behaved client keeps
  // calling and a sampler records the highest resident size.
  struct Round {
    int served = 0, failed = 0;
    int64_t max_resident = 0;
    ServerStats during;
  };
  auto round = [&](int connections) {
    Round r;
    std::atomic<bool> flooding{true};
    std::atomic<int> next{0}, served{0}, failed{0};
    std::atomic<int64_t> max_resident{0};
    std::thread sampler([&] {
      while (flooding) {
        int64_t rss = ResidentBytes();
        if (rss > max_resident) max_resident = rss;
        std::this_thread::sleep_for(2ms);
      }
    });
    std::thread bystander([&] {
      auto ch =
          Channel::Create("127.0.0.1:" + std::to_string(port_), ChannelCredentials::Insecure());
      while (flooding) {
        CallOptions o;
        o.deadline = DeadlineAfter(10s);
        Slice resp;
        Status st = BlockingUnaryCall(*ch, "/test.Limits/Echo", Slice::Copy("bystander"), &resp, o);
        (st.ok() && resp.ToString() == "bystander" ? served : failed)++;
        std::this_thread::sleep_for(5ms);
      }
    });
    std::vector<std::thread> floods;
    for (int t = 0; t < kParallel; ++t) {
      floods.emplace_back([&] {
        while (next.fetch_add(1) < connections) flood_one();
      });
    }
    for (auto& t : floods) t.join();
    r.during = server_->GetStats();
    flooding = false;
    bystander.join();
    sampler.join();
    r.served = served;
    r.failed = failed;
    r.max_resident = max_resident;
    return r;
  };
  // Warm-up: the server's threads, pools and free lists reach the size this load needs.
  round(2 * kParallel);
  ASSERT_TRUE(WaitServerIdle(1));
  ExpectServes();
  // glibc keeps memory that was freed for reuse (most of it resident) until asked to give it
  // back: both measurements ask first, so that what they compare is memory still in use.
  malloc_trim(0);
  int64_t baseline = ResidentBytes();
  refusing_connections = 0;

  Round r = round(kConnections);
  EXPECT_EQ(write_failures.load(), 0);
  // Every connection hit the stream limit (answers stall once the client's window is full):
  // each saw REFUSED_STREAM within 50 ms of its last write. (How many of its ~9,900 refusals
  // arrive in that time depends on the server's speed: under ASan, about a tenth.)
  EXPECT_EQ(refusing_connections.load(), kConnections);
  EXPECT_GT(r.served, 0);
  EXPECT_EQ(r.failed, 0);
  // At most kParallel flooding connections at once, each with at most 100 streams.
  EXPECT_LE(r.during.memory_peak, int64_t{kParallel + 2} * 100 * (16384 + 4096 + 2048) + (1 << 20));
  int64_t growth = r.max_resident - baseline;
  EXPECT_RESIDENT_LT(growth, int64_t{64} << 20);

  ASSERT_TRUE(WaitServerIdle(1));
  EXPECT_EQ(held_->load(), 0);
  ExpectServes();
  malloc_trim(0);
  int64_t after = ResidentBytes();
  // Back to the baseline, within what polyrpc's per-thread free lists may keep (up to 2 MiB per
  // thread; here 1.7 to 2.8 MB whether 20 or 400 connections ran).
  EXPECT_RESIDENT_LT(after - baseline, int64_t{4} << 20);
}

TEST_F(ResourceLimits, ConnectionQuotaEndsACallWhoseMessageDoesNotFit) {
  Options o;
  o.Set("polyrpc.max_connection_memory", 1 << 20);
  o.Set("grpc.max_receive_message_length", 8 << 20);
  StartServer(o);
  std::string reply;
  Status st = Echo(std::string(3 << 20, 'x'), &reply);
  EXPECT_EQ(st.code(), StatusCode::RESOURCE_EXHAUSTED) << st.ToString();
  EXPECT_NE(st.message().find("Server memory limit reached"), std::string::npos) << st.message();
  // Within the limit, on the same connection.
  st = Echo(std::string(512 << 10, 'y'), &reply);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(reply.size(), size_t{512} << 10);
  EXPECT_TRUE(WaitServerIdle(1));
}

TEST_F(ResourceLimits, ServerQuotaRefusesNewStreamsUntilMemoryIsFree) {
  Options o;
  o.Set("polyrpc.max_server_memory", 1 << 20);
  StartServer(o);
  ExpectServes();  // connects the channel
  // Held calls with 64 KiB of a message each fill the server's budget past 7/8.
  int fd = ConnectWithSendTimeout(port_);
  ASSERT_GE(fd, 0);
  std::string out = FloodPreface();
  std::string block = HpackLiterals(GrpcRequestHeaders("/test.Limits/Hold"));
  // Four DATA frames of the default maximum size (16 KiB), within the default stream window.
  std::string body = GrpcPrefix(0, 1u << 20) + std::string(16384 - 5, 'p');
  std::string more(16384, 'q');
  const uint32_t kHolds = 20;
  for (uint32_t i = 0; i < kHolds; ++i) {
    out += H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 2 * i + 1, block);
    out += H2Frame(NGHTTP2_DATA, 0, 2 * i + 1, body);
    for (int k = 0; k < 3; ++k) out += H2Frame(NGHTTP2_DATA, 0, 2 * i + 1, more);
  }
  ASSERT_TRUE(WriteAll(fd, out.data(), out.size()));
  PeerFrames got = ReadFrames(fd, 500);
  ServerStats st = server_->GetStats();
  EXPECT_LE(st.memory_used, st.memory_limit);
  EXPECT_GT(st.memory_used, st.memory_limit / 8 * 7 - 70000);
  EXPECT_FALSE(got.closed);
  EXPECT_GT(st.streams_refused, 0u);
  EXPECT_LT(held_->load(), static_cast<int>(kHolds));
  // The calls that did not fit ended with RESOURCE_EXHAUSTED or were refused; the bystander's
  // new stream is refused too, which its client reports as UNAVAILABLE.
  EXPECT_FALSE(got.rst.empty());
  Status s = Echo("refused");
  EXPECT_EQ(s.code(), StatusCode::UNAVAILABLE) << s.ToString();
  // Once the hoarding connection is gone, its memory is free and calls are admitted again.
  ::close(fd);
  ASSERT_TRUE(WaitServerIdle(1));
  ExpectServes();
}

// A client that sends requests as fast as it can and never reads the answers. Without a limit
// the server would read everything and queue answers without bound; it must stop reading
// instead, so the client's writes stall while the server's memory stays flat.
TEST_F(ResourceLimits, PeerThatNeverReadsIsStoppedFromQueuingAnswers) {
  StartServer();
  ExpectServes();
  int64_t baseline = ResidentBytes();
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int small = 64 << 10;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string block = HpackLiterals(GrpcRequestHeaders("/test.Limits/Nope"));  // UNIMPLEMENTED
  std::string out = FloodPreface();
  size_t sent = 0, offered = 0;
  uint32_t id = 1;
  auto stalled_since = TestClock::now();
  const size_t kOffer = size_t{400} << 20;
  while (offered < kOffer && TestClock::now() - stalled_since < 1s) {
    while (out.size() < 65536) {
      out +=
          H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, id, block);
      id += 2;
    }
    ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      offered += static_cast<size_t>(n);
      out.erase(0, static_cast<size_t>(n));
      stalled_since = TestClock::now();
    } else if (n < 0 && errno != EAGAIN) {
      break;
    } else {
      std::this_thread::sleep_for(1ms);
    }
  }
  int64_t growth = ResidentBytes() - baseline;
  // The server stopped reading once a few MiB of answers were waiting for the client, so the
  // client's writes stalled long before its 400 MiB were through (a server that kept reading
  // would have queued millions of answers).
  EXPECT_LT(sent, kOffer / 2) << "the server kept reading";
  EXPECT_RESIDENT_LT(growth, int64_t{64} << 20);
  ExpectServes();
  ::close(fd);
  EXPECT_TRUE(WaitServerIdle(1));
}

// A connection error (here a frame over the frame size limit) is answered with a GOAWAY carrying
// its code, which reaches a peer that was still sending, and the server serves on. (That the
// server half-closes and lingers rather than closing on the peer's unread bytes, whose reset
// made h2spec's 4.2/3 see "connection reset by peer" instead of the GOAWAY, is checked by
// reliability.h2spec: a loopback peer here reads the GOAWAY either way.)
TEST_F(ResourceLimits, ConnectionErrorIsAnsweredWithGoaway) {
  StartServer();
  int fd = ConnectWithSendTimeout(port_);
  ASSERT_GE(fd, 0);
  // Our SETTINGS are not acknowledged: the server still holds us to the default 16 KiB frames.
  std::string out = FloodPreface();
  std::string block = HpackLiterals(GrpcRequestHeaders("/test.Limits/Echo"));
  out += H2Frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, block);
  // One frame over 16,384 bytes (a megabyte of it), in one write: most of it is still unread
  // in the server's socket when the server gives up on the connection.
  out += H2Frame(NGHTTP2_DATA, 0, 1, std::string(1 << 20, 'x'));
  WriteAll(fd, out.data(), out.size());  // may fail part way: the server stops reading
  std::this_thread::sleep_for(200ms);    // let the server answer and close before we read
  PeerFrames got = ReadFrames(fd, 3000);
  EXPECT_TRUE(got.goaway) << "no GOAWAY before the connection ended";
  EXPECT_EQ(got.goaway_error, static_cast<uint32_t>(NGHTTP2_FRAME_SIZE_ERROR));
  EXPECT_TRUE(got.closed);
  ::close(fd);
  ExpectServes();
}

// A peer that connects and never sends its preface (or sends half of it) holds the connection
// only until the server's handshake timeout, not for ever (slowloris before the preface).
TEST_F(ResourceLimits, APeerThatNeverSendsItsPrefaceIsClosedAtTheHandshakeTimeout) {
  Options o;
  o.Set("grpc.server_handshake_timeout_ms", 300);
  StartServer(o);
  ExpectServes();  // the test channel's own connection is ready, and stays
  int silent = ConnectWithSendTimeout(port_);
  int half = ConnectWithSendTimeout(port_);
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  ASSERT_TRUE(WriteAll(half, kClientPreface, 10));
  ASSERT_TRUE(WaitServerIdle(3));
  auto t0 = Clock::now();
  PeerFrames a = ReadFrames(silent, 3000);
  PeerFrames b = ReadFrames(half, 1000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(a.closed);
  EXPECT_TRUE(b.closed);
  EXPECT_GE(ms, 200) << "closed before the timeout";
  EXPECT_LT(ms, 2500);
  ::close(silent);
  ::close(half);
  EXPECT_TRUE(WaitServerIdle(1));
  ExpectServes();  // the ready connection was not touched
  EXPECT_EQ(server_->GetStats().connections, 1u);
}

}  // namespace
