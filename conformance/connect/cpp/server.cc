// polyrpc_connect_server: the connectrpc conformance suite's server under test for the polyrpc
// C++ API. Reads one length-prefixed connectrpc.conformance.v1.ServerCompatRequest on stdin,
// starts a server as it asks (TLS with the runner's certificate, client certificates required
// when it gives one, a receive limit), writes a ServerCompatResponse with the address to stdout,
// and serves connectrpc.conformance.v1.ConformanceService (through the stubs
// protoc-gen-polyrpc generates) until SIGTERM. The behaviour of each method follows the suite's
// docs/testing_servers.md and its grpc-go server (internal/app/grpcserver); error details
// travel in grpc-status-details-bin.
//
// Usage: polyrpc_connect_server [--bind=ADDRESS]   (default 127.0.0.1; never every interface
// unless asked)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "connect_common.h"
#include "connectrpc/conformance/v1/server_compat.pb.h"
#include "connectrpc/conformance/v1/service.polyrpc.h"

namespace {

namespace v1 = polyrpc::connect::v1;
using google::protobuf::Any;
using polyrpc::ServerContext;
using polyrpc::Status;
using polyrpc::StatusCode;

template <class M>
Any AsAny(const M& message) {
  Any any;
  any.PackFrom(message);
  return any;
}

// What the handler saw of the call: the client's metadata, its timeout, and the requests.
v1::ConformancePayload::RequestInfo RequestInfo(const ServerContext& ctx,
                                                const std::vector<Any>& requests) {
  v1::ConformancePayload::RequestInfo info;
  polyrpc::connect::AddHeaders(ctx.client_metadata(), info.mutable_request_headers());
  if (ctx.deadline() != polyrpc::InfiniteDeadline()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline() -
                                                                      polyrpc::Clock::now());
    info.set_timeout_ms(std::max<int64_t>(left.count(), 0));
  }
  for (const auto& r : requests) *info.add_requests() = r;
  return info;
}

// The suite's Error as a gRPC status, its details (google.rpc.Status) in the trailers.
Status ErrorStatus(ServerContext& ctx, const v1::Error& error) {
  polyrpc::connect::RpcStatus details;
  details.set_code(error.code());
  details.set_message(error.message());
  for (const auto& d : error.details()) *details.add_details() = d;
  ctx.AddTrailingMetadata(polyrpc::connect::kStatusDetailsKey, details.SerializeAsString());
  return Status(static_cast<StatusCode>(error.code()), error.message());
}

template <class Def>
void SetMetadata(ServerContext& ctx, const Def& def, bool send_headers_now) {
  for (auto& [k, v] : polyrpc::connect::ToMetadata(def.response_headers())) {
    ctx.AddInitialMetadata(k, v);
  }
  for (auto& [k, v] : polyrpc::connect::ToMetadata(def.response_trailers())) {
    ctx.AddTrailingMetadata(k, v);
  }
  // As grpc-go's server does: the headers go out at once, so that the client can read them
  // before the first message (or the error).
  if (send_headers_now) ctx.SendInitialMetadata();
}

