// polyrpc_interop_client: runs one conformance case (conformance/cases.json) against an interop
// server, through the stubs protoc-gen-polyrpc generates. The 18 'grpc' cases follow gRPC's
// interop-test-descriptions.md; the 'polyrpc' cases follow their descriptions in cases.json.
//
// Usage: polyrpc_interop_client --server_port=N --test_case=NAME [--server_host=localhost]
//          [--server_host_override=NAME] [--use_tls=true] [--use_test_ca=true] [--cert_dir=DIR]
// Exit status: 0 pass, 1 fail (one line on stderr says why), 2 unsupported case or bad usage.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
using grpc::testing::TestServiceClient;
using polyrpc::CallOptions;
using polyrpc::Status;
using polyrpc::StatusCode;
using Ms = std::chrono::milliseconds;

constexpr char kUnaryCallPath[] = "/grpc.testing.TestService/UnaryCall";

// A failed check: the case stops and the client exits 1 with this reason.
struct Failure {
  std::string reason;
};

void Check(bool condition, const std::string& what) {
  if (!condition) throw Failure{what};
}
void CheckCode(const Status& st, StatusCode want, const std::string& what) {
  if (st.code() != want) {
    throw Failure{what + ": expected " + polyrpc::StatusCodeName(want) + ", got " + st.ToString()};
  }
}
void CheckOk(const Status& st, const std::string& what) { CheckCode(st, StatusCode::OK, what); }

std::string Zeros(size_t n) { return std::string(n, '\0'); }
bool AllZero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

SimpleRequest MakeSimpleRequest(int response_size, int payload_size) {
  SimpleRequest req;
  req.set_response_type(grpc::testing::COMPRESSABLE);
  req.set_response_size(response_size);
  req.mutable_payload()->set_body(Zeros(static_cast<size_t>(payload_size)));
  return req;
}

StreamingOutputCallRequest MakeStreamingRequest(int response_size, int payload_size) {
  StreamingOutputCallRequest req;
  req.set_response_type(grpc::testing::COMPRESSABLE);
  req.add_response_parameters()->set_size(response_size);
  if (payload_size > 0) req.mutable_payload()->set_body(Zeros(static_cast<size_t>(payload_size)));
  return req;
}

void CheckPayload(const grpc::testing::Payload& p, size_t size, const std::string& what) {
  Check(p.body().size() == size, what + ": payload of " + std::to_string(p.body().size()) +
                                     " bytes, expected " + std::to_string(size));
  Check(AllZero(p.body()), what + ": payload is not all zero bytes");
}

std::string MetadataValue(const polyrpc::Metadata& md, const std::string& key) {
  const std::string* v = polyrpc::FindMetadata(md, key);
  return v ? *v : std::string("<missing>");
}

class InteropClient {
 public:
  InteropClient(std::function<std::shared_ptr<polyrpc::Channel>(const polyrpc::Options&)> connect)
      : connect_(std::move(connect)), channel_(connect_(polyrpc::Options())), stub_(channel_) {}

  bool Run(const std::string& test_case) {
    static const std::map<std::string, void (InteropClient::*)()> cases = {
        {"empty_unary", &InteropClient::EmptyUnary},
        {"large_unary", &InteropClient::LargeUnary},
        {"client_compressed_unary", &InteropClient::ClientCompressedUnary},
        {"server_compressed_unary", &InteropClient::ServerCompressedUnary},
        {"client_streaming", &InteropClient::ClientStreaming},
        {"client_compressed_streaming", &InteropClient::ClientCompressedStreaming},
        {"server_streaming", &InteropClient::ServerStreaming},
        {"server_compressed_streaming", &InteropClient::ServerCompressedStreaming},
        {"ping_pong", &InteropClient::PingPong},
        {"empty_stream", &InteropClient::EmptyStream},
        {"cancel_after_begin", &InteropClient::CancelAfterBegin},
        {"cancel_after_first_response", &InteropClient::CancelAfterFirstResponse},
        {"timeout_on_sleeping_server", &InteropClient::TimeoutOnSleepingServer},
        {"custom_metadata", &InteropClient::CustomMetadata},
        {"status_code_and_message", &InteropClient::StatusCodeAndMessage},
        {"special_status_message", &InteropClient::SpecialStatusMessage},
        {"unimplemented_method", &InteropClient::UnimplementedMethod},
        {"unimplemented_service", &InteropClient::UnimplementedService},
        {"metadata_binary_unicode", &InteropClient::MetadataBinaryUnicode},
        {"large_message_4mib", &InteropClient::LargeMessage4Mib},
        {"concurrent_streams", &InteropClient::ConcurrentStreams},
        {"deadline_propagation", &InteropClient::DeadlinePropagation},
        {"max_message_size", &InteropClient::MaxMessageSize},
        {"compression_unsupported", &InteropClient::CompressionUnsupported},
        {"cancel_mid_bidi", &InteropClient::CancelMidBidi},
        {"server_closes_connection", &InteropClient::ServerClosesConnection},
    };
    auto it = cases.find(test_case);
    if (it == cases.end()) return false;
    (this->*(it->second))();
    return true;
  }

