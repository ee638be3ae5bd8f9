// grpc.testing.TestService interop server on real gRPC C++ (Debian's libgrpc++ 1.51), the C++
// reference peer polyrpc clients are tested against.
//
// Usage: grpcxx_interop_server --port=N [--use_tls=true] [--cert_dir=DIR] [--bind=ADDRESS]
//                              [--server_id=ID]
// Listens on 127.0.0.1 unless --bind names another address ("::": every interface). Answers
// fill_server_id with server_id and the machine's hostname, as grpc-go's interop server does.
// Behaviour follows gRPC's doc/interop-test-descriptions.md (as gRPC's own C++ interop server
// does) plus polyrpc's x-polyrpc-echo-deadline hook. The x-polyrpc-close-connection hook cannot
// be done with a real gRPC server and is ignored.

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/testing/empty.pb.h"
#include "grpc/testing/messages.pb.h"
#include "grpc/testing/test.grpc.pb.h"
#include "interop_common.h"

namespace {

using grpc::ServerContext;
using grpc::Status;
using grpc::testing::Empty;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;

constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";
constexpr char kEchoDeadlineKey[] = "x-polyrpc-echo-deadline";
constexpr char kTimeRemainingKey[] = "x-polyrpc-time-remaining-ms";

// Echoes the interop metadata and answers the deadline hook. Must run before the first write,
// since initial metadata goes out with it.
void StartCall(ServerContext* ctx) {
  for (const auto& [key, value] : ctx->client_metadata()) {
    const std::string k(key.data(), key.size());
    const std::string v(value.data(), value.size());
    if (k == kEchoInitialKey) {
      ctx->AddInitialMetadata(k, v);
    } else if (k == kEchoTrailingKey) {
      ctx->AddTrailingMetadata(k, v);
    } else if (k == kEchoDeadlineKey && v == "1") {
      const auto deadline = ctx->deadline();
      long long ms = -1;  // no deadline: a value no client mistakes for a propagated one
      if (deadline != std::chrono::system_clock::time_point::max()) {
        ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                   std::chrono::system_clock::now())
                 .count();
      }
      ctx->AddTrailingMetadata(kTimeRemainingKey, std::to_string(ms));
    }
  }
}

// Checks expect_compressed against how the last request actually arrived.
bool CompressionAsExpected(ServerContext* ctx, bool expected) {
  const bool compressed = polyrpc_interop::LastMessageWasCompressed(ctx->c_call());
  if (expected) {
    return compressed &&
           grpc_call_test_only_get_compression_algorithm(ctx->c_call()) != GRPC_COMPRESS_NONE;
  }
  return !compressed;
}

// Sleeps interval_us unless the call is cancelled first; false if it was.
bool SleepUnlessCancelled(ServerContext* ctx, int interval_us) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(interval_us);
  while (!ctx->IsCancelled()) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(20)));
  }
  return false;
}

