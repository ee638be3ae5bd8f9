// grpc.testing.TestService on polyrpc's C++ API, for bench/run. Every handler runs inline on the
// connection's I/O thread (no thread hop), as a user writing a fast non-blocking service would.
// Messages are parsed and serialised with protoc's C++ classes on every call, exactly like the
// grpc++ server it is compared with (grpcxx_bench_server.cc), so neither side caches replies.
//
//   polyrpc_bench_server --port N    (0: pick a free port; the bound port is printed on stdout)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "grpc/testing/messages.pb.h"
#include "polyrpc++/polyrpc.hpp"

namespace {

using polyrpc::Completion;
using polyrpc::ServerCall;
using polyrpc::Slice;
using polyrpc::Status;
using polyrpc::StatusCode;

Slice Serialize(const google::protobuf::MessageLite& m) {
  uint8_t* out = nullptr;
  Slice s = Slice::Allocate(m.ByteSizeLong(), &out);
  m.SerializeWithCachedSizesToArray(out);
  return s;
}

template <typename T>
bool Parse(const Slice& s, T* m) {
  return m->ParseFromArray(s.data(), static_cast<int>(s.size()));
}

void Fail(const std::shared_ptr<ServerCall>& call, StatusCode code, const char* msg) {
  call->SendStatus(Status(code, msg), {}, [](bool) {});
}

void UnaryCall(std::shared_ptr<ServerCall> call) {
  call->RecvMessage([call](bool ok) {
    Slice in;
    grpc::testing::SimpleRequest req;
    if (!ok || !call->TakeMessage(&in) || !Parse(in, &req)) {
      return Fail(call, StatusCode::INTERNAL, "bad request");
    }
    grpc::testing::SimpleResponse resp;
    resp.mutable_payload()->mutable_body()->assign(static_cast<size_t>(req.response_size()), '\0');
    // Message and status are queued back to back: the core writes them in one turn.
    call->SendMessage(Serialize(resp), 0, [](bool) {});
    call->SendStatus(Status::Ok(), {}, [](bool) {});
  });
}

// Sends the responses one at a time (one send outstanding per call, as the API requires). A
// completion that runs inside SendMessage is turned into another loop iteration instead of a
// recursive call, so a long stream cannot exhaust the stack.
struct StreamWriter : std::enable_shared_from_this<StreamWriter> {
  std::shared_ptr<ServerCall> call;
  grpc::testing::StreamingOutputCallRequest req;
  int next = 0;
  bool in_send = false;
  bool completed_inline = false;
  bool failed = false;
  std::function<void()> on_finished;  // what to do after the last response

  void Pump() {
    auto self = shared_from_this();
    while (next < req.response_parameters_size()) {
      grpc::testing::StreamingOutputCallResponse resp;
      resp.mutable_payload()->mutable_body()->assign(
          static_cast<size_t>(req.response_parameters(next).size()), '\0');
      ++next;
      in_send = true;
      completed_inline = false;
      call->SendMessage(Serialize(resp), 0, [self](bool ok) {
        if (!ok) self->failed = true;
        if (self->in_send) {
          self->completed_inline = true;
        } else if (!self->failed) {
          self->Pump();
        }
      });
      in_send = false;
      if (!completed_inline || failed) return;
    }
    on_finished();
  }
};

void StreamingOutputCall(std::shared_ptr<ServerCall> call) {
  call->RecvMessage([call](bool ok) {
    Slice in;
    auto w = std::make_shared<StreamWriter>();
    if (!ok || !call->TakeMessage(&in) || !Parse(in, &w->req)) {
      return Fail(call, StatusCode::INTERNAL, "bad request");
    }
    w->call = call;
    w->on_finished = [call] { call->SendStatus(Status::Ok(), {}, [](bool) {}); };
    w->Pump();
  });
}

// Bidi: each request is answered with its response_parameters, then the next request is read;
// the client's half-close ends the call with OK.
struct Duplex : std::enable_shared_from_this<Duplex> {
  std::shared_ptr<ServerCall> call;
  std::shared_ptr<StreamWriter> writer;

  void ReadNext() {
    auto self = shared_from_this();
    call->RecvMessage([self](bool ok) {
      Slice in;
      if (!ok || !self->call->TakeMessage(&in)) {
        self->call->SendStatus(Status::Ok(), {}, [](bool) {});
        return;
      }
      auto w = std::make_shared<StreamWriter>();
      if (!Parse(in, &w->req)) return Fail(self->call, StatusCode::INTERNAL, "bad request");
      w->call = self->call;
      // Break the Duplex -> writer -> Duplex cycle once the writer is done.
      w->on_finished = [self] {
        self->writer.reset();
        self->ReadNext();
      };
      self->writer = w;
      w->Pump();
    });
  }
};

void FullDuplexCall(std::shared_ptr<ServerCall> call) {
  auto d = std::make_shared<Duplex>();
  d->call = std::move(call);
  d->ReadNext();
}

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strncmp(argv[i], "--port=", 7) == 0) {
      port = std::atoi(argv[i] + 7);
    } else {
      std::fprintf(stderr, "usage: %s --port N\n", argv[0]);
      return 2;
    }
  }
  polyrpc::Options opts;
  // 16 MiB messages are part of the suite; grpc++ gets the same limit.
  opts.Set("grpc.max_receive_message_length", int64_t{-1});
  auto server = polyrpc::Server::Create(opts);
  std::string error;
  int bound = server->AddListener("127.0.0.1:" + std::to_string(port),
                                  polyrpc::ServerCredentials::Insecure(), &error);
  if (bound < 0) {
    std::fprintf(stderr, "listen: %s\n", error.c_str());
    return 1;
  }
  server->RegisterMethod("/grpc.testing.TestService/UnaryCall", UnaryCall);
  server->RegisterMethod("/grpc.testing.TestService/StreamingOutputCall", StreamingOutputCall);
  server->RegisterMethod("/grpc.testing.TestService/FullDuplexCall", FullDuplexCall);
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
  return 0;
}