 private:
  // --- gRPC's cases ----------------------------------------------------------------------------

  void EmptyUnary() {
    Empty req, resp;
    CheckOk(stub_.EmptyCall(req, &resp), "EmptyCall");
    Check(resp.ByteSizeLong() == 0, "EmptyCall: response is not empty");
  }

  void LargeUnary() {
    SimpleResponse resp;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(314159, 271828), &resp), "UnaryCall");
    CheckPayload(resp.payload(), 314159, "UnaryCall");
  }

  void ClientCompressedUnary() {
    // Probe: a server that supports the feature rejects an uncompressed message that claims to
    // be compressed.
    SimpleRequest req = MakeSimpleRequest(314159, 271828);
    req.mutable_expect_compressed()->set_value(true);
    SimpleResponse resp;
    CheckCode(stub_.UnaryCall(req, &resp), StatusCode::INVALID_ARGUMENT,
              "UnaryCall (probe: expect_compressed, sent uncompressed)");
    CallOptions gzip;
    gzip.compression = "gzip";
    CheckOk(stub_.UnaryCall(req, &resp, gzip), "UnaryCall (compressed)");
    CheckPayload(resp.payload(), 314159, "UnaryCall (compressed)");
    req.mutable_expect_compressed()->set_value(false);
    CheckOk(stub_.UnaryCall(req, &resp), "UnaryCall (uncompressed)");
    CheckPayload(resp.payload(), 314159, "UnaryCall (uncompressed)");
  }

  void ServerCompressedUnary() {
    for (bool compressed : {true, false}) {
      std::string what = compressed ? "UnaryCall (response_compressed)"
                                    : "UnaryCall (response uncompressed)";
      SimpleRequest req = MakeSimpleRequest(314159, 271828);
      req.mutable_response_compressed()->set_value(compressed);
      // The stub's unary method hides the message flags; a reader on the same path (identical
      // on the wire) shows whether the response arrived compressed.
      polyrpc::ClientReader<SimpleResponse> call(*channel_, kUnaryCallPath, req);
      SimpleResponse resp;
      bool was_compressed = false;
      bool got = call.Read(&resp, &was_compressed);
      CheckOk(call.Finish(), what);
      Check(got, what + ": no response");
      CheckPayload(resp.payload(), 314159, what);
      Check(was_compressed == compressed,
            what + (compressed ? ": response was not compressed" : ": response was compressed"));
    }
  }

  void ClientStreaming() {
    StreamingInputCallResponse resp;
    auto writer = stub_.StreamingInputCall(&resp);
    for (int size : {27182, 8, 1828, 45904}) {
      StreamingInputCallRequest req;
      req.mutable_payload()->set_body(Zeros(static_cast<size_t>(size)));
      Check(writer->Write(req), "StreamingInputCall: Write failed");
    }
    CheckOk(writer->Finish(), "StreamingInputCall");
    Check(resp.aggregated_payload_size() == 74922,
          "aggregated_payload_size " + std::to_string(resp.aggregated_payload_size()));
  }

  void ClientCompressedStreaming() {
    {
      StreamingInputCallResponse resp;
      auto writer = stub_.StreamingInputCall(&resp);
      StreamingInputCallRequest req;
      req.mutable_expect_compressed()->set_value(true);
      req.mutable_payload()->set_body(Zeros(27182));
      writer->Write(req);  // may fail once the server has rejected the call
      CheckCode(writer->Finish(), StatusCode::INVALID_ARGUMENT,
                "StreamingInputCall (probe: expect_compressed, sent uncompressed)");
    }
    CallOptions gzip;
    gzip.compression = "gzip";
    StreamingInputCallResponse resp;
    auto writer = stub_.StreamingInputCall(&resp, gzip);
    StreamingInputCallRequest req;
    req.mutable_expect_compressed()->set_value(true);
    req.mutable_payload()->set_body(Zeros(27182));
    Check(writer->Write(req), "StreamingInputCall: first Write failed");
    req.mutable_expect_compressed()->set_value(false);
    req.mutable_payload()->set_body(Zeros(45904));
    Check(writer->Write(req, polyrpc::kWriteNoCompress), "StreamingInputCall: second Write failed");
    CheckOk(writer->Finish(), "StreamingInputCall (compressed)");
    Check(resp.aggregated_payload_size() == 73086,
          "aggregated_payload_size " + std::to_string(resp.aggregated_payload_size()));
  }

  void ServerStreaming() {
    const std::vector<int> sizes = {31415, 9, 2653, 58979};
    StreamingOutputCallRequest req;
    req.set_response_type(grpc::testing::COMPRESSABLE);
    for (int s : sizes) req.add_response_parameters()->set_size(s);
    auto reader = stub_.StreamingOutputCall(req);
    StreamingOutputCallResponse resp;
    size_t n = 0;
    while (reader->Read(&resp)) {
      Check(n < sizes.size(), "StreamingOutputCall: more responses than asked for");
      CheckPayload(resp.payload(), static_cast<size_t>(sizes[n]), "response " + std::to_string(n));
      ++n;
    }
    CheckOk(reader->Finish(), "StreamingOutputCall");
    Check(n == sizes.size(), "StreamingOutputCall: " + std::to_string(n) + " responses");
  }

  void ServerCompressedStreaming() {
    StreamingOutputCallRequest req;
    req.set_response_type(grpc::testing::COMPRESSABLE);
    auto* p1 = req.add_response_parameters();
    p1->mutable_compressed()->set_value(true);
    p1->set_size(31415);
    auto* p2 = req.add_response_parameters();
    p2->mutable_compressed()->set_value(false);
    p2->set_size(92653);
    auto reader = stub_.StreamingOutputCall(req);
    StreamingOutputCallResponse resp;
    bool compressed = false;
    Check(reader->Read(&resp, &compressed), "StreamingOutputCall: no first response");
    CheckPayload(resp.payload(), 31415, "first response");
    Check(compressed, "first response was not compressed");
    Check(reader->Read(&resp, &compressed), "StreamingOutputCall: no second response");
    CheckPayload(resp.payload(), 92653, "second response");
    Check(!compressed, "second response was compressed");
    Check(!reader->Read(&resp), "StreamingOutputCall: more than 2 responses");
    CheckOk(reader->Finish(), "StreamingOutputCall");
  }

  void PingPong() {
    const int response_sizes[] = {31415, 9, 2653, 58979};
    const int payload_sizes[] = {27182, 8, 1828, 45904};
    auto stream = stub_.FullDuplexCall();
    for (int i = 0; i < 4; ++i) {
      Check(stream->Write(MakeStreamingRequest(response_sizes[i], payload_sizes[i])),
            "FullDuplexCall: Write " + std::to_string(i) + " failed");
      StreamingOutputCallResponse resp;
      Check(stream->Read(&resp), "FullDuplexCall: no response " + std::to_string(i));
      CheckPayload(resp.payload(), static_cast<size_t>(response_sizes[i]),
                   "response " + std::to_string(i));
    }
    Check(stream->WritesDone(), "FullDuplexCall: WritesDone failed");
    StreamingOutputCallResponse extra;
    Check(!stream->Read(&extra), "FullDuplexCall: unexpected extra response");
    CheckOk(stream->Finish(), "FullDuplexCall");
  }

  void EmptyStream() {
    auto stream = stub_.FullDuplexCall();
    Check(stream->WritesDone(), "FullDuplexCall: WritesDone failed");
    StreamingOutputCallResponse resp;
    Check(!stream->Read(&resp), "FullDuplexCall: unexpected response");
    CheckOk(stream->Finish(), "FullDuplexCall");
  }

  void CancelAfterBegin() {
    StreamingInputCallResponse resp;
    auto writer = stub_.StreamingInputCall(&resp);
    writer->Cancel();
    CheckCode(writer->Finish(), StatusCode::CANCELLED, "StreamingInputCall after Cancel");
  }

  void CancelAfterFirstResponse() {
    auto stream = stub_.FullDuplexCall();
    Check(stream->Write(MakeStreamingRequest(31415, 27182)), "FullDuplexCall: Write failed");
    StreamingOutputCallResponse resp;
    Check(stream->Read(&resp), "FullDuplexCall: no first response");
    CheckPayload(resp.payload(), 31415, "first response");
    stream->Cancel();
    CheckCode(stream->Finish(), StatusCode::CANCELLED, "FullDuplexCall after Cancel");
  }

  void TimeoutOnSleepingServer() {
    CallOptions options;
    options.deadline = polyrpc::DeadlineAfter(Ms(1));
    auto stream = stub_.FullDuplexCall(options);
    stream->Write(MakeStreamingRequest(0, 27182));  // may fail: the deadline may be over already
    CheckCode(stream->Finish(), StatusCode::DEADLINE_EXCEEDED, "FullDuplexCall with 1 ms deadline");
  }

  void CustomMetadata() {
    const std::string initial_value = "test_initial_metadata_value";
    const std::string trailing_value = "\xab\xab\xab";
    CallOptions options;
    options.metadata = {{"x-grpc-test-echo-initial", initial_value},
                        {"x-grpc-test-echo-trailing-bin", trailing_value}};
    auto check = [&](const polyrpc::Metadata& initial, const polyrpc::Metadata& trailing,
                     const std::string& what) {
      Check(MetadataValue(initial, "x-grpc-test-echo-initial") == initial_value,
            what + ": initial metadata not echoed");
      Check(MetadataValue(trailing, "x-grpc-test-echo-trailing-bin") == trailing_value,
            what + ": trailing metadata not echoed");
    };
    SimpleResponse resp;
    polyrpc::Metadata initial, trailing;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(314159, 271828), &resp, options, &initial, &trailing),
            "UnaryCall");
    CheckPayload(resp.payload(), 314159, "UnaryCall");
    check(initial, trailing, "UnaryCall");

    auto stream = stub_.FullDuplexCall(options);
    Check(stream->Write(MakeStreamingRequest(314159, 271828)), "FullDuplexCall: Write failed");
    StreamingOutputCallResponse sresp;
    Check(stream->Read(&sresp), "FullDuplexCall: no response");
    CheckPayload(sresp.payload(), 314159, "FullDuplexCall");
    Check(stream->WritesDone(), "FullDuplexCall: WritesDone failed");
    Check(!stream->Read(&sresp), "FullDuplexCall: unexpected extra response");
    CheckOk(stream->Finish(), "FullDuplexCall");
    check(stream->initial_metadata(), stream->trailing_metadata(), "FullDuplexCall");
  }

  void CheckEchoedStatus(const std::string& message) {
    SimpleRequest req;
    req.mutable_response_status()->set_code(2);
    req.mutable_response_status()->set_message(message);
    SimpleResponse resp;
    Status st = stub_.UnaryCall(req, &resp);
    CheckCode(st, StatusCode::UNKNOWN, "UnaryCall with response_status");
    Check(st.message() == message, "UnaryCall: status message '" + st.message() + "'");
  }

  void StatusCodeAndMessage() {
    const std::string message = "test status message";
    CheckEchoedStatus(message);
    auto stream = stub_.FullDuplexCall();
    StreamingOutputCallRequest req;
    req.mutable_response_status()->set_code(2);
    req.mutable_response_status()->set_message(message);
    Check(stream->Write(req), "FullDuplexCall: Write failed");
    stream->WritesDone();
    StreamingOutputCallResponse resp;
    Check(!stream->Read(&resp), "FullDuplexCall: unexpected response");
    Status st = stream->Finish();
    CheckCode(st, StatusCode::UNKNOWN, "FullDuplexCall with response_status");
    Check(st.message() == message, "FullDuplexCall: status message '" + st.message() + "'");
  }

  void SpecialStatusMessage() {
    CheckEchoedStatus("\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP "
                      "\xf0\x9f\x98\x88\t\n");
  }

  void UnimplementedMethod() {
    Empty req, resp;
    CheckCode(stub_.UnimplementedCall(req, &resp), StatusCode::UNIMPLEMENTED,
              "TestService.UnimplementedCall");
  }

  void UnimplementedService() {
    grpc::testing::UnimplementedServiceClient stub(channel_);
    Empty req, resp;
    CheckCode(stub.UnimplementedCall(req, &resp), StatusCode::UNIMPLEMENTED,
              "UnimplementedService.UnimplementedCall");
  }

  // --- polyrpc's cases -------------------------------------------------------------------------

  void MetadataBinaryUnicode() {
    const std::string initial_value = "polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}";
    std::string trailing_value;
    for (int i = 0; i < 256; ++i) trailing_value += static_cast<char>(i);
    trailing_value += "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                      "\xf0\x9f\x9a\x80";
    CallOptions options;
    options.metadata = {{"x-grpc-test-echo-initial", initial_value},
                        {"x-grpc-test-echo-trailing-bin", trailing_value}};
    auto check = [&](const polyrpc::Metadata& initial, const polyrpc::Metadata& trailing,
                     const std::string& what) {
      Check(MetadataValue(initial, "x-grpc-test-echo-initial") == initial_value,
            what + ": initial metadata differs: '" +
                MetadataValue(initial, "x-grpc-test-echo-initial") + "'");
      Check(MetadataValue(trailing, "x-grpc-test-echo-trailing-bin") == trailing_value,
            what + ": trailing binary metadata differs");
    };
    SimpleResponse resp;
    polyrpc::Metadata initial, trailing;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(1, 1), &resp, options, &initial, &trailing),
            "UnaryCall");
    check(initial, trailing, "UnaryCall");

    auto stream = stub_.FullDuplexCall(options);
    Check(stream->Write(MakeStreamingRequest(1, 0)), "FullDuplexCall: Write failed");
    stream->WritesDone();
    StreamingOutputCallResponse sresp;
    while (stream->Read(&sresp)) {
    }
    CheckOk(stream->Finish(), "FullDuplexCall");
    check(stream->initial_metadata(), stream->trailing_metadata(), "FullDuplexCall");
  }

  void LargeMessage4Mib() {
    const int size = 4194240;
    SimpleResponse resp;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(size, size), &resp), "UnaryCall (4 MiB - 64)");
    CheckPayload(resp.payload(), size, "UnaryCall (4 MiB - 64)");
  }

  void ConcurrentStreams() {
    constexpr int kUnary = 100, kStreams = 8;
    // Every call has a deadline, so that a call that never ends fails the case with a message
    // saying which one, instead of hanging the client.
    CallOptions options;
    options.deadline = polyrpc::DeadlineAfter(std::chrono::seconds(15));
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    std::vector<std::string> errors;
    auto fail = [&](const std::string& e) {
      std::lock_guard<std::mutex> lock(mu);
      errors.push_back(e);
    };
    for (int i = 0; i < kUnary; ++i) {
      stub_.UnaryCallAsync(MakeSimpleRequest(i + 1, 1), [&, i](Status st, SimpleResponse resp) {
        std::lock_guard<std::mutex> lock(mu);
        if (!st.ok()) {
          errors.push_back("UnaryCall " + std::to_string(i) + ": " + st.ToString());
        } else if (resp.payload().body().size() != static_cast<size_t>(i + 1)) {
          errors.push_back("UnaryCall " + std::to_string(i) + ": wrong response size");
        }
        ++done;
        cv.notify_all();
      }, options);
    }
    std::vector<std::thread> streams;
    for (int s = 0; s < kStreams; ++s) {
      streams.emplace_back([&, s] {
        StreamingOutputCallRequest req;
        for (int k = 0; k < 5; ++k) req.add_response_parameters()->set_size(10);
        auto reader = stub_.StreamingOutputCall(req, options);
        StreamingOutputCallResponse resp;
        int n = 0;
        while (reader->Read(&resp)) {
          if (resp.payload().body().size() != 10) fail("stream " + std::to_string(s) + ": size");
          ++n;
        }
        Status st = reader->Finish();
        if (!st.ok()) fail("stream " + std::to_string(s) + ": " + st.ToString());
        if (n != 5) fail("stream " + std::to_string(s) + ": " + std::to_string(n) + " responses");
      });
    }
    for (auto& t : streams) t.join();
    std::unique_lock<std::mutex> lock(mu);
    // Within the driver's 30 s per cell: the calls' deadlines end them all by 15 s.
    bool all = cv.wait_for(lock, std::chrono::seconds(10), [&] { return done == kUnary; });
    Check(all, "only " + std::to_string(done) + " of 100 UnaryCalls finished (their deadlines " +
                   "did not end the rest)");
    Check(errors.empty(), errors.empty() ? "" : std::to_string(errors.size()) + " errors, first: " +
                                                    errors.front());
  }

  void DeadlinePropagation() {
    CallOptions options;
    options.deadline = polyrpc::DeadlineAfter(std::chrono::seconds(5));
    options.metadata = {{"x-polyrpc-echo-deadline", "1"}};
    SimpleResponse resp;
    polyrpc::Metadata trailing;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(1, 1), &resp, options, nullptr, &trailing),
            "UnaryCall with a 5 s deadline");
    std::string value = MetadataValue(trailing, "x-polyrpc-time-remaining-ms");
    long ms = std::strtol(value.c_str(), nullptr, 10);
    Check(ms > 0 && ms <= 5000, "x-polyrpc-time-remaining-ms is '" + value + "'");

    StreamingOutputCallRequest req;
    for (int k = 0; k < 10; ++k) {
      auto* p = req.add_response_parameters();
      p->set_size(1);
      p->set_interval_us(200000);
    }
    CallOptions short_deadline;
    short_deadline.deadline = polyrpc::DeadlineAfter(std::chrono::seconds(1));
    auto start = polyrpc::Clock::now();
    auto reader = stub_.StreamingOutputCall(req, short_deadline);
    StreamingOutputCallResponse sresp;
    int n = 0;
    while (reader->Read(&sresp)) ++n;
    CheckCode(reader->Finish(), StatusCode::DEADLINE_EXCEEDED, "StreamingOutputCall with 1 s deadline");
    auto elapsed = polyrpc::Clock::now() - start;
    Check(n >= 1 && n < 10, "received " + std::to_string(n) + " responses before the deadline");
    Check(elapsed < std::chrono::seconds(3), "DEADLINE_EXCEEDED took more than 3 s");
  }

  void MaxMessageSize() {
    polyrpc::Options small;
    small.Set("grpc.max_receive_message_length", int64_t{1048576});
    auto limited = connect_(small);
    TestServiceClient limited_stub(limited);
    SimpleResponse resp;
    CheckCode(limited_stub.UnaryCall(MakeSimpleRequest(2097152, 1), &resp),
              StatusCode::RESOURCE_EXHAUSTED, "(a) 2 MiB response on a 1 MiB-limit channel");
    CheckCode(stub_.UnaryCall(MakeSimpleRequest(1, 5242880), &resp),
              StatusCode::RESOURCE_EXHAUSTED, "(b) 5 MiB request");
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(1, 1), &resp), "(c) small UnaryCall afterwards");
  }

  void CompressionUnsupported() {
    CallOptions options;
    options.testing_encoding_label = "x-polyrpc-unknown";
    SimpleResponse resp;
    CheckCode(stub_.UnaryCall(MakeSimpleRequest(1, 10), &resp, options),
              StatusCode::UNIMPLEMENTED, "UnaryCall with grpc-encoding x-polyrpc-unknown");
  }

  void CancelMidBidi() {
    auto stream = stub_.FullDuplexCall();
    const int response_sizes[] = {31415, 9};
    const int payload_sizes[] = {27182, 8};
    for (int i = 0; i < 2; ++i) {
      Check(stream->Write(MakeStreamingRequest(response_sizes[i], payload_sizes[i])),
            "FullDuplexCall: Write failed");
      StreamingOutputCallResponse resp;
      Check(stream->Read(&resp), "FullDuplexCall: no response " + std::to_string(i));
      CheckPayload(resp.payload(), static_cast<size_t>(response_sizes[i]),
                   "response " + std::to_string(i));
    }
    stream->Cancel();
    CheckCode(stream->Finish(), StatusCode::CANCELLED, "FullDuplexCall after Cancel");
    SimpleResponse resp;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(1, 1), &resp), "UnaryCall after the cancel");
  }

  void ServerClosesConnection() {
    CallOptions options;
    options.metadata = {{"x-polyrpc-close-connection", "1"}};
    StreamingOutputCallRequest req;
    for (int k = 0; k < 4; ++k) {
      auto* p = req.add_response_parameters();
      p->set_size(10);
      p->set_interval_us(100000);
    }
    auto start = polyrpc::Clock::now();
    auto reader = stub_.StreamingOutputCall(req, options);
    StreamingOutputCallResponse resp;
    Check(reader->Read(&resp), "StreamingOutputCall: no first response");
    CheckPayload(resp.payload(), 10, "first response");
    while (reader->Read(&resp)) {
    }
    CheckCode(reader->Finish(), StatusCode::UNAVAILABLE, "StreamingOutputCall after the drop");
    Check(polyrpc::Clock::now() - start < std::chrono::seconds(5), "UNAVAILABLE took over 5 s");
    SimpleResponse sresp;
    CheckOk(stub_.UnaryCall(MakeSimpleRequest(1, 1), &sresp), "UnaryCall after reconnecting");
  }

  std::function<std::shared_ptr<polyrpc::Channel>(const polyrpc::Options&)> connect_;
  std::shared_ptr<polyrpc::Channel> channel_;
  TestServiceClient stub_;
};

}  // namespace

