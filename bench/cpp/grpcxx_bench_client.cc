// Client loop on grpc++ 1.51's sync API: the anchor for the C++ client figures, and the neutral
// driver (neither stack under test) for server-side streaming and large-message figures.
// Same flags and scenarios as polyrpc_bench_client (unary, bidi, stream).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "bench_client_common.h"
#include "grpc/testing/test.grpc.pb.h"

using grpc::testing::SimpleResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;
using grpc::testing::TestService;

int main(int argc, char** argv) {
  bench::Flags f = bench::ParseFlags(argc, argv);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(f.target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "could not connect to %s\n", f.target.c_str());
    return 1;
  }
  auto stub = TestService::NewStub(channel);
  if (f.scenario == "unary") {
    return bench::RunLoop(f, [&](int) -> bench::Op {
      auto req = bench::MakeSimpleRequest(f);
      return [&f, &stub, req](const std::function<void(double)>& record) {
        auto t0 = std::chrono::steady_clock::now();
        grpc::ClientContext ctx;
        SimpleResponse resp;
        auto st = stub->UnaryCall(&ctx, req, &resp);
        if (!st.ok() || resp.payload().body().size() != static_cast<size_t>(f.resp_size)) {
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
      return [&f, &stub, req](const std::function<void(double)>& record) {
        auto t0 = std::chrono::steady_clock::now();
        grpc::ClientContext ctx;
        auto reader = stub->StreamingOutputCall(&ctx, req);
        StreamingOutputCallResponse resp;
        int n = 0;
        while (reader->Read(&resp)) ++n;
        if (!reader->Finish().ok() || n != f.stream_messages) return 0;
        record(bench::MicrosSince(t0));
        return n;
      };
    });
  }
  if (f.scenario == "bidi") {
    return bench::RunLoop(f, [&](int) -> bench::Op {
      // The stream is destroyed before its context, and cancelled first, whatever order the
      // lambda's captures go in.
      struct Duplex {
        grpc::ClientContext ctx;
        std::unique_ptr<grpc::ClientReaderWriter<StreamingOutputCallRequest,
                                                 StreamingOutputCallResponse>>
            stream;
        ~Duplex() {
          ctx.TryCancel();
          stream->Finish();
        }
      };
      auto d = std::make_shared<Duplex>();
      d->stream = stub->FullDuplexCall(&d->ctx);
      auto req = bench::MakeStreamRequest(1, f.resp_size, f.req_size);
      return [&f, d, req](const std::function<void(double)>& record) {
        auto& stream = d->stream;
        auto t0 = std::chrono::steady_clock::now();
        StreamingOutputCallResponse resp;
        if (!stream->Write(req) || !stream->Read(&resp) ||
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
