// polyrpc_interop_server: grpc.testing.TestService on the polyrpc C++ API, through the stubs
// protoc-gen-polyrpc generates. Behaviour follows gRPC's interop-test-descriptions.md, plus the
// polyrpc hooks of conformance/cases.json:
//   x-polyrpc-echo-deadline: 1     -> trailer x-polyrpc-time-remaining-ms (remaining deadline)
//   x-polyrpc-close-connection: 1  -> StreamingOutputCall drops the connection after one response
//
// Usage: polyrpc_interop_server --port=N [--use_tls=true] [--cert_dir=DIR] [--bind=ADDRESS]
//                               [--server_id=ID]
// Listens on 127.0.0.1 unless --bind names another address ("::" or "0.0.0.0": every
// interface). Answers fill_server_id with server_id and the machine's hostname, as grpc-go's
// interop server does (its pick_first_unary case needs them). Runs until SIGINT or SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "grpc/testing/test.polyrpc.h"
#include "interop_flags.h"
#include "polyrpc++/polyrpc.hpp"

namespace {

using grpc::testing::Empty;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;
using polyrpc::ServerContext;
using polyrpc::Status;
using polyrpc::StatusCode;

constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";
constexpr char kEchoDeadlineKey[] = "x-polyrpc-echo-deadline";
constexpr char kTimeRemainingKey[] = "x-polyrpc-time-remaining-ms";
constexpr char kCloseConnectionKey[] = "x-polyrpc-close-connection";

// The metadata echoes every method performs, as the interop descriptions ask.
void StartCall(ServerContext& ctx) {
  for (const auto& [key, value] : ctx.client_metadata()) {
    if (key == kEchoInitialKey) {
      ctx.AddInitialMetadata(key, value);
    } else if (key == kEchoTrailingKey) {
      ctx.AddTrailingMetadata(key, value);
    } else if (key == kEchoDeadlineKey && value == "1") {
      long long ms = -1;  // no deadline: a value a client can never mistake for a propagated one
      if (ctx.deadline() != polyrpc::InfiniteDeadline()) {
        ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline() -
                                                                   polyrpc::Clock::now())
                 .count();
      }
      ctx.AddTrailingMetadata(kTimeRemainingKey, std::to_string(ms));
    }
  }
}

bool HasMetadata(const ServerContext& ctx, const char* key, const char* value) {
  const std::string* v = polyrpc::FindMetadata(ctx.client_metadata(), key);
  return v && *v == value;
}

// As grpc's C++ interop server: when the request says whether it is compressed, check it.
Status CheckCompression(bool has_expectation, bool expected, bool was_compressed) {
  if (!has_expectation || expected == was_compressed) return Status::Ok();
  return Status(StatusCode::INVALID_ARGUMENT, expected ? "Expected a compressed request"
                                                       : "Expected an uncompressed request");
}

void FillPayload(grpc::testing::Payload* payload, int size) {
  payload->set_type(grpc::testing::COMPRESSABLE);
  payload->mutable_body()->assign(static_cast<size_t>(size > 0 ? size : 0), '\0');
}

// Sleeps interval_us unless the call ends first; false if it ended.
bool SleepUnlessCancelled(ServerContext& ctx, int interval_us) {
  auto until = polyrpc::Clock::now() + std::chrono::microseconds(interval_us);
  while (polyrpc::Clock::now() < until) {
    if (ctx.IsCancelled()) return false;
    auto left = until - polyrpc::Clock::now();
    std::this_thread::sleep_for(std::min<polyrpc::Clock::duration>(left, std::chrono::milliseconds(5)));
  }
  return !ctx.IsCancelled();
}

Status EchoStatus(const grpc::testing::EchoStatus& s) {
  return Status(static_cast<StatusCode>(s.code()), s.message());
}

std::string Hostname() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

class TestServiceImpl : public grpc::testing::TestServiceService {
 public:
  explicit TestServiceImpl(std::string server_id) : server_id_(std::move(server_id)) {}

  Status EmptyCall(ServerContext& ctx, const Empty&, Empty*) override {
    StartCall(ctx);
    return Status::Ok();
  }

  Status UnaryCall(ServerContext& ctx, const SimpleRequest& req, SimpleResponse* resp) override {
    if (req.has_response_compressed()) {
      ctx.SetCompression(req.response_compressed().value() ? "gzip" : "identity");
    }
    StartCall(ctx);
    Status st = CheckCompression(req.has_expect_compressed(), req.expect_compressed().value(),
                                 ctx.request_compressed());
    if (!st.ok()) return st;
    if (req.has_response_status() && req.response_status().code() != 0) {
      return EchoStatus(req.response_status());
    }
    FillPayload(resp->mutable_payload(), req.response_size());
    if (req.fill_server_id()) {
      resp->set_server_id(server_id_);
      resp->set_hostname(hostname_);
    }
    return Status::Ok();
  }

  Status CacheableUnaryCall(ServerContext& ctx, const SimpleRequest& req,
                            SimpleResponse* resp) override {
    return UnaryCall(ctx, req, resp);
  }

