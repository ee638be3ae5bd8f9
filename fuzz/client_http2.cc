// fuzz/client_http2: the bytes a server sends, into a real polyrpc client connection
// (ChannelImpl, Http2Connection, ClientCallImpl) over an in-memory endpoint, with two calls in
// flight (client_calls.h): stream 1 sends one message and half-closes (unary or server
// streaming), stream 3 sends two and half-closes (client or bidi streaming). What it parses:
// the server's SETTINGS and every other frame, HPACK, response headers and trailers (:status,
// content-type, grpc-status, percent-encoded grpc-message, -bin metadata), trailers-only
// responses, gRPC message framing and decompression (grpc-encoding), RST_STREAM and GOAWAY
// (with transparent retries on a new connection), flow control.
//
// After the input the server hangs up; both calls must then end with a status within a few
// loop turns (a call that never completes aborts), and every connection must be gone once the
// channel is.
#include <cstdio>

#include "client_calls.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polyrpc;
  using namespace polyrpc::fuzz;
  static const Options options = ClientOptions();
  // Every connection the channel makes (a GOAWAY or a refused stream makes it reconnect); the
  // input goes to the newest.
  std::vector<std::shared_ptr<Peer>> peers;
  std::shared_ptr<ChannelImpl> channel = MakeChannel(&peers, options);
  auto calls = StartCalls(*channel);
  Turn(2);  // the preface, SETTINGS, both requests

  ForEachRead(data, size, /*client_preface=*/false, [&](const uint8_t* p, size_t n) {
    if (peers.empty() || !peers.back()->can_deliver()) return false;
    peers.back()->Deliver(p, n);
    Turn(2);
    return true;
  });
  bool over = false;
  for (int i = 0; i < 100 && !over; ++i) {
    for (auto& p : peers) p->Hangup();  // also connections made since
    Turn();
    over = calls[0]->status_done && calls[1]->status_done;
  }
  if (!over) {
    fprintf(stderr, "client_http2: a call has no status after the server hung up (%d %d)\n",
            calls[0]->status_done, calls[1]->status_done);
    abort();
  }
  for (auto& c : calls) c->call.reset();
  calls.clear();
  channel->Close();
  channel.reset();
  for (int i = 0; i < 100; ++i) {
    bool gone = true;
    for (auto& p : peers) gone = gone && p->destroyed;
    if (gone) return 0;
    Turn();
  }
  fprintf(stderr, "client_http2: a connection outlives its channel\n");
  abort();
}