Status EchoedStatus(const grpc::testing::EchoStatus& s) {
  return Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

void FillPayload(int size, grpc::testing::Payload* payload) {
  payload->set_type(grpc::testing::COMPRESSABLE);
  payload->set_body(std::string(size, '\0'));
}

std::string Hostname() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

class TestServiceImpl final : public grpc::testing::TestService::Service {
 public:
  explicit TestServiceImpl(std::string server_id) : server_id_(std::move(server_id)) {}

  Status EmptyCall(ServerContext* ctx, const Empty*, Empty*) override {
    StartCall(ctx);
    return Status::OK;
  }

  Status UnaryCall(ServerContext* ctx, const SimpleRequest* request,
                   SimpleResponse* response) override {
    StartCall(ctx);
    if (request->has_response_compressed()) {
      // A level, as gRPC's own server does: the core picks an algorithm the client accepts.
      ctx->set_compression_level(request->response_compressed().value() ? GRPC_COMPRESS_LEVEL_HIGH
                                                                        : GRPC_COMPRESS_LEVEL_NONE);
    }
    if (request->has_expect_compressed() &&
        !CompressionAsExpected(ctx, request->expect_compressed().value())) {
      return Status(grpc::StatusCode::INVALID_ARGUMENT, "Compressed request expectation not met.");
    }
    if (request->has_response_status() && request->response_status().code() != 0) {
      return EchoedStatus(request->response_status());
    }
    FillPayload(request->response_size(), response->mutable_payload());
    if (request->fill_server_id()) {
      response->set_server_id(server_id_);
      response->set_hostname(hostname_);
    }
    return Status::OK;
  }

  Status CacheableUnaryCall(ServerContext* ctx, const SimpleRequest* request,
                            SimpleResponse* response) override {
    return UnaryCall(ctx, request, response);
  }

  Status StreamingOutputCall(ServerContext* ctx, const StreamingOutputCallRequest* request,
                             grpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    StartCall(ctx);
    for (const auto& p : request->response_parameters()) {
      // Compress by default once asked to; single messages opt out.
      if (p.has_compressed()) ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
    }
    for (const auto& p : request->response_parameters()) {
      if (p.interval_us() > 0 && !SleepUnlessCancelled(ctx, p.interval_us())) {
        return Status(grpc::StatusCode::CANCELLED, "call ended while sleeping");
      }
      StreamingOutputCallResponse response;
      FillPayload(p.size(), response.mutable_payload());
      grpc::WriteOptions options;
      if (p.has_compressed() && !p.compressed().value()) options.set_no_compression();
      if (!writer->Write(response, options)) {
        return Status(grpc::StatusCode::INTERNAL, "Error writing response.");
      }
    }
    if (request->has_response_status() && request->response_status().code() != 0) {
      return EchoedStatus(request->response_status());
    }
    return Status::OK;
  }

  Status StreamingInputCall(ServerContext* ctx,
                            grpc::ServerReader<StreamingInputCallRequest>* reader,
                            StreamingInputCallResponse* response) override {
    StartCall(ctx);
    StreamingInputCallRequest request;
    int total = 0;
    while (reader->Read(&request)) {
      if (request.has_expect_compressed() &&
          !CompressionAsExpected(ctx, request.expect_compressed().value())) {
        return Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "Compressed request expectation not met.");
      }
      total += static_cast<int>(request.payload().body().size());
    }
    response->set_aggregated_payload_size(total);
    return Status::OK;
  }

  Status FullDuplexCall(ServerContext* ctx,
                        grpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                 StreamingOutputCallRequest>* stream) override {
    StartCall(ctx);
    StreamingOutputCallRequest request;
    while (stream->Read(&request)) {
      if (request.has_response_status() && request.response_status().code() != 0) {
        return EchoedStatus(request.response_status());
      }
      if (Status s = Respond(ctx, request, stream); !s.ok()) return s;
    }
    return Status::OK;
  }

  Status HalfDuplexCall(ServerContext* ctx,
                        grpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                 StreamingOutputCallRequest>* stream) override {
    StartCall(ctx);
    std::vector<StreamingOutputCallRequest> requests;
    StreamingOutputCallRequest request;
    while (stream->Read(&request)) {
      if (request.has_response_status() && request.response_status().code() != 0) {
        return EchoedStatus(request.response_status());
      }
      requests.push_back(request);
    }
    for (const auto& r : requests) {
      if (Status s = Respond(ctx, r, stream); !s.ok()) return s;
    }
    return Status::OK;
  }

 private:
  static Status Respond(
      ServerContext* ctx, const StreamingOutputCallRequest& request,
      grpc::ServerReaderWriter<StreamingOutputCallResponse, StreamingOutputCallRequest>* stream) {
    for (const auto& p : request.response_parameters()) {
      if (p.interval_us() > 0 && !SleepUnlessCancelled(ctx, p.interval_us())) {
        return Status(grpc::StatusCode::CANCELLED, "call ended while sleeping");
      }
      StreamingOutputCallResponse response;
      FillPayload(p.size(), response.mutable_payload());
      if (!stream->Write(response)) {
        return Status(grpc::StatusCode::INTERNAL, "Error writing response.");
      }
    }
    return Status::OK;
  }

  const std::string server_id_;
  const std::string hostname_ = Hostname();
};

volatile std::sig_atomic_t g_stop = 0;

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"port", "0"},           {"use_tls", "false"},
      {"bind", "127.0.0.1"},   {"server_id", "grpcxx"},
      {"cert_dir", polyrpc_interop::DefaultCertDir()}};
  polyrpc_interop::ParseFlags(argc, argv, &flags, {{"use_tls", true}});
  const int port = std::atoi(flags["port"].c_str());
  if (port <= 0) {
    std::fprintf(stderr, "--port=N is required\n");
    return 2;
  }

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (polyrpc_interop::FlagIsTrue(flags["use_tls"])) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back(
        {polyrpc_interop::ReadFileOrDie(flags["cert_dir"] + "/server.key"),
         polyrpc_interop::ReadFileOrDie(flags["cert_dir"] + "/server.pem")});
    creds = grpc::SslServerCredentials(options);
  } else {
    creds = grpc::InsecureServerCredentials();
  }

  TestServiceImpl service(flags["server_id"]);
  grpc::ServerBuilder builder;
  const std::string& bind = flags["bind"];
  const std::string address =
      (bind.find(':') != std::string::npos ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
  int bound_port = 0;
  builder.AddListeningPort(address, creds, &bound_port);
  builder.RegisterService(&service);
  // Default limits on purpose: the max_message_size case relies on the 4 MiB receive limit.
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port != port) {
    std::fprintf(stderr, "could not listen on %s\n", address.c_str());
    return 1;
  }
  std::fprintf(stderr, "grpc++ interop server listening on %s (tls=%s)\n", address.c_str(),
               flags["use_tls"].c_str());

  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
