// polyrpc_connect_client: the connectrpc conformance suite's client under test for the polyrpc
// C++ API. Reads length-prefixed connectrpc.conformance.v1.ClientCompatRequest messages on stdin
// until its end, makes each RPC on a channel of its own (TLS, client certificate, compression
// and receive limit as the request says) through the stubs protoc-gen-polyrpc generates (the
// typed calls of polyrpc++/proto.hpp), and writes one ClientCompatResponse per request to stdout, in the order the
// RPCs finish. Up to --parallel RPCs run at once. The steps of each stream type, cancellations
// included, follow the suite's docs/testing_clients.md; error details come from
// grpc-status-details-bin.
//
// Usage: polyrpc_connect_client [--parallel=N]   (default 32)
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connect_common.h"
#include "connectrpc/conformance/v1/client_compat.pb.h"
#include "connectrpc/conformance/v1/service.polyrpc.h"

namespace {

namespace v1 = polyrpc::connect::v1;
using polyrpc::ClientCall;
using polyrpc::Status;

std::mutex g_out_mu;

// Cancels the call after a delay, on a thread of its own, unless the RPC is over first.
class DelayedCancel {
 public:
  DelayedCancel(ClientCall& call, uint32_t ms)
      : thread_([this, &call, ms] {
          std::unique_lock<std::mutex> lock(mu_);
          if (!cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return done_; })) {
            call.Cancel();
          }
        }) {}
  ~DelayedCancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

