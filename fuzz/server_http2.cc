// fuzz/server_http2: the bytes of one HTTP/2 connection, as a client would send them, into a
// real polyrpc server connection (ServerImpl, Http2Connection, ServerCallImpl) over an
// in-memory endpoint: the connection preface and frames, HPACK, request headers, metadata and
// -bin values, grpc-timeout, grpc-encoding, gRPC message framing and decompression, flow
// control and the memory quota, and handlers that echo, fail, cancel or drop their calls.
//
// After the input the client hangs up; every connection and call must then be gone within a
// few loop turns (a call or connection still alive is reported as a leak and aborts).
#include "server_handlers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polyrpc;
  using namespace polyrpc::fuzz;
  ServerImpl* server = TheServer();
  EventLoop* loop = DrivenLoop();
  auto peer = std::make_shared<Peer>();
  server->ServeEndpoint(loop, std::make_unique<MemoryEndpoint>(loop, peer));
  Turn();  // the server's SETTINGS
  ForEachRead(data, size, /*client_preface=*/true, [&](const uint8_t* p, size_t n) {
    if (!peer->can_deliver()) return false;
    peer->Deliver(p, n);
    Turn(2);  // handlers answer, completions run, the answer is written
    return true;
  });
  peer->Hangup();
  for (int i = 0; i < 100; ++i) {
    ServerStats st = server->GetStats();
    if (st.connections == 0 && st.calls == 0 && st.memory_used == 0 && peer->destroyed) return 0;
    Turn();
  }
  ServerStats st = server->GetStats();
  fprintf(stderr,
          "server_http2: after the client hung up the server still holds %zu connections, %zu "
          "calls, %lld bytes (endpoint destroyed: %d)\n",
          st.connections, st.calls, static_cast<long long>(st.memory_used), peer->destroyed);
  abort();
}