void SleepMs(uint32_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Unary and client streaming: the payload (or the error) the definition asks for.
Status UnaryResult(ServerContext& ctx, const v1::UnaryResponseDefinition* def,
                   const std::vector<Any>& requests, v1::ConformancePayload* payload) {
  v1::ConformancePayload::RequestInfo info = RequestInfo(ctx, requests);
  if (def != nullptr && def->has_error()) {
    v1::Error error = def->error();
    *error.add_details() = AsAny(info);
    return ErrorStatus(ctx, error);
  }
  *payload->mutable_request_info() = std::move(info);
  if (def != nullptr) payload->set_data(def->response_data());
  return Status::Ok();
}

// Server and bidi streams end with the definition's error, if any; the request info goes into
// its details when no response carried it.
Status StreamEnd(ServerContext& ctx, const v1::StreamResponseDefinition* def, int sent,
                 const std::vector<Any>& requests) {
  if (def == nullptr || !def->has_error()) return Status::Ok();
  v1::Error error = def->error();
  if (sent == 0) *error.add_details() = AsAny(RequestInfo(ctx, requests));
  return ErrorStatus(ctx, error);
}

class ConformanceServiceImpl : public v1::ConformanceServiceService {
 public:
  Status Unary(ServerContext& ctx, const v1::UnaryRequest& req, v1::UnaryResponse* resp) override {
    const v1::UnaryResponseDefinition* def =
        req.has_response_definition() ? &req.response_definition() : nullptr;
    if (def != nullptr) {
      SetMetadata(ctx, *def, true);
      SleepMs(def->response_delay_ms());
    }
    return UnaryResult(ctx, def, {AsAny(req)}, resp->mutable_payload());
  }

  Status ClientStream(ServerContext& ctx, polyrpc::ServerReader<v1::ClientStreamRequest>* reader,
                      v1::ClientStreamResponse* resp) override {
    std::vector<Any> requests;
    v1::ClientStreamRequest req;
    v1::UnaryResponseDefinition def;
    bool has_def = false;
    while (reader->Read(&req)) {
      if (requests.empty() && req.has_response_definition()) {
        def = req.response_definition();
        has_def = true;
      }
      requests.push_back(AsAny(req));
    }
    if (ctx.IsCancelled()) return Status(StatusCode::CANCELLED, "call cancelled");
    if (has_def) {
      SetMetadata(ctx, def, true);
      SleepMs(def.response_delay_ms());
    }
    return UnaryResult(ctx, has_def ? &def : nullptr, requests, resp->mutable_payload());
  }

  Status ServerStream(ServerContext& ctx, const v1::ServerStreamRequest& req,
                      polyrpc::ServerWriter<v1::ServerStreamResponse>* writer) override {
    if (!req.has_response_definition()) return Status::Ok();
    const v1::StreamResponseDefinition& def = req.response_definition();
    std::vector<Any> requests = {AsAny(req)};
    SetMetadata(ctx, def, true);
    int sent = 0;
    for (const auto& data : def.response_data()) {
      v1::ServerStreamResponse resp;
      resp.mutable_payload()->set_data(data);
      if (sent == 0) *resp.mutable_payload()->mutable_request_info() = RequestInfo(ctx, requests);
      SleepMs(def.response_delay_ms());
      if (!writer->Write(resp)) return Status(StatusCode::INTERNAL, "error sending on stream");
      ++sent;
    }
    return StreamEnd(ctx, &def, sent, requests);
  }

  Status BidiStream(ServerContext& ctx,
                    polyrpc::ServerReaderWriter<v1::BidiStreamResponse, v1::BidiStreamRequest>*
                        stream) override {
    std::vector<Any> requests;  // since the last response (full duplex), or all (half duplex)
    v1::StreamResponseDefinition def;
    bool has_def = false, full_duplex = false, first = true;
    int sent = 0;
    v1::BidiStreamRequest req;
    while (stream->Read(&req)) {
      requests.push_back(AsAny(req));
      if (first) {
        first = false;
        full_duplex = req.full_duplex();
        if (req.has_response_definition()) {
          def = req.response_definition();
          has_def = true;
          // Half duplex: the headers wait for the end of the upload.
          SetMetadata(ctx, def, full_duplex);
        }
      }
      if (!full_duplex) continue;
      if (!has_def || sent >= def.response_data_size()) break;  // nothing left: end with the error
      v1::BidiStreamResponse resp;
      resp.mutable_payload()->set_data(def.response_data(sent));
      if (sent == 0) {
        *resp.mutable_payload()->mutable_request_info() = RequestInfo(ctx, requests);
      } else {
        for (const auto& r : requests) *resp.mutable_payload()->mutable_request_info()->add_requests() = r;
      }
      SleepMs(def.response_delay_ms());
      if (!stream->Write(resp)) return Status(StatusCode::INTERNAL, "error sending on stream");
      ++sent;
      requests.clear();
    }
    if (ctx.IsCancelled()) return Status(StatusCode::CANCELLED, "call cancelled");
    if (!has_def) return Status::Ok();
    // What is left: every response of a half-duplex stream, or those a full-duplex one had more
    // of than requests.
    for (; sent < def.response_data_size(); ++sent) {
      if (ctx.IsCancelled()) return Status(StatusCode::CANCELLED, "call cancelled");
      v1::BidiStreamResponse resp;
      resp.mutable_payload()->set_data(def.response_data(sent));
      if (sent == 0) *resp.mutable_payload()->mutable_request_info() = RequestInfo(ctx, requests);
      SleepMs(def.response_delay_ms());
      if (!stream->Write(resp)) return Status(StatusCode::INTERNAL, "error sending on stream");
    }
    return StreamEnd(ctx, &def, sent, requests);
  }
  // Unimplemented and IdempotentUnary (a Connect GET method) stay unimplemented: the generated
  // defaults answer UNIMPLEMENTED.
};

}  // namespace

