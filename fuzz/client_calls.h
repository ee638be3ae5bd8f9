// The client side the fuzz targets and the seed maker share: a channel whose connections run
// over in-memory endpoints, and the two calls client_http2 keeps in flight (stream 1: one
// message and half-close to /fuzz.Fuzz/Echo; stream 3: two messages and half-close to
// /fuzz.Fuzz/Stream), so that captured server answers to them are seeds.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "channel/channel_impl.h"
#include "common.h"

namespace polyrpc::fuzz {

struct CallState : std::enable_shared_from_this<CallState> {
  std::shared_ptr<ClientCall> call;
  bool status_done = false;
  size_t received = 0;  // what was read of the answer (keeps the reads from being dropped)
  void ReadAll() {
    auto self = shared_from_this();
    call->RecvMessage([self](bool ok) {
      if (!ok) return;
      Slice m;
      bool compressed = false;
      if (self->call->TakeMessage(&m, &compressed)) self->received += m.size() + 1;
      self->ReadAll();
    });
  }
  // One send at a time (a call takes one operation of each kind at once): the next message
  // goes when the last one is written.
  std::vector<std::string> to_send;
  bool half_close = true;
  void SendNext(size_t i) {
    if (i >= to_send.size()) return;
    uint32_t flags = half_close && i + 1 == to_send.size() ? kWriteLast : kWriteNone;
    auto self = shared_from_this();
    call->SendMessage(Slice::Copy(to_send[i]), flags, [self, i](bool ok) {
      if (ok) self->SendNext(i + 1);
    });
  }
  // half_close: the last message carries the end of the stream.
  void Start(const std::vector<std::string>& messages, bool half_close = true) {
    auto self = shared_from_this();
    call->RecvInitialMetadata([self](bool) {
      for (const auto& [k, v] : self->call->initial_metadata()) {
        self->received += k.size() + v.size();
      }
    });
    to_send = messages;
    this->half_close = half_close;
    SendNext(0);
    ReadAll();
    call->RecvStatus([self](bool) {
      self->status_done = true;
      self->received += self->call->status().message().size();
      for (const auto& [k, v] : self->call->trailing_metadata()) {
        self->received += k.size() + v.size();
      }
    });
  }
};

// A channel to "127.0.0.1:1" that never dials: each connection it makes is over a
// MemoryEndpoint whose peer side is appended to *peers.
inline std::shared_ptr<ChannelImpl> MakeChannel(std::vector<std::shared_ptr<Peer>>* peers,
                                                const Options& options) {
  EventLoop* loop = DrivenLoop();
  ParsedTarget target;
  std::string err;
  if (!ParseTarget("127.0.0.1:1", &target, &err)) abort();
  std::shared_ptr<ChannelImpl> channel(new ChannelImpl(loop, target, nullptr, options),
                                       LoopDeleter{loop});
  channel->weak_self = channel;
  channel->target_string_ = "127.0.0.1:1";
  channel->testing_endpoint_factory = [peers](EventLoop* l) -> std::unique_ptr<Endpoint> {
    peers->push_back(std::make_shared<Peer>());
    return std::make_unique<MemoryEndpoint>(l, peers->back());
  };
  return channel;
}

inline Options ClientOptions() {
  Options o;
  o.Set("grpc.max_receive_message_length", int64_t{64} << 10);
  return o;
}

// The two calls, started (their requests go out at the next loop turn).
inline std::vector<std::shared_ptr<CallState>> StartCalls(ChannelImpl& channel) {
  CallOptions co;
  co.metadata = {{"x-request", "r"}, {"x-request-bin", std::string("\0\xfe", 2)}};
  auto a = std::make_shared<CallState>();
  a->call = channel.CreateCall("/fuzz.Fuzz/Echo", co);
  a->Start({"ping"});
  auto b = std::make_shared<CallState>();
  b->call = channel.CreateCall("/fuzz.Fuzz/Stream", co);
  b->Start({"one", "two"});
  return {a, b};
}

}  // namespace polyrpc::fuzz
