// A real gRPC C++ server (Debian's libgrpc++ 1.51) for capi/tests/test_dynamic.c: serves
// grpc.testing.TestService's four call kinds and, unless --no-reflection, server reflection by
// grpc++'s own plugin (libgrpc++_reflection; 1.51 implements grpc.reflection.v1alpha only, so
// clients that try v1 first must fall back).
//
// Usage: capi_dynamic_test_server [--no-reflection]
// Listens on 127.0.0.1 (a free port), prints "listening on port N" on stdout, and serves until
// its stdin closes (the test ends or dies) or 120 seconds have passed.
//
// Behaviour, after gRPC's interop-test-descriptions.md:
//   UnaryCall            a payload of response_size zero bytes of response_type; a
//                        response_status with a non-zero code ends the call with that status.
//   StreamingOutputCall  one response per response_parameters entry, of its size.
//   StreamingInputCall   aggregated_payload_size: the sum of the request payloads' sizes.
//   FullDuplexCall       per request, one response per response_parameters entry; a
//                        response_status with a non-zero code ends the call with it.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/testing/test.grpc.pb.h"

namespace {

using grpc::ServerContext;
using grpc::Status;
using namespace grpc::testing;

Payload MakePayload(PayloadType type, int size) {
  Payload p;
  p.set_type(type);
  p.set_body(std::string(static_cast<size_t>(size), '\0'));
  return p;
}

bool HasErrorStatus(const EchoStatus& s) { return s.code() != 0; }

class TestServiceImpl final : public TestService::Service {
 public:
  Status EmptyCall(ServerContext*, const Empty*, Empty*) override { return Status::OK; }

  Status UnaryCall(ServerContext*, const SimpleRequest* req, SimpleResponse* resp) override {
    if (req->has_response_status() && HasErrorStatus(req->response_status())) {
      return Status(static_cast<grpc::StatusCode>(req->response_status().code()),
                    req->response_status().message());
    }
    *resp->mutable_payload() = MakePayload(req->response_type(), req->response_size());
    return Status::OK;
  }

  Status StreamingOutputCall(ServerContext*, const StreamingOutputCallRequest* req,
                             grpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    for (const auto& p : req->response_parameters()) {
      StreamingOutputCallResponse resp;
      *resp.mutable_payload() = MakePayload(req->response_type(), p.size());
      if (!writer->Write(resp)) return Status(grpc::StatusCode::ABORTED, "write failed");
    }
    return Status::OK;
  }

  Status StreamingInputCall(ServerContext*, grpc::ServerReader<StreamingInputCallRequest>* reader,
                            StreamingInputCallResponse* resp) override {
    StreamingInputCallRequest req;
    int total = 0;
    while (reader->Read(&req)) total += static_cast<int>(req.payload().body().size());
    resp->set_aggregated_payload_size(total);
    return Status::OK;
  }

  Status FullDuplexCall(ServerContext*,
                        grpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                 StreamingOutputCallRequest>* stream) override {
    StreamingOutputCallRequest req;
    while (stream->Read(&req)) {
      if (req.has_response_status() && HasErrorStatus(req.response_status())) {
        return Status(static_cast<grpc::StatusCode>(req.response_status().code()),
                      req.response_status().message());
      }
      for (const auto& p : req.response_parameters()) {
        StreamingOutputCallResponse resp;
        *resp.mutable_payload() = MakePayload(req.response_type(), p.size());
        if (!stream->Write(resp)) return Status(grpc::StatusCode::ABORTED, "write failed");
      }
    }
    return Status::OK;
  }
};

// Drops the builder's plugins: loading libgrpc++_reflection registers its plugin with every
// builder, so --no-reflection has to take it out again.
class WithoutPlugins : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->clear();
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool reflection = true;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--no-reflection") == 0) {
      reflection = false;
    } else {
      std::fprintf(stderr, "usage: %s [--no-reflection]\n", argv[0]);
      return 2;
    }
  }
  if (reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  TestServiceImpl service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  if (!reflection) builder.SetOption(std::make_unique<WithoutPlugins>());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "could not listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("listening on port %d\n", port);
  std::fflush(stdout);

  // Ends when stdin closes, or after 120 s whatever happens (a test never waits that long).
  std::thread watchdog([] {
    std::this_thread::sleep_for(std::chrono::seconds(120));
    std::fprintf(stderr, "capi_dynamic_test_server: 120 s passed, exiting\n");
    std::_Exit(3);
  });
  watchdog.detach();
  char buf[64];
  while (read(0, buf, sizeof(buf)) > 0) {
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