void SleepMs(uint32_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

template <class Resp>
void AddPayload(const Resp& resp, v1::ClientResponseResult* result) {
  *result->add_payloads() = resp.payload();
}
// Unimplemented's response has no payload (it never succeeds anyway).
void AddPayload(const v1::UnimplementedResponse&, v1::ClientResponseResult* result) {
  result->add_payloads();
}

// The RPC's outcome as the suite records it: headers, trailers, and the error with its details.
void Finish(const polyrpc::Metadata& headers, const polyrpc::Metadata& trailers,
            const Status& status, v1::ClientResponseResult* result) {
  polyrpc::connect::AddHeaders(headers, result->mutable_response_headers());
  polyrpc::connect::AddHeaders(trailers, result->mutable_response_trailers(),
                               polyrpc::connect::kStatusDetailsKey);
  if (status.ok()) return;
  v1::Error* error = result->mutable_error();
  error->set_code(static_cast<v1::Code>(status.code()));
  error->set_message(status.message());
  const std::string* details = polyrpc::FindMetadata(trailers, polyrpc::connect::kStatusDetailsKey);
  polyrpc::connect::RpcStatus parsed;
  if (details != nullptr && parsed.ParseFromString(*details)) {
    for (const auto& d : parsed.details()) *error->add_details() = d;
  }
}

// Cancels after after_num_responses responses, if the request asks for it.
void CountResponse(const v1::ClientCompatRequest& req, int* received, ClientCall& call) {
  ++*received;
  if (req.cancel().has_after_num_responses() &&
      *received == static_cast<int>(req.cancel().after_num_responses())) {
    call.Cancel();
  }
}

// Unary and Unimplemented, through the generated callback stub, so that the RPC can be
// cancelled while it is in flight.
template <class Req, class Resp, class Start>
void DoUnary(const v1::ClientCompatRequest& req, Start start, v1::ClientResponseResult* result) {
  Req message;
  req.request_messages(0).UnpackTo(&message);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  Resp response;
  std::shared_ptr<ClientCall> call = start(message, [&](Status st, Resp resp) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(st);
    response = std::move(resp);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_ptr<DelayedCancel> canceller;
    if (req.cancel().has_after_close_send_ms()) {
      canceller = std::make_unique<DelayedCancel>(*call, req.cancel().after_close_send_ms());
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  if (status.ok()) AddPayload(response, result);
  Finish(call->initial_metadata(), call->trailing_metadata(), status, result);
}

void DoClientStream(v1::ConformanceServiceClient& stub, const polyrpc::CallOptions& options,
                    const v1::ClientCompatRequest& req, v1::ClientResponseResult* result) {
  v1::ClientStreamResponse response;
  auto writer = stub.ClientStream(&response, options);
  for (int i = 0; i < req.request_messages_size(); ++i) {
    v1::ClientStreamRequest message;
    req.request_messages(i).UnpackTo(&message);
    SleepMs(req.request_delay_ms());
    if (!writer->Write(message)) {
      result->set_num_unsent_requests(req.request_messages_size() - i);
      break;
    }
  }
  if (req.cancel().has_before_close_send()) writer->Cancel();
  Status status;
  {
    std::unique_ptr<DelayedCancel> canceller;
    if (req.cancel().has_after_close_send_ms()) {
      canceller =
          std::make_unique<DelayedCancel>(writer->call(), req.cancel().after_close_send_ms());
    }
    status = writer->Finish();
  }
  if (status.ok()) AddPayload(response, result);
  Finish(writer->initial_metadata(), writer->trailing_metadata(), status, result);
}

void DoServerStream(v1::ConformanceServiceClient& stub, const polyrpc::CallOptions& options,
                    const v1::ClientCompatRequest& req, v1::ClientResponseResult* result) {
  v1::ServerStreamRequest message;
  req.request_messages(0).UnpackTo(&message);
  auto reader = stub.ServerStream(message, options);
  if (req.cancel().has_after_close_send_ms()) {
    SleepMs(req.cancel().after_close_send_ms());
    reader->Cancel();
  }
  int received = 0;
  v1::ServerStreamResponse response;
  while (reader->Read(&response)) {
    AddPayload(response, result);
    CountResponse(req, &received, reader->call());
  }
  Status status = reader->Finish();
  Finish(reader->initial_metadata(), reader->trailing_metadata(), status, result);
}

void DoBidiStream(v1::ConformanceServiceClient& stub, const polyrpc::CallOptions& options,
                  const v1::ClientCompatRequest& req, v1::ClientResponseResult* result) {
  bool full_duplex = req.stream_type() == v1::STREAM_TYPE_FULL_DUPLEX_BIDI_STREAM;
  auto stream = stub.BidiStream(options);
  int received = 0;
  bool broken = false;
  v1::BidiStreamResponse response;
  for (int i = 0; i < req.request_messages_size() && !broken; ++i) {
    v1::BidiStreamRequest message;
    req.request_messages(i).UnpackTo(&message);
    SleepMs(req.request_delay_ms());
    if (!stream->Write(message)) {
      result->set_num_unsent_requests(req.request_messages_size() - i);
      broken = true;
    } else if (full_duplex) {
      if (stream->Read(&response)) {
        AddPayload(response, result);
        CountResponse(req, &received, stream->call());
      } else {
        result->set_num_unsent_requests(req.request_messages_size() - i - 1);
        broken = true;
      }
    }
  }
  if (!broken) {
    if (req.cancel().has_before_close_send()) stream->Cancel();
    stream->WritesDone();
    if (req.cancel().has_after_close_send_ms()) {
      SleepMs(req.cancel().after_close_send_ms());
      stream->Cancel();
    }
    while (stream->Read(&response)) {
      AddPayload(response, result);
      CountResponse(req, &received, stream->call());
    }
  }
  Status status = stream->Finish();
  Finish(stream->initial_metadata(), stream->trailing_metadata(), status, result);
}

std::shared_ptr<polyrpc::Channel> MakeChannel(const v1::ClientCompatRequest& req,
                                              std::string* error) {
  std::shared_ptr<polyrpc::ChannelCredentials> creds = polyrpc::ChannelCredentials::Insecure();
  if (!req.server_tls_cert().empty()) {
    creds = polyrpc::ChannelCredentials::Tls(req.server_tls_cert(), req.client_tls_creds().cert(),
                                             req.client_tls_creds().key());
  }
  polyrpc::Options options;
  if (req.message_receive_limit() > 0) {
    options.Set("grpc.max_receive_message_length", int64_t{req.message_receive_limit()});
  }
  std::string host = req.host();
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return polyrpc::Channel::Create(host + ":" + std::to_string(req.port()), creds, options, error);
}

v1::ClientCompatResponse Invoke(const v1::ClientCompatRequest& req) {
  v1::ClientCompatResponse resp;
  resp.set_test_name(req.test_name());
  auto fail = [&resp](const std::string& why) {
    resp.mutable_error()->set_message(why);
    return resp;
  };
  if (req.protocol() != v1::PROTOCOL_GRPC) return fail("only the gRPC protocol is supported");
  if (req.service() != polyrpc::connect::kServiceName) return fail("unknown service " + req.service());
  if (req.compression() != v1::COMPRESSION_IDENTITY && req.compression() != v1::COMPRESSION_GZIP &&
      req.compression() != v1::COMPRESSION_UNSPECIFIED) {
    return fail("unsupported compression " + v1::Compression_Name(req.compression()));
  }
  const std::string& method = req.method();
  bool unary = method == "Unary" || method == "Unimplemented";
  if (!unary && method != "ClientStream" && method != "ServerStream" && method != "BidiStream") {
    return fail("unsupported method " + method);
  }
  if ((unary || method == "ServerStream") && req.request_messages_size() != 1) {
    return fail(method + " takes exactly one request message");
  }

  std::string error;
  std::shared_ptr<polyrpc::Channel> channel = MakeChannel(req, &error);
  if (!channel) return fail("cannot create the channel: " + error);
  polyrpc::CallOptions options;
  options.metadata = polyrpc::connect::ToMetadata(req.request_headers());
  if (req.has_timeout_ms()) {
    options.deadline = polyrpc::DeadlineAfter(std::chrono::milliseconds(req.timeout_ms()));
  }
  if (req.compression() == v1::COMPRESSION_GZIP) options.compression = "gzip";
  v1::ConformanceServiceClient stub(channel);

  v1::ClientResponseResult* result = resp.mutable_response();
  if (method == "Unary") {
    DoUnary<v1::UnaryRequest, v1::UnaryResponse>(
        req, [&](const auto& m, auto done) { return stub.UnaryAsync(m, std::move(done), options); },
        result);
  } else if (method == "Unimplemented") {
    DoUnary<v1::UnimplementedRequest, v1::UnimplementedResponse>(
        req,
        [&](const auto& m, auto done) { return stub.UnimplementedAsync(m, std::move(done), options); },
        result);
  } else if (method == "ClientStream") {
    DoClientStream(stub, options, req, result);
  } else if (method == "ServerStream") {
    DoServerStream(stub, options, req, result);
  } else {
    DoBidiStream(stub, options, req, result);
  }
  channel->Close();
  return resp;
}

}  // namespace

int main(int argc, char** argv) {
  int parallel = 32;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--parallel=", 11) == 0 && std::atoi(argv[i] + 11) > 0) {
      parallel = std::atoi(argv[i] + 11);
    } else {
      std::fprintf(stderr, "usage: %s [--parallel=N]\n", argv[0]);
      return 2;
    }
  }

  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  std::vector<std::thread> threads;
  std::string bytes;
  while (polyrpc::connect::ReadDelimited(stdin, &bytes)) {
    auto req = std::make_shared<v1::ClientCompatRequest>();
    if (!req->ParseFromString(bytes)) {
      std::fprintf(stderr, "polyrpc_connect_client: bad ClientCompatRequest on stdin\n");
      return 1;
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return running < parallel; });
      ++running;
    }
    threads.emplace_back([req, &mu, &cv, &running] {
      v1::ClientCompatResponse resp = Invoke(*req);
      {
        std::lock_guard<std::mutex> lock(g_out_mu);
        polyrpc::connect::WriteDelimited(stdout, resp.SerializeAsString());
      }
      std::lock_guard<std::mutex> lock(mu);
      --running;
      cv.notify_all();
    });
  }
  for (auto& t : threads) t.join();
  return 0;
}
