// grpc.testing.TestService on polyrpc's typed C++ API, the code protoc-gen-polyrpc (lang=cpp)
// generates, for bench/run: the path a C++ service written against the generated classes takes.
//
//   --api=sync   TestServiceService: blocking handlers on a polyrpc::ThreadPool (the default
//                pool, sized to the machine), compared with grpc++'s sync server. (The only one
//                so far: a typed asynchronous service is issue #20 item 2.)
//
// Messages are parsed and serialised on every call, as in the other bench servers.
//
//   polyrpc_typed_bench_server [--api=sync] --port N   (the bound port is printed on stdout)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "grpc/testing/test.polyrpc.h"
#include "polyrpc++/polyrpc.hpp"

namespace {

using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;

class SyncService final : public grpc::testing::TestServiceService {
 public:
  polyrpc::Status UnaryCall(polyrpc::ServerContext&, const SimpleRequest& req,
                            SimpleResponse* resp) override {
    resp->mutable_payload()->mutable_body()->assign(static_cast<size_t>(req.response_size()),
                                                     '\0');
    return polyrpc::Status::Ok();
  }
  polyrpc::Status StreamingOutputCall(
      polyrpc::ServerContext&, const StreamingOutputCallRequest& req,
      polyrpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    StreamingOutputCallResponse resp;
    for (const auto& p : req.response_parameters()) {
      resp.mutable_payload()->mutable_body()->assign(static_cast<size_t>(p.size()), '\0');
      if (!writer->Write(resp)) break;
    }
    return polyrpc::Status::Ok();
  }
  polyrpc::Status FullDuplexCall(
      polyrpc::ServerContext&,
      polyrpc::ServerReaderWriter<StreamingOutputCallResponse, StreamingOutputCallRequest>*
          stream) override {
    StreamingOutputCallRequest req;
    StreamingOutputCallResponse resp;
    while (stream->Read(&req)) {
      for (const auto& p : req.response_parameters()) {
        resp.mutable_payload()->mutable_body()->assign(static_cast<size_t>(p.size()), '\0');
        if (!stream->Write(resp)) return polyrpc::Status::Ok();
      }
    }
    return polyrpc::Status::Ok();
  }
};

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string api = "sync";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strncmp(argv[i], "--port=", 7) == 0) {
      port = std::atoi(argv[i] + 7);
    } else if (std::strncmp(argv[i], "--api=", 6) == 0) {
      api = argv[i] + 6;
    } else {
      std::fprintf(stderr, "usage: %s [--api=sync] --port N\n", argv[0]);
      return 2;
    }
  }
  if (api != "sync") {
    std::fprintf(stderr, "unknown --api=%s\n", api.c_str());
    return 2;
  }
  polyrpc::Options opts;
  opts.Set("grpc.max_receive_message_length", int64_t{-1});
  auto server = polyrpc::Server::Create(opts);
  std::string error;
  int bound = server->AddListener("127.0.0.1:" + std::to_string(port),
                                  polyrpc::ServerCredentials::Insecure(), &error);
  if (bound < 0) {
    std::fprintf(stderr, "listen: %s\n", error.c_str());
    return 1;
  }
  polyrpc::ThreadPool pool;
  SyncService sync_service;
  sync_service.Register(*server, pool);
  if (!server->Start(&error)) {
    std::fprintf(stderr, "start: %s\n", error.c_str());
    return 1;
  }
  std::printf("%d\n", bound);
  std::fflush(stdout);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  while (!g_stop) pause();
  server->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(1)));
  server->Wait();
  pool.Shutdown();
  return 0;
}
