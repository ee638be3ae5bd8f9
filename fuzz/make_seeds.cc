// make_seeds: writes the seed corpora of server_http2 and client_http2 from real polyrpc
// traffic. A polyrpc client and a polyrpc server talk through a pair of in-memory endpoints on
// one loop; what the client writes is a server_http2 seed (its server is the fuzz target's
// own, server_handlers.h), what a server writes in answer to client_http2's two calls
// (client_calls.h) is a client_http2 seed, one per way of answering. Run by fuzz/run
// --make-seeds; the output is committed in fuzz/corpus/.
//   make_seeds OUT_DIR    writes OUT_DIR/server_http2/<name> and OUT_DIR/client_http2/<name>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>

#include "client_calls.h"
#include "server_handlers.h"

namespace polyrpc::fuzz {
namespace {

// One client connection and one server connection joined back to back.
struct Wire {
  std::vector<std::shared_ptr<Peer>> client_peers;  // the client's connections (one expected)
  std::shared_ptr<Peer> server_peer = std::make_shared<Peer>();
  std::string c2s, s2c;                             // everything each side wrote
  std::string c2s_pending, s2c_pending;             // not yet delivered to the other side

  // Moves bytes both ways and runs the loop until nothing is left to move.
  void Pump() {
    for (int idle = 0; idle < 4;) {
      Turn();
      bool moved = false;
      if (!c2s_pending.empty()) {
        std::string b = std::move(c2s_pending);
        c2s_pending.clear();
        server_peer->Deliver(reinterpret_cast<const uint8_t*>(b.data()), b.size());
        moved = true;
      }
      if (!s2c_pending.empty() && !client_peers.empty()) {
        std::string b = std::move(s2c_pending);
        s2c_pending.clear();
        client_peers.back()->Deliver(reinterpret_cast<const uint8_t*>(b.data()), b.size());
        moved = true;
      }
      idle = moved ? 0 : idle + 1;
    }
  }
};

void WriteSeed(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  printf("%s: %zu bytes\n", path.c_str(), bytes.size());
}

// Runs start(channel) on a fresh channel connected to server; returns the wire once every call
// it started is over and the connections are gone.
void Converse(ServerImpl* server, Wire* w,
              const std::function<std::vector<std::shared_ptr<CallState>>(ChannelImpl&)>& start,
              const std::function<void(std::vector<std::shared_ptr<CallState>>&)>& midway = {}) {
  EventLoop* loop = DrivenLoop();
  w->server_peer->sink = [w](const uint8_t* p, size_t n) {
    w->s2c.append(reinterpret_cast<const char*>(p), n);
    w->s2c_pending.append(reinterpret_cast<const char*>(p), n);
  };
  server->ServeEndpoint(loop, std::make_unique<MemoryEndpoint>(loop, w->server_peer));
  std::shared_ptr<ChannelImpl> channel = MakeChannel(&w->client_peers, ClientOptions());
  auto factory = std::move(channel->testing_endpoint_factory);
  channel->testing_endpoint_factory = [w, factory](EventLoop* l) {
    auto ep = factory(l);
    w->client_peers.back()->sink = [w](const uint8_t* p, size_t n) {
      w->c2s.append(reinterpret_cast<const char*>(p), n);
      w->c2s_pending.append(reinterpret_cast<const char*>(p), n);
    };
    return ep;
  };
  auto calls = start(*channel);
  w->Pump();
  if (midway) {
    midway(calls);
    w->Pump();
  }
  for (auto& c : calls) {
    if (!c->status_done) {
      fprintf(stderr, "make_seeds: a call did not finish\n");
      abort();
    }
    c->call.reset();
  }
  calls.clear();
  channel->Close();
  channel.reset();
  w->server_peer->Hangup();
  Turn(4);
}

std::shared_ptr<CallState> Call(ChannelImpl& ch, const std::string& method,
                                std::vector<std::string> messages, CallOptions co = {},
                                bool half_close = true) {
  auto c = std::make_shared<CallState>();
  c->call = ch.CreateCall(method, co);
  c->Start(messages, half_close);
  return c;
}

void ServerSeeds(const std::string& dir) {
  ServerImpl* server = TheServer();
  using Calls = std::vector<std::shared_ptr<CallState>>;
  struct Seed {
    const char* name;
    std::function<Calls(ChannelImpl&)> start;
    std::function<void(Calls&)> midway = nullptr;
  };
  CallOptions md;
  md.metadata = {{"x-user", "u"}, {"x-trace-bin", std::string("\0\1\2\xff", 4)},
                 {"user-agent", "seed"}};
  md.deadline = DeadlineAfter(std::chrono::seconds(30));
  md.authority = "fuzz.example:443";
  CallOptions gzip;
  gzip.compression = "gzip";
  CallOptions deflate;
  deflate.compression = "deflate";
  CallOptions bearer;
  bearer.bearer_token = "token-123";
  const std::string big(3000, 'x');
  std::vector<Seed> seeds = {
      {"echo_unary", [](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Echo", {"hello"})}; }},
      {"echo_metadata_timeout",
       [md](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Echo", {"hello"}, md)}; }},
      {"echo_gzip_request",
       [gzip, big](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Echo", {big}, gzip)}; }},
      {"echo_deflate_request", [deflate, big](ChannelImpl& ch) {
         return Calls{Call(ch, "/fuzz.Fuzz/Echo", {big, "short"}, deflate)};
       }},
      {"compressed_response",
       [](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Compressed", {"abc", "abc"})}; }},
      {"deflate_response",
       [](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Deflate", {"abc"})}; }},
      {"client_streaming", [](ChannelImpl& ch) {
         return Calls{Call(ch, "/fuzz.Fuzz/Echo", {"a", "bb", "", "dddd"})};
       }},
      {"fail", [](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Fail", {"x"})}; }},
      {"server_cancels", [](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Cancel", {"x"})}; }},
      {"handler_drops_call",
       [](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Ignore", {"x"})}; }},
      {"unimplemented", [](ChannelImpl& ch) { return Calls{Call(ch, "/pkg.Nope/Method", {"x"})}; }},
      {"bearer_token",
       [bearer](ChannelImpl& ch) { return Calls{Call(ch, "/fuzz.Fuzz/Echo", {"x"}, bearer)}; }},
      {"client_cancels",
       [](ChannelImpl& ch) {
         return Calls{Call(ch, "/fuzz.Fuzz/Echo", {"first"}, {}, /*half_close=*/false)};
       },
       [](Calls& calls) { calls[0]->call->Cancel(); }},
      {"three_calls", [](ChannelImpl& ch) {
         return Calls{Call(ch, "/fuzz.Fuzz/Echo", {"1"}), Call(ch, "/fuzz.Fuzz/Fail", {"2"}),
                      Call(ch, "/fuzz.Fuzz/Compressed", {"3"})};
       }},
  };
  for (auto& s : seeds) {
    Wire w;
    Converse(server, &w, s.start, s.midway);
    WriteSeed(dir, s.name, w.c2s);
  }
}

// How the seed server answers client_http2's two calls.
enum class Answer { kEcho, kGzip, kDeflate, kError, kUnimplemented, kStreaming, kCancel, kEmpty };
Answer g_answer = Answer::kEcho;

struct Answerer : std::enable_shared_from_this<Answerer> {
  std::shared_ptr<ServerCall> call;
  void Next() {
    auto self = shared_from_this();
    call->RecvMessage([self](bool ok) {
      if (!ok) {
        self->Finish();
        return;
      }
      Slice m;
      self->call->TakeMessage(&m);
      if (g_answer == Answer::kCancel) {
        self->call->Cancel();
        return;
      }
      int copies = g_answer == Answer::kStreaming ? 3 : 1;
      for (int i = 0; i < copies; ++i) {
        self->call->SendMessage(g_answer == Answer::kEmpty ? Slice() : m, 0, [](bool) {});
      }
      self->Next();
    });
  }
  void Finish() {
    auto self = shared_from_this();
    if (g_answer == Answer::kError) {
      call->SendStatus(Status(StatusCode::RESOURCE_EXHAUSTED, "quota: 100% used \xc3\xa9"),
                       {{"x-detail-bin", std::string("\x08\x01", 2)}, {"x-retry", "later"}},
                       [self](bool) {});
    } else {
      call->SendStatus(Status(), {{"x-trailer", "t"}}, [self](bool) {});
    }
  }
};

void AnswerCall(std::shared_ptr<ServerCall> call) {
  switch (g_answer) {
    case Answer::kUnimplemented:
      call->SendStatus(Status(StatusCode::UNIMPLEMENTED, "Method not found: " + call->method()), {},
                       [call](bool) {});
      return;
    case Answer::kGzip: call->SetCompression("gzip"); break;
    case Answer::kDeflate: call->SetCompression("deflate"); break;
    default: break;
  }
  Metadata initial = {{"x-initial", "i"}};
  if (g_answer == Answer::kEmpty) initial.emplace_back("x-initial-bin", std::string("\0", 1));
  call->SendInitialMetadata(std::move(initial), [](bool) {});
  auto a = std::make_shared<Answerer>();
  a->call = std::move(call);
  a->Next();
}

void ClientSeeds(const std::string& dir) {
  Options o;
  auto* server = static_cast<ServerImpl*>(Server::Create(o).release());
  server->SetGenericHandler(AnswerCall);
  std::string err;
  if (server->AddListener("127.0.0.1:0", nullptr, &err) < 0 || !server->Start(&err)) abort();
  const std::pair<const char*, Answer> answers[] = {
      {"echo", Answer::kEcho},           {"gzip_responses", Answer::kGzip},
      {"deflate_responses", Answer::kDeflate}, {"error_status", Answer::kError},
      {"trailers_only", Answer::kUnimplemented}, {"server_streaming", Answer::kStreaming},
      {"server_cancels", Answer::kCancel}, {"empty_messages", Answer::kEmpty},
  };
  for (const auto& [name, answer] : answers) {
    g_answer = answer;
    Wire w;
    Converse(server, &w, [](ChannelImpl& ch) { return StartCalls(ch); });
    WriteSeed(dir, name, w.s2c);
  }
  // The server stays: Shutdown would wait for this very thread's loop.
}

}  // namespace
}  // namespace polyrpc::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  std::string out = argv[1];
  for (const char* sub : {"", "/server_http2", "/client_http2"}) mkdir((out + sub).c_str(), 0755);
  polyrpc::fuzz::ServerSeeds(out + "/server_http2");
  polyrpc::fuzz::ClientSeeds(out + "/client_http2");
  fflush(stdout);
  _exit(0);  // the servers and the driven loop are left as they are
}