int main(int argc, char** argv) {
  std::string bind = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--bind=", 7) == 0) {
      bind = argv[i] + 7;
    } else if (std::strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
      bind = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--bind=ADDRESS]\n", argv[0]);
      return 2;
    }
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string bytes;
  v1::ServerCompatRequest req;
  if (!polyrpc::connect::ReadDelimited(stdin, &bytes) || !req.ParseFromString(bytes)) {
    std::fprintf(stderr, "polyrpc_connect_server: no ServerCompatRequest on stdin\n");
    return 1;
  }
  if (req.protocol() != v1::PROTOCOL_GRPC || req.http_version() != v1::HTTP_VERSION_2) {
    std::fprintf(stderr, "polyrpc_connect_server: only gRPC over HTTP/2 (asked %s, %s)\n",
                 v1::Protocol_Name(req.protocol()).c_str(),
                 v1::HTTPVersion_Name(req.http_version()).c_str());
    return 1;
  }

  std::shared_ptr<polyrpc::ServerCredentials> creds = polyrpc::ServerCredentials::Insecure();
  if (req.use_tls()) {
    creds = polyrpc::ServerCredentials::Tls(req.server_creds().cert(), req.server_creds().key(),
                                            req.client_tls_cert(), !req.client_tls_cert().empty());
  }
  polyrpc::Options options;
  if (req.message_receive_limit() > 0) {
    options.Set("grpc.max_receive_message_length", int64_t{req.message_receive_limit()});
  }

  polyrpc::ThreadPool pool(256);
  ConformanceServiceImpl service;
  std::unique_ptr<polyrpc::Server> server = polyrpc::Server::Create(options);
  std::string error;
  std::string address = bind.find(':') != std::string::npos ? "[" + bind + "]:0" : bind + ":0";
  int port = server->AddListener(address, creds, &error);
  if (port <= 0) {
    std::fprintf(stderr, "polyrpc_connect_server: cannot listen on %s: %s\n", address.c_str(),
                 error.c_str());
    return 1;
  }
  service.Register(*server, pool);
  if (!server->Start(&error)) {
    std::fprintf(stderr, "polyrpc_connect_server: start failed: %s\n", error.c_str());
    return 1;
  }

  v1::ServerCompatResponse resp;
  // A wildcard bind is reached on loopback.
  resp.set_host(bind == "0.0.0.0" ? "127.0.0.1" : bind == "::" ? "::1" : bind);
  resp.set_port(static_cast<uint32_t>(port));
  if (req.use_tls()) resp.set_pem_cert(req.server_creds().cert());
  if (!polyrpc::connect::WriteDelimited(stdout, resp.SerializeAsString())) return 1;
  std::fprintf(stderr, "polyrpc_connect_server: listening on %s:%d (tls=%d, client certs=%d)\n",
               resp.host().c_str(), port, req.use_tls(), !req.client_tls_cert().empty());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  server->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(1)));
  pool.Shutdown();
  return 0;
}