  Status StreamingOutputCall(ServerContext& ctx, const StreamingOutputCallRequest& req,
                             polyrpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    bool any_compressed = false;
    for (const auto& p : req.response_parameters()) any_compressed |= p.compressed().value();
    if (any_compressed) ctx.SetCompression("gzip");
    StartCall(ctx);
    bool close_connection = HasMetadata(ctx, kCloseConnectionKey, "1");
    for (const auto& p : req.response_parameters()) {
      if (p.interval_us() > 0 && !SleepUnlessCancelled(ctx, p.interval_us())) {
        return Status(StatusCode::CANCELLED, "Call ended while sleeping");
      }
      StreamingOutputCallResponse resp;
      FillPayload(resp.mutable_payload(), p.size());
      uint32_t flags = any_compressed && !p.compressed().value() ? polyrpc::kWriteNoCompress
                                                                   : polyrpc::kWriteNone;
      if (!writer->Write(resp, flags)) return Status(StatusCode::CANCELLED, "Write failed");
      if (close_connection) {
        ctx.call().CloseConnectionForTesting();
        return Status(StatusCode::UNAVAILABLE, "Connection closed on request");
      }
    }
    if (req.has_response_status() && req.response_status().code() != 0) {
      return EchoStatus(req.response_status());
    }
    return Status::Ok();
  }

  Status StreamingInputCall(ServerContext& ctx,
                            polyrpc::ServerReader<StreamingInputCallRequest>* reader,
                            StreamingInputCallResponse* resp) override {
    StartCall(ctx);
    StreamingInputCallRequest req;
    bool compressed = false;
    int total = 0;
    while (reader->Read(&req, &compressed)) {
      Status st = CheckCompression(req.has_expect_compressed(), req.expect_compressed().value(),
                                   compressed);
      if (!st.ok()) return st;
      total += static_cast<int>(req.payload().body().size());
    }
    resp->set_aggregated_payload_size(total);
    return Status::Ok();
  }

  Status FullDuplexCall(ServerContext& ctx,
                        polyrpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                    StreamingOutputCallRequest>* stream) override {
    StartCall(ctx);
    StreamingOutputCallRequest req;
    while (stream->Read(&req)) {
      if (req.has_response_status() && req.response_status().code() != 0) {
        return EchoStatus(req.response_status());
      }
      for (const auto& p : req.response_parameters()) {
        if (p.interval_us() > 0 && !SleepUnlessCancelled(ctx, p.interval_us())) {
          return Status(StatusCode::CANCELLED, "Call ended while sleeping");
        }
        StreamingOutputCallResponse resp;
        FillPayload(resp.mutable_payload(), p.size());
        if (!stream->Write(resp)) return Status(StatusCode::CANCELLED, "Write failed");
      }
    }
    return Status::Ok();
  }

  Status HalfDuplexCall(ServerContext& ctx,
                        polyrpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                    StreamingOutputCallRequest>* stream) override {
    StartCall(ctx);
    std::vector<StreamingOutputCallRequest> requests;
    StreamingOutputCallRequest req;
    while (stream->Read(&req)) {
      if (req.has_response_status() && req.response_status().code() != 0) {
        return EchoStatus(req.response_status());
      }
      requests.push_back(req);
    }
    for (const auto& r : requests) {
      for (const auto& p : r.response_parameters()) {
        if (p.interval_us() > 0 && !SleepUnlessCancelled(ctx, p.interval_us())) {
          return Status(StatusCode::CANCELLED, "Call ended while sleeping");
        }
        StreamingOutputCallResponse resp;
        FillPayload(resp.mutable_payload(), p.size());
        if (!stream->Write(resp)) return Status(StatusCode::CANCELLED, "Write failed");
      }
    }
    return Status::Ok();
  }
  // UnimplementedCall stays unimplemented: the generated default answers UNIMPLEMENTED.

 private:
  const std::string server_id_;
  const std::string hostname_ = Hostname();
};

}  // namespace

int main(int argc, char** argv) {
  polyrpc::interop::Flags flags({{"port", "0"},
                                 {"use_tls", "false"},
                                 {"cert_dir", polyrpc::interop::DefaultCertDir()},
                                 {"bind", "127.0.0.1"},
                                 {"server_id", "polyrpc-cpp"}});
  if (!flags.Parse(argc, argv)) return 2;
  int port = flags.GetInt("port");
  if (port <= 0) {
    std::fprintf(stderr, "--port=N is required\n");
    return 2;
  }

  // Block the stop signals before any thread starts, so that sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::shared_ptr<polyrpc::ServerCredentials> creds = polyrpc::ServerCredentials::Insecure();
  if (flags.GetBool("use_tls")) {
    std::string cert, key;
    const std::string& dir = flags.Get("cert_dir");
    if (!polyrpc::interop::ReadCertFile(dir, "server.pem", &cert) ||
        !polyrpc::interop::ReadCertFile(dir, "server.key", &key)) {
      std::fprintf(stderr, "cannot read server.pem/server.key in %s\n", dir.c_str());
      return 1;
    }
    creds = polyrpc::ServerCredentials::Tls(cert, key);
  }

  // Enough threads that every call of the concurrent_streams case can block at once.
  polyrpc::ThreadPool pool(256);
  TestServiceImpl service(flags.Get("server_id"));
  std::unique_ptr<polyrpc::Server> server = polyrpc::Server::Create();
  std::string error;
  const std::string& bind = flags.Get("bind");
  std::string address =
      (bind.find(':') != std::string::npos ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
  int bound = server->AddListener(address, creds, &error);
  if (bound != port) {
    std::fprintf(stderr, "could not listen on %s: %s\n", address.c_str(), error.c_str());
    return 1;
  }
  service.Register(*server, pool);
  if (!server->Start(&error)) {
    std::fprintf(stderr, "server start failed: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "polyrpc interop server listening on %s (tls=%s)\n", address.c_str(),
               flags.Get("use_tls").c_str());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  server->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(1)));
  pool.Shutdown();
  return 0;
}
