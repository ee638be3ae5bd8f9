// polyrpc_demo_server: grpc.testing.TestService on the polyrpc C++ API with the health service
// and server reflection enabled (one line each), for the ecosystem tests: grpcurl,
// grpc-health-probe, grpcio's health and reflection clients, the polyrpc command-line tool and
// nginx in front of several of these.
//
// Every call answers its server's --id in the initial metadata "x-server-id" (and in
// SimpleResponse.server_id), so a test behind a proxy sees which server took it.
//
// Usage: polyrpc_demo_server [--port=N] [--port_file=F] [--id=NAME] [--tls_dir=DIR]
// --port=0 (the default) binds a free port; --port_file gets the bound port once listening.
// Commands on stdin, one per line, each answered "ok" on stdout:
//   health SERVICE STATUS    STATUS: SERVING | NOT_SERVING | UNKNOWN | CLEAR (""= the server)
//   quit                     (or end of input) graceful shutdown
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "grpc/testing/test.polyrpc.h"
#include "polyrpc++/health.hpp"
#include "polyrpc++/polyrpc.hpp"
#include "polyrpc++/proto_reflection.hpp"

namespace {

using polyrpc::ServerContext;
using polyrpc::Status;
using polyrpc::StatusCode;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DemoService final : public grpc::testing::TestServiceService {
 public:
  explicit DemoService(std::string id) : id_(std::move(id)) {}

  Status EmptyCall(ServerContext& ctx, const grpc::testing::Empty&,
                   grpc::testing::Empty*) override {
    Tag(ctx);
    return Status::Ok();
  }
  Status UnaryCall(ServerContext& ctx, const grpc::testing::SimpleRequest& req,
                   grpc::testing::SimpleResponse* resp) override {
    Tag(ctx);
    if (req.has_response_status() && req.response_status().code() != 0) {
      return Status(static_cast<StatusCode>(req.response_status().code()),
                    req.response_status().message());
    }
    resp->mutable_payload()->set_body(std::string(std::max(0, req.response_size()), 'x'));
    resp->set_server_id(id_);
    if (req.fill_username()) resp->set_username("demo");
    return Status::Ok();
  }
  Status StreamingOutputCall(
      ServerContext& ctx, const grpc::testing::StreamingOutputCallRequest& req,
      polyrpc::ServerWriter<grpc::testing::StreamingOutputCallResponse>* writer) override {
    Tag(ctx);
    for (const auto& p : req.response_parameters()) {
      if (p.interval_us() > 0) std::this_thread::sleep_for(std::chrono::microseconds(p.interval_us()));
      grpc::testing::StreamingOutputCallResponse resp;
      resp.mutable_payload()->set_body(std::string(std::max(0, p.size()), 'x'));
      if (!writer->Write(resp)) return Status(StatusCode::CANCELLED, "write failed");
    }
    return Status::Ok();
  }
  Status StreamingInputCall(ServerContext& ctx,
                            polyrpc::ServerReader<grpc::testing::StreamingInputCallRequest>* reader,
                            grpc::testing::StreamingInputCallResponse* resp) override {
    Tag(ctx);
    grpc::testing::StreamingInputCallRequest req;
    int total = 0;
    while (reader->Read(&req)) total += static_cast<int>(req.payload().body().size());
    resp->set_aggregated_payload_size(total);
    return Status::Ok();
  }
  Status FullDuplexCall(
      ServerContext& ctx,
      polyrpc::ServerReaderWriter<grpc::testing::StreamingOutputCallResponse,
                                  grpc::testing::StreamingOutputCallRequest>* stream) override {
    Tag(ctx);
    grpc::testing::StreamingOutputCallRequest req;
    while (stream->Read(&req)) {
      if (req.has_response_status() && req.response_status().code() != 0) {
        return Status(static_cast<StatusCode>(req.response_status().code()),
                      req.response_status().message());
      }
      for (const auto& p : req.response_parameters()) {
        grpc::testing::StreamingOutputCallResponse resp;
        resp.mutable_payload()->set_body(std::string(std::max(0, p.size()), 'x'));
        if (!stream->Write(resp)) return Status(StatusCode::CANCELLED, "write failed");
      }
    }
    return Status::Ok();
  }

 private:
  void Tag(ServerContext& ctx) { ctx.AddInitialMetadata("x-server-id", id_); }
  std::string id_;
};

bool ParseStatus(const std::string& s, polyrpc::ServingStatus* out) {
  if (s == "SERVING") *out = polyrpc::ServingStatus::kServing;
  else if (s == "NOT_SERVING") *out = polyrpc::ServingStatus::kNotServing;
  else if (s == "UNKNOWN") *out = polyrpc::ServingStatus::kUnknown;
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string port = "0", port_file, id = "demo", tls_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto take = [&](const char* name, std::string* v) {
      std::string prefix = std::string("--") + name + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      *v = a.substr(prefix.size());
      return true;
    };
    if (!take("port", &port) && !take("port_file", &port_file) && !take("id", &id) &&
        !take("tls_dir", &tls_dir)) {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  auto creds = polyrpc::ServerCredentials::Insecure();
  if (!tls_dir.empty()) {
    creds = polyrpc::ServerCredentials::Tls(ReadFile(tls_dir + "/server.pem"),
                                            ReadFile(tls_dir + "/server.key"));
  }
  polyrpc::ThreadPool pool(16);
  DemoService service(id);
  auto server = polyrpc::Server::Create();
  std::string error;
  int bound = server->AddListener("127.0.0.1:" + port, creds, &error);
  if (bound < 0) {
    std::fprintf(stderr, "cannot listen: %s\n", error.c_str());
    return 1;
  }
  service.Register(*server, pool);
  // The two lines this program is about.
  std::shared_ptr<polyrpc::HealthService> health = polyrpc::EnableHealthService(*server);
  polyrpc::EnableServerReflection(*server);
  if (!server->Start(&error)) {
    std::fprintf(stderr, "cannot start: %s\n", error.c_str());
    return 1;
  }
  health->SetServingStatus("grpc.testing.TestService", polyrpc::ServingStatus::kServing);
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << bound << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::fprintf(stderr, "polyrpc_demo_server %s listening on 127.0.0.1:%d\n", id.c_str(), bound);

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, name, status;
    in >> cmd;
    if (cmd == "quit") break;
    if (cmd == "health" && (in >> name >> status)) {
      if (name == "\"\"") name.clear();
      polyrpc::ServingStatus st;
      if (status == "CLEAR") {
        health->ClearServingStatus(name);
      } else if (ParseStatus(status, &st)) {
        health->SetServingStatus(name, st);
      } else {
        std::printf("error: bad status %s\n", status.c_str());
        std::fflush(stdout);
        continue;
      }
      std::printf("ok\n");
    } else {
      std::printf("error: unknown command\n");
    }
    std::fflush(stdout);
  }
  server->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(2)));
  pool.Shutdown();
  return 0;
}
