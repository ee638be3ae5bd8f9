// grpc.testing.TestService on grpc++ 1.51: the anchor polyrpc is measured against (bench/run).
//   --api=callback (default): the callback API, grpc++'s fastest server API, whose reactors run
//     on grpc's own threads without a hop to an application pool, like polyrpc's inline handlers
//     and its typed callback service;
//   --api=sync: the synchronous API (TestService::Service, blocking handlers on grpc++'s own
//     thread pool), the anchor of polyrpc's typed sync service.
//
//   grpcxx_bench_server [--api=callback|sync] --port N   (the bound port is printed on stdout)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpc/testing/test.grpc.pb.h"

namespace {

using grpc::CallbackServerContext;
using grpc::ServerBidiReactor;
using grpc::ServerUnaryReactor;
using grpc::ServerWriteReactor;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;

class StreamWriter : public ServerWriteReactor<StreamingOutputCallResponse> {
 public:
  explicit StreamWriter(const StreamingOutputCallRequest* req) : req_(*req) { Next(); }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "write failed"));
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ == req_.response_parameters_size()) return Finish(grpc::Status::OK);
    resp_.mutable_payload()->mutable_body()->assign(
        static_cast<size_t>(req_.response_parameters(next_++).size()), '\0');
    StartWrite(&resp_);
  }
  StreamingOutputCallRequest req_;
  StreamingOutputCallResponse resp_;
  int next_ = 0;
};

class Duplex : public ServerBidiReactor<StreamingOutputCallRequest, StreamingOutputCallResponse> {
 public:
  Duplex() { StartRead(&req_); }
  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::OK);  // the client half-closed
    next_ = 0;
    WriteNext();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "write failed"));
    WriteNext();
  }
  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (next_ == req_.response_parameters_size()) return StartRead(&req_);
    resp_.mutable_payload()->mutable_body()->assign(
        static_cast<size_t>(req_.response_parameters(next_++).size()), '\0');
    StartWrite(&resp_);
  }
  StreamingOutputCallRequest req_;
  StreamingOutputCallResponse resp_;
  int next_ = 0;
};

class Service final : public grpc::testing::TestService::CallbackService {
  ServerUnaryReactor* UnaryCall(CallbackServerContext* ctx, const SimpleRequest* req,
                                SimpleResponse* resp) override {
    resp->mutable_payload()->mutable_body()->assign(static_cast<size_t>(req->response_size()),
                                                     '\0');
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  ServerWriteReactor<StreamingOutputCallResponse>* StreamingOutputCall(
      CallbackServerContext*, const StreamingOutputCallRequest* req) override {
    return new StreamWriter(req);
  }
  ServerBidiReactor<StreamingOutputCallRequest, StreamingOutputCallResponse>* FullDuplexCall(
      CallbackServerContext*) override {
    return new Duplex();
  }
};

class SyncService final : public grpc::testing::TestService::Service {
  grpc::Status UnaryCall(grpc::ServerContext*, const SimpleRequest* req,
                         SimpleResponse* resp) override {
    resp->mutable_payload()->mutable_body()->assign(static_cast<size_t>(req->response_size()),
                                                     '\0');
    return grpc::Status::OK;
  }
  grpc::Status StreamingOutputCall(
      grpc::ServerContext*, const StreamingOutputCallRequest* req,
      grpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    StreamingOutputCallResponse resp;
    for (const auto& p : req->response_parameters()) {
      resp.mutable_payload()->mutable_body()->assign(static_cast<size_t>(p.size()), '\0');
      if (!writer->Write(resp)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status FullDuplexCall(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<StreamingOutputCallResponse, StreamingOutputCallRequest>* stream)
      override {
    StreamingOutputCallRequest req;
    StreamingOutputCallResponse resp;
    while (stream->Read(&req)) {
      for (const auto& p : req.response_parameters()) {
        resp.mutable_payload()->mutable_body()->assign(static_cast<size_t>(p.size()), '\0');
        if (!stream->Write(resp)) return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }
};

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string api = "callback";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strncmp(argv[i], "--port=", 7) == 0) {
      port = std::atoi(argv[i] + 7);
    } else if (std::strncmp(argv[i], "--api=", 6) == 0) {
      api = argv[i] + 6;
    } else {
      std::fprintf(stderr, "usage: %s [--api=callback|sync] --port N\n", argv[0]);
      return 2;
    }
  }
  if (api != "callback" && api != "sync") {
    std::fprintf(stderr, "unknown --api=%s\n", api.c_str());
    return 2;
  }
  Service service;
  SyncService sync_service;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &bound);
  if (api == "sync") {
    builder.RegisterService(&sync_service);
  } else {
    builder.RegisterService(&service);
  }
  builder.SetMaxReceiveMessageSize(-1);
  // A stale server on the same port must never share the load (PERFORMANCE.md).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    std::fprintf(stderr, "grpcxx_bench_server: could not listen on port %d\n", port);
    return 1;
  }
  std::printf("%d\n", bound);
  std::fflush(stdout);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  while (!g_stop) pause();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