int main(int argc, char** argv) {
  polyrpc::interop::Flags flags({{"server_host", "localhost"},
                                 {"server_port", "0"},
                                 {"server_host_override", ""},
                                 {"test_case", ""},
                                 {"use_tls", "false"},
                                 {"use_test_ca", "false"},
                                 {"cert_dir", polyrpc::interop::DefaultCertDir()}});
  if (!flags.Parse(argc, argv)) return 2;
  if (flags.GetInt("server_port") <= 0 || flags.Get("test_case").empty()) {
    std::fprintf(stderr, "--server_port=N and --test_case=NAME are required\n");
    return 2;
  }
  std::string target = flags.Get("server_host") + ":" + flags.Get("server_port");
  auto creds = polyrpc::ChannelCredentials::Insecure();
  if (flags.GetBool("use_tls")) {
    std::string ca;
    if (flags.GetBool("use_test_ca") &&
        !polyrpc::interop::ReadCertFile(flags.Get("cert_dir"), "ca.pem", &ca)) {
      std::fprintf(stderr, "FAIL: cannot read ca.pem in %s\n", flags.Get("cert_dir").c_str());
      return 1;
    }
    creds = polyrpc::ChannelCredentials::Tls(ca);
  }
  std::string override_name = flags.Get("server_host_override");
  bool tls = flags.GetBool("use_tls");
  auto connect = [=](const polyrpc::Options& base) {
    polyrpc::Options options = base;
    if (tls && !override_name.empty()) {
      options.Set("grpc.ssl_target_name_override", override_name);
    }
    std::string error;
    auto channel = polyrpc::Channel::Create(target, creds, options, &error);
    if (!channel) throw Failure{"cannot create a channel to " + target + ": " + error};
    return channel;
  };

  const std::string& test_case = flags.Get("test_case");
  try {
    InteropClient client(connect);
    if (!client.Run(test_case)) {
      std::fprintf(stderr, "UNSUPPORTED: unknown test case %s\n", test_case.c_str());
      return 2;
    }
  } catch (const Failure& f) {
    std::fprintf(stderr, "FAIL %s: %s\n", test_case.c_str(), f.reason.c_str());
    return 1;
  }
  std::fprintf(stderr, "PASS %s\n", test_case.c_str());
  return 0;
}
