// The server the fuzz targets and the seed maker share: its options (small limits, so that
// short inputs reach them) and its handlers, chosen by method path:
//   /fuzz.Fuzz/Echo        initial metadata, every message written back, OK with trailers
//   /fuzz.Fuzz/Compressed  the same, the answers gzip-compressed (deflate: /fuzz.Fuzz/Deflate,
//                          served by the generic handler)
//   /fuzz.Fuzz/Fail        INVALID_ARGUMENT with a non-ASCII message and -bin trailers at once
//   /fuzz.Fuzz/Cancel      cancels the call after its first message
//   /fuzz.Fuzz/Ignore      drops the call's handle (which cancels it)
//   anything else          the generic handler: UNIMPLEMENTED
#pragma once

#include <cstdio>
#include <cstdlib>

#include "common.h"
#include "polyrpc++/server.hpp"
#include "server/server_impl.h"

namespace polyrpc::fuzz {

// Reads every message and writes it back, then ends with OK and trailers.
struct Echo : std::enable_shared_from_this<Echo> {
  std::shared_ptr<ServerCall> call;
  void Next() {
    auto self = shared_from_this();
    call->RecvMessage([self](bool ok) {
      if (!ok) {
        Metadata trailers = {{"x-trailer", "t"}, {"x-trailer-bin", std::string("\0\1\xff", 3)}};
        self->call->SendStatus(Status(), std::move(trailers), [self](bool) {});
        return;
      }
      Slice m;
      bool compressed = false;
      self->call->TakeMessage(&m, &compressed);
      self->call->SendMessage(std::move(m), 0, [self](bool ok) {
        if (ok) self->Next();
      });
    });
  }
};

inline void Touch(const ServerCall& call) {
  // What a handler reads about its call: each is built from what the client sent.
  size_t n = call.method().size() + call.authority().size() + call.peer().size();
  for (const auto& [k, v] : call.client_metadata()) n += k.size() + v.size();
  if (call.deadline() == InfiniteDeadline()) ++n;
  if (n == 0) abort();  // the peer name is never empty; keeps the reads from being dropped
}

inline void Handle(std::shared_ptr<ServerCall> call) {
  Touch(*call);
  const std::string& m = call->method();
  if (m == "/fuzz.Fuzz/Ignore") return;  // the handle goes: the call is cancelled
  if (m == "/fuzz.Fuzz/Fail") {
    Metadata trailers = {{"x-why-bin", std::string("\x80\x81", 2)}};
    call->SendStatus(Status(StatusCode::INVALID_ARGUMENT, "bad request: \xe2\x9c\x97 100%"),
                     std::move(trailers), [call](bool) {});
    return;
  }
  if (m == "/fuzz.Fuzz/Cancel") {
    call->RecvMessage([call](bool) { call->Cancel(); });
    return;
  }
  if (m == "/fuzz.Fuzz/Compressed" || m == "/fuzz.Fuzz/Deflate") {
    call->SetCompression(m == "/fuzz.Fuzz/Deflate" ? "deflate" : "gzip");
  }
  if (m != "/fuzz.Fuzz/Echo" && m != "/fuzz.Fuzz/Compressed" && m != "/fuzz.Fuzz/Deflate") {
    // The generic handler sees every other path: most get UNIMPLEMENTED, as without one.
    call->SendStatus(Status(StatusCode::UNIMPLEMENTED, "Method not found: " + m), {},
                     [call](bool) {});
    return;
  }
  call->SendInitialMetadata({{"x-initial", "i"}}, [](bool) {});
  auto echo = std::make_shared<Echo>();
  echo->call = std::move(call);
  echo->Next();
}

inline ServerImpl* TheServer() {
  static ServerImpl* server = [] {
    DrivenLoop();
    Options o;
    // Small limits, so that short inputs reach them: the receive limit, the connection's
    // memory quota (7/8 of it is about 100 streams' fixed charge), the concurrent streams.
    o.Set("grpc.max_receive_message_length", int64_t{64} << 10);
    o.Set("polyrpc.max_connection_memory", int64_t{512} << 10);
    o.Set("grpc.max_concurrent_streams", int64_t{50});
    auto* s = static_cast<ServerImpl*>(Server::Create(o).release());
    for (const char* path : {"/fuzz.Fuzz/Echo", "/fuzz.Fuzz/Fail", "/fuzz.Fuzz/Cancel",
                             "/fuzz.Fuzz/Ignore", "/fuzz.Fuzz/Compressed"}) {
      s->RegisterMethod(path, Handle);
    }
    s->SetGenericHandler(Handle);
    // Start() wants a listener; nothing ever connects to this one.
    std::string err;
    if (s->AddListener("127.0.0.1:0", nullptr, &err) < 0 || !s->Start(&err)) {
      fprintf(stderr, "server_http2: %s\n", err.c_str());
      abort();
    }
    return s;
  }();
  return server;
}

}  // namespace polyrpc::fuzz
