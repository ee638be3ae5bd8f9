// Client loop on polyrpc's C++ API (blocking helpers of sync.hpp), for bench/run.
//   --scenario=unary   threads x blocking unary calls on one channel; calls/s and latency
//   --scenario=bidi    one FullDuplexCall per thread, ping-pong; round trips/s and latency
//   --scenario=stream  StreamingOutputCall of --stream_messages responses; messages/s
//   --scenario=hold    opens --conns connections and --calls FullDuplexCalls (each answered
//                      once, so the server has really set it up), prints "ready", then holds
//                      them until stdin closes or --hold seconds pass: for server memory.
//   --busy_poll_us=N   sets the channel option polyrpc.busy_poll_us
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_client_common.h"
#include "polyrpc++/polyrpc.hpp"

namespace {

using polyrpc::Channel;
using polyrpc::ClientCall;
using polyrpc::Slice;

const char kUnary[] = "/grpc.testing.TestService/UnaryCall";
const char kStream[] = "/grpc.testing.TestService/StreamingOutputCall";
const char kDuplex[] = "/grpc.testing.TestService/FullDuplexCall";

Slice Serialize(const google::protobuf::MessageLite& m) {
  uint8_t* out = nullptr;
  Slice s = Slice::Allocate(m.ByteSizeLong(), &out);
  m.SerializeWithCachedSizesToArray(out);
  return s;
}

std::shared_ptr<Channel> NewChannel(const std::string& target, int busy_poll_us) {
  polyrpc::Options o;
  o.Set("grpc.max_receive_message_length", int64_t{-1});
  if (busy_poll_us >= -1) o.Set("polyrpc.busy_poll_us", int64_t{busy_poll_us});
  std::string error;
  auto ch = Channel::Create(target, polyrpc::ChannelCredentials::Insecure(), o, &error);
  if (!ch) {
    std::fprintf(stderr, "channel: %s\n", error.c_str());
    std::exit(1);
  }
  return ch;
}

bool WaitReady(Channel& ch) {
  auto deadline = polyrpc::DeadlineAfter(std::chrono::seconds(10));
  auto s = ch.GetState(true);
  while (s != polyrpc::ConnectivityState::READY) {
    if (!ch.WaitForStateChange(s, deadline)) return false;
    s = ch.GetState(true);
  }
  return true;
}

int Hold(const bench::Flags& f) {
  std::vector<std::shared_ptr<Channel>> channels;
  for (int i = 0; i < f.conns; ++i) {
    channels.push_back(NewChannel(f.target, f.busy_poll_us));
    if (!WaitReady(*channels.back())) {
      std::fprintf(stderr, "connection %d did not become ready\n", i);
      return 1;
    }
  }
  std::vector<std::shared_ptr<ClientCall>> calls;
  Slice ping = Serialize(bench::MakeStreamRequest(1, 1, 0));
  for (int i = 0; i < f.calls; ++i) {
    auto call = channels[i % channels.size()]->CreateCall(kDuplex, polyrpc::CallOptions());
    Slice resp;
    if (!polyrpc::SendBlocking(*call, ping) || !polyrpc::RecvBlocking(*call, &resp)) {
      std::fprintf(stderr, "stream %d failed: %s\n", i, call->status().ToString().c_str());
      return 1;
    }
    calls.push_back(std::move(call));
  }
  std::printf("ready %zu connections %zu streams\n", channels.size(), calls.size());
  std::fflush(stdout);
  // Hold until bench/run closes our stdin (or the time runs out).
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(f.hold);
  char buf[64];
  while (std::chrono::steady_clock::now() < until) {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(0, &rd);
    timeval tv{0, 200000};
    if (select(1, &rd, nullptr, nullptr, &tv) > 0 && read(0, buf, sizeof buf) <= 0) break;
  }
  for (auto& c : calls) c->Cancel();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags f = bench::ParseFlags(argc, argv);
  if (f.scenario == "hold") return Hold(f);
  auto channel = NewChannel(f.target, f.busy_poll_us);
  if (!WaitReady(*channel)) {
    std::fprintf(stderr, "could not connect to %s\n", f.target.c_str());
    return 1;
  }
  if (f.scenario == "unary") {
    return bench::RunLoop(f, [&](int) -> bench::Op {
      auto req = bench::MakeSimpleRequest(f);
      return [&f, &channel, req](const std::function<void(double)>& record) {
        auto t0 = std::chrono::steady_clock::now();
        std::string bytes = req.SerializeAsString();
        Slice out;
        auto st = polyrpc::BlockingUnaryCall(*channel, kUnary, Slice::FromString(std::move(bytes)),
                                             &out);
        grpc::testing::SimpleResponse resp;
        if (!st.ok() || !resp.ParseFromArray(out.data(), static_cast<int>(out.size())) ||
            resp.payload().body().size() != static_cast<size_t>(f.resp_size)) {
          return 0;
        }
        record(bench::MicrosSince(t0));
        return 1;
      };
    });
  }
  if (f.scenario == "stream") {
    return bench::RunLoop(f, [&](int) -> bench::Op {
      auto req = bench::MakeStreamRequest(f.stream_messages, f.resp_size, 0);
      return [&f, &channel, req](const std::function<void(double)>& record) {
        auto t0 = std::chrono::steady_clock::now();
        auto call = channel->CreateCall(kStream, polyrpc::CallOptions());
        if (!polyrpc::SendBlocking(*call, Serialize(req), polyrpc::kWriteLast)) return 0;
        int n = 0;
        Slice m;
        while (polyrpc::RecvBlocking(*call, &m)) ++n;
        if (!polyrpc::FinishBlocking(*call).ok() || n != f.stream_messages) return 0;
        record(bench::MicrosSince(t0));
        return n;
      };
    });
  }
  if (f.scenario == "bidi") {
    return bench::RunLoop(f, [&](int) -> bench::Op {
      auto call = channel->CreateCall(kDuplex, polyrpc::CallOptions());
      auto req = bench::MakeStreamRequest(1, f.resp_size, f.req_size);
      return [&f, call, req](const std::function<void(double)>& record) {
        auto t0 = std::chrono::steady_clock::now();
        Slice m;
        grpc::testing::StreamingOutputCallResponse resp;
        if (!polyrpc::SendBlocking(*call, Serialize(req)) || !polyrpc::RecvBlocking(*call, &m) ||
            !resp.ParseFromArray(m.data(), static_cast<int>(m.size())) ||
            resp.payload().body().size() != static_cast<size_t>(f.resp_size)) {
          return 0;
        }
        record(bench::MicrosSince(t0));
        return 1;
      };
    });
  }
  std::fprintf(stderr, "unknown scenario %s\n", f.scenario.c_str());
  return 2;
}
