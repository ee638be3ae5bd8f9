// Typed protobuf layer over the polyrpc C++ API: what generated code (protoc-gen-polyrpc, lang=cpp)
// builds on, usable by hand as well. Header-only templates over any message type M with
//   bool M::SerializeToString(std::string*) const;   bool M::ParseFromArray(const void*, int);
// so the core never links libprotobuf; the application that uses protobuf messages does.
//
// Client side (blocking, thread-compatible objects: one thread per direction at most, i.e. one
// thread may Read while another Writes):
//   UnaryCall<Req, Resp>, ClientReader<Resp>, ClientWriter<Req>, ClientReaderWriter<Req, Resp>.
// Client side (callback): AsyncUnaryCall<Req, Resp>; the callback runs on an I/O thread.
// Server side, blocking: Register{Unary,ServerStreaming,ClientStreaming,BidiStreaming} install a
// typed handler that runs on a ThreadPool thread with a ServerContext and ServerReader /
// ServerWriter / ServerReaderWriter; the handler's returned Status ends the call. The core hands
// each call to the pool itself (MethodOptions::executor), unary and server-streaming calls once
// their request is in, so a unary call costs the pool no wait at all: the request is taken at
// once and the response and status are started without waiting for them.
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "polyrpc++/call.hpp"
#include "polyrpc++/channel.hpp"
#include "polyrpc++/metadata.hpp"
#include "polyrpc++/observability.hpp"
#include "polyrpc++/server.hpp"
#include "polyrpc++/slice.hpp"
#include "polyrpc++/status.hpp"
#include "polyrpc++/sync.hpp"
#include "polyrpc++/thread_pool.hpp"

namespace polyrpc {

// ---------------------------------------------------------------------------------------------
// Serialization

namespace proto_internal {
// protobuf's C++ messages (MessageLite) serialize straight into the slice's buffer: one
// allocation, no copy.
template <class M>
auto SerializeInto(const M& message, Slice* out, int)
    -> decltype(message.ByteSizeLong(),
                message.SerializeWithCachedSizesToArray(static_cast<uint8_t*>(nullptr)), bool()) {
  size_t n = message.ByteSizeLong();
  if (n > static_cast<size_t>(INT32_MAX)) return false;
  if (n == 0) {
    *out = Slice();
    return true;
  }
  uint8_t* p = nullptr;
  *out = Slice::Allocate(n, &p);
  message.SerializeWithCachedSizesToArray(p);
  return true;
}
template <class M>
bool SerializeInto(const M& message, Slice* out, long) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) return false;
  *out = Slice::FromString(std::move(bytes));
  return true;
}
}  // namespace proto_internal

template <class M>
bool SerializeMessage(const M& message, Slice* out) {
  return proto_internal::SerializeInto(message, out, 0);
}

template <class M>
bool ParseMessage(const Slice& bytes, M* message) {
  return message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

namespace proto_internal {

// Generated Register() functions pass their file's descriptor table (protoc's .pb.h) here: the
// store into a volatile makes the linker keep the .pb.cc that registers the file in protobuf's
// generated pool, which server reflection reads.
inline const void* volatile& KeptDescriptor() {
  static const void* volatile keep = nullptr;
  return keep;
}
inline void KeepDescriptor(const void* descriptor_table) { KeptDescriptor() = descriptor_table; }

inline Status SerializeError() {
  return Status(StatusCode::INTERNAL, "Failed to serialize the message");
}
inline Status ParseError(const char* what) {
  return Status(StatusCode::INTERNAL, std::string("Failed to parse the ") + what + " message");
}

// Shared by the streaming client objects: the call, plus a local status that overrides the
// call's when this side gave up on it (a response that did not parse).
class ClientStreamBase {
 public:
  ClientStreamBase(Channel& channel, const std::string& method, const CallOptions& options)
      : call_(channel.CreateCall(method, options)) {}
  ClientStreamBase(const ClientStreamBase&) = delete;
  ClientStreamBase& operator=(const ClientStreamBase&) = delete;
  // Abandoning an unfinished call cancels it, as grpc does, so the server learns of it.
  virtual ~ClientStreamBase() {
    if (!finished_) call_->Cancel();
  }

  // Blocks until the server's initial metadata has arrived; false if the call ended without.
  bool WaitForInitialMetadata() { return RecvInitialMetadataBlocking(*call_); }
  const Metadata& initial_metadata() const { return call_->initial_metadata(); }
  const Metadata& trailing_metadata() const { return call_->trailing_metadata(); }
  // Cancels the call; any thread, any time.
  void Cancel() { call_->Cancel(); }
  std::string peer() const { return call_->peer(); }
  ClientCall& call() { return *call_; }

 protected:
  template <class Resp>
  bool ReadMessage(Resp* response, bool* compressed) {
    Slice bytes;
    if (!RecvBlocking(*call_, &bytes, compressed)) return false;
    if (!ParseMessage(bytes, response)) {
      FailLocally(ParseError("response"));
      return false;
    }
    return true;
  }
  bool WriteMessage(const Slice& bytes, uint32_t flags) { return SendBlocking(*call_, bytes, flags); }
  void FailLocally(Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (local_status_.ok()) local_status_ = std::move(status);
    }
    call_->Cancel();
  }
  Status FinishCall() {
    Status st = FinishBlocking(*call_);
    finished_ = true;
    std::lock_guard<std::mutex> lock(mu_);
    return local_status_.ok() ? st : local_status_;
  }

  std::shared_ptr<ClientCall> call_;

 private:
  std::mutex mu_;
  Status local_status_;
  std::atomic<bool> finished_{false};
};

}  // namespace proto_internal

// ---------------------------------------------------------------------------------------------
// Client, blocking

// One unary call. On OK, *response holds the reply. initial_metadata / trailing_metadata, when
// given, receive the server's metadata whatever the outcome.
template <class Req, class Resp>
Status UnaryCall(Channel& channel, const std::string& method, const Req& request, Resp* response,
                 const CallOptions& options = CallOptions(), Metadata* initial_metadata = nullptr,
                 Metadata* trailing_metadata = nullptr) {
  Slice req_bytes;
  if (!SerializeMessage(request, &req_bytes)) return proto_internal::SerializeError();
  Slice resp_bytes;
  Status st = BlockingUnaryCall(channel, method, std::move(req_bytes), &resp_bytes, options,
                                initial_metadata, trailing_metadata);
  if (!st.ok()) return st;
  if (!ParseMessage(resp_bytes, response)) return proto_internal::ParseError("response");
  return st;
}

// Server streaming: sends the request at construction, then Read() until false, then Finish().
template <class Resp>
class ClientReader : public proto_internal::ClientStreamBase {
 public:
  template <class Req>
  ClientReader(Channel& channel, const std::string& method, const Req& request,
               const CallOptions& options = CallOptions())
      : ClientStreamBase(channel, method, options) {
    Slice bytes;
    if (!SerializeMessage(request, &bytes)) {
      FailLocally(proto_internal::SerializeError());
      return;
    }
    // A failed send shows up as the call's status; Read() returns false then.
    WriteMessage(bytes, kWriteLast);
  }
  // false at the end of the stream or when the call failed (see Finish()). *compressed, if
  // given, tells whether the message arrived compressed.
  bool Read(Resp* response, bool* compressed = nullptr) { return ReadMessage(response, compressed); }
  Status Finish() { return FinishCall(); }
};

// Client streaming: Write() requests, then Finish(), which half-closes (if WritesDone() was not
// called), waits for the single response into the *response given at construction, and returns
// the status.
template <class Req>
class ClientWriter : public proto_internal::ClientStreamBase {
 public:
  template <class Resp>
  ClientWriter(Channel& channel, const std::string& method, Resp* response,
               const CallOptions& options = CallOptions())
      : ClientStreamBase(channel, method, OneResponse(options)),
        parse_response_([response](const Slice& s) { return ParseMessage(s, response); }) {
    OpWaiter w;
    call_->Start(w.Done());
    w.Wait();
  }
  // false if the call is over (Finish() tells why).
  bool Write(const Req& request, uint32_t flags = kWriteNone) {
    Slice bytes;
    if (!SerializeMessage(request, &bytes)) {
      FailLocally(proto_internal::SerializeError());
      return false;
    }
    return WriteMessage(bytes, flags);
  }
  bool WritesDone() {
    writes_done_ = true;
    return CloseSendBlocking(*call_);
  }
  Status Finish() {
    if (!writes_done_) WritesDone();
    Slice bytes;
    bool got = RecvBlocking(*call_, &bytes);
    Status st = FinishCall();
    if (!st.ok()) return st;
    if (!got) return Status(StatusCode::INTERNAL, "No message returned for client streaming call");
    if (!parse_response_(bytes)) return proto_internal::ParseError("response");
    return st;
  }

 private:
  std::function<bool(const Slice&)> parse_response_;
  bool writes_done_ = false;
};

// Bidirectional streaming. Read() and Write() may run on two different threads.
template <class Req, class Resp>
class ClientReaderWriter : public proto_internal::ClientStreamBase {
 public:
  ClientReaderWriter(Channel& channel, const std::string& method,
                     const CallOptions& options = CallOptions())
      : ClientStreamBase(channel, method, options) {
    OpWaiter w;
    call_->Start(w.Done());
    w.Wait();
  }
  bool Write(const Req& request, uint32_t flags = kWriteNone) {
    Slice bytes;
    if (!SerializeMessage(request, &bytes)) {
      FailLocally(proto_internal::SerializeError());
      return false;
    }
    return WriteMessage(bytes, flags);
  }
  bool WritesDone() { return CloseSendBlocking(*call_); }
  bool Read(Resp* response, bool* compressed = nullptr) { return ReadMessage(response, compressed); }
  // Waits for the status. Call after Read() returned false (or after Cancel()).
  Status Finish() { return FinishCall(); }
};

// ---------------------------------------------------------------------------------------------
// Client, callback

// Starts one unary call; done(status, response) runs once, on an I/O thread (so it must not
// block). The returned call may be used to Cancel() it.
template <class Req, class Resp>
std::shared_ptr<ClientCall> AsyncUnaryCall(Channel& channel, const std::string& method,
                                           const Req& request, const CallOptions& options,
                                           std::function<void(Status, Resp)> done) {
  struct State {
    std::shared_ptr<ClientCall> call;
    std::function<void(Status, Resp)> done;
    std::atomic<int> pending{3};  // send, receive, status
    bool got_message = false;     // written by the receive completion, read by the last one

    void Step() {
      if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      Status st = call->status();
      Resp response;
      if (st.ok()) {
        Slice bytes;
        if (!got_message || !call->TakeMessage(&bytes)) {
          st = Status(StatusCode::INTERNAL, "No message returned for unary request");
        } else if (!ParseMessage(bytes, &response)) {
          st = proto_internal::ParseError("response");
        }
      }
      auto fn = std::move(done);
      call.reset();  // drop the cycle call -> completion -> state -> call
      fn(std::move(st), std::move(response));
    }
  };
  auto call = channel.CreateCall(method, OneResponse(options));
  auto state = std::make_shared<State>();
  state->call = call;
  state->done = std::move(done);
  Slice bytes;
  if (!SerializeMessage(request, &bytes)) {
    call->Cancel();
    auto fn = std::move(state->done);
    fn(proto_internal::SerializeError(), Resp());
    return call;
  }
  call->SendMessage(std::move(bytes), kWriteLast, [state](bool) { state->Step(); });
  call->RecvMessage([state](bool ok) {
    state->got_message = ok;
    state->Step();
  });
  call->RecvStatus([state](bool) { state->Step(); });
  return call;
}

// ---------------------------------------------------------------------------------------------
// Server

// What a handler knows about its call and how it shapes the response metadata. Thread-safe.
class ServerContext {
 public:
  explicit ServerContext(std::shared_ptr<ServerCall> call) : call_(std::move(call)) {}
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  const Metadata& client_metadata() const { return call_->client_metadata(); }
  const std::string& method() const { return call_->method(); }
  const std::string& authority() const { return call_->authority(); }
  Deadline deadline() const { return call_->deadline(); }
  std::string peer() const { return call_->peer(); }
  bool IsCancelled() const { return call_->IsCancelled(); }
  // Unary and server-streaming methods: whether the request message arrived compressed.
  bool request_compressed() const { return request_compressed_; }
  void set_request_compressed(bool compressed) { request_compressed_ = compressed; }
  // "identity", "deflate" or "gzip"; before the first response message.
  void SetCompression(const std::string& algorithm) { call_->SetCompression(algorithm); }

  // Added before the first response message (or the status, when there is none).
  void AddInitialMetadata(std::string key, std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    initial_.emplace_back(std::move(key), std::move(value));
    has_metadata_.store(true, std::memory_order_release);
  }
  // Sent with the status.
  void AddTrailingMetadata(std::string key, std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    trailing_.emplace_back(std::move(key), std::move(value));
    has_metadata_.store(true, std::memory_order_release);
  }
  // Sends the initial metadata now (otherwise the first message does). False if the call is over.
  bool SendInitialMetadata() {
    Metadata md;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (initial_sent_) return true;
      initial_sent_ = true;
      md = std::move(initial_);
    }
    return SendInitialMetadataBlocking(*call_, std::move(md));
  }

  // The raw call, for what this layer does not wrap (CloseConnectionForTesting()).
  ServerCall& call() { return *call_; }

 private:
  // The initial metadata, if some was added and not sent yet, without waiting.
  void StartInitialMetadata() {
    if (!has_metadata_.load(std::memory_order_acquire)) return;
    Metadata md;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (initial_sent_ || initial_.empty()) return;
      initial_sent_ = true;
      md = std::move(initial_);
    }
    call_->SendInitialMetadata(std::move(md), nullptr);
  }

 public:
  // Used by the Register* functions and the writers below. SendMessage waits until the message
  // is handed to the transport (a stream's writer is held back by flow control);
  // SendLastMessage and Finish start their operation and return: nothing is left to wait for.
  bool SendMessage(const Slice& bytes, uint32_t flags) {
    if (!SendInitialMetadata()) return false;
    return SendBlocking(*call_, bytes, flags);
  }
  void SendLastMessage(Slice bytes, uint32_t flags) {
    StartInitialMetadata();
    call_->SendMessage(std::move(bytes), flags, nullptr);  // an outcome shows in the status
  }
  void Finish(const Status& status) {
    Metadata trailers;
    if (has_metadata_.load(std::memory_order_acquire)) {
      bool send_initial;
      {
        std::lock_guard<std::mutex> lock(mu_);
        trailers = std::move(trailing_);
        // With nothing to say in the headers, let the core send a trailers-only response.
        send_initial = !initial_sent_ && !initial_.empty();
      }
      if (send_initial) StartInitialMetadata();
    }
    call_->SendStatus(status, std::move(trailers), nullptr);
  }

 private:
  std::shared_ptr<ServerCall> call_;
  std::mutex mu_;
  Metadata initial_;
  Metadata trailing_;
  bool initial_sent_ = false;
  bool request_compressed_ = false;
  std::atomic<bool> has_metadata_{false};  // lets Finish skip the lock when none was added
};

template <class Req>
class ServerReader {
 public:
  explicit ServerReader(ServerContext& ctx) : ctx_(ctx) {}
  // false at the client's half-close or when the call is cancelled; a message that does not
  // parse also ends the stream (the call then fails with INTERNAL). *compressed, if given, tells
  // whether the message arrived compressed.
  bool Read(Req* request, bool* compressed = nullptr) {
    Slice bytes;
    if (!RecvBlocking(ctx_.call(), &bytes, compressed)) return false;
    if (!ParseMessage(bytes, request)) {
      parse_failed_ = true;
      return false;
    }
    return true;
  }
  bool parse_failed() const { return parse_failed_; }

 private:
  ServerContext& ctx_;
  bool parse_failed_ = false;
};

template <class Resp>
class ServerWriter {
 public:
  explicit ServerWriter(ServerContext& ctx) : ctx_(ctx) {}
  // false if the call is over (cancelled, deadline, connection lost).
  bool Write(const Resp& response, uint32_t flags = kWriteNone) {
    Slice bytes;
    if (!SerializeMessage(response, &bytes)) return false;
    return ctx_.SendMessage(bytes, flags);
  }
  bool SendInitialMetadata() { return ctx_.SendInitialMetadata(); }

 private:
  ServerContext& ctx_;
};

// Read() and Write() may run on two different threads.
template <class Resp, class Req>
class ServerReaderWriter : public ServerWriter<Resp>, public ServerReader<Req> {
 public:
  explicit ServerReaderWriter(ServerContext& ctx) : ServerWriter<Resp>(ctx), ServerReader<Req>(ctx) {}
};

template <class Req, class Resp>
using UnaryHandler = std::function<Status(ServerContext&, const Req&, Resp*)>;
template <class Req, class Resp>
using ServerStreamingHandler = std::function<Status(ServerContext&, const Req&, ServerWriter<Resp>*)>;
template <class Req, class Resp>
using ClientStreamingHandler = std::function<Status(ServerContext&, ServerReader<Req>*, Resp*)>;
template <class Req, class Resp>
using BidiStreamingHandler = std::function<Status(ServerContext&, ServerReaderWriter<Resp, Req>*)>;

namespace proto_internal {

// Runs body(ctx) on the calling thread (the pool thread the core handed the call to) and ends
// the call with its status, without waiting for it. An exception is UNKNOWN, as in grpc. (A
// pool that is shut down refuses the call with UNAVAILABLE in the core.)
template <class Body>
void Serve(std::shared_ptr<ServerCall> call, const Body& body) {
  ServerContext ctx(std::move(call));
  // Trace propagation (observability.hpp): the calls the handler makes continue its trace.
  std::optional<ScopedTraceparent> trace;
  if (TracePropagationEnabled()) {
    const std::string* tp = FindMetadata(ctx.client_metadata(), "traceparent");
    trace.emplace(tp ? *tp : std::string());
  }
  Status st;
  try {
    st = body(ctx);
  } catch (const std::exception& e) {
    st = Status(StatusCode::UNKNOWN, std::string("Handler threw: ") + e.what());
  } catch (...) {
    st = Status(StatusCode::UNKNOWN, "Handler threw an exception");
  }
  ctx.Finish(st);
}

// Where the typed blocking handlers run: on the pool, once the request is in for methods with
// one request.
inline MethodOptions PoolOptions(ThreadPool& pool, bool single_request) {
  MethodOptions o;
  o.executor = &pool;
  o.wait_for_request = single_request;
  o.expect_one_request = single_request;
  return o;
}

template <class Req>
Status ReadSingleRequest(ServerContext& ctx, Req* request) {
  Slice bytes;
  bool compressed = false;
  // The core waited for the request (wait_for_request): it is taken here without a wait, and
  // RecvBlocking's completion is immediate when there is none.
  if (!RecvBlocking(ctx.call(), &bytes, &compressed)) {
    if (ctx.IsCancelled()) return Status(StatusCode::CANCELLED, "Call cancelled");
    return Status(StatusCode::UNIMPLEMENTED, "No request message received where the method takes exactly one");
  }
  if (!ParseMessage(bytes, request)) return ParseError("request");
  ctx.set_request_compressed(compressed);
  return Status::Ok();
}

}  // namespace proto_internal

template <class Req, class Resp>
void RegisterUnary(Server& server, ThreadPool& pool, const std::string& path,
                   UnaryHandler<Req, Resp> handler) {
  server.RegisterMethod(
      path,
      [handler = std::move(handler)](std::shared_ptr<ServerCall> call) {
        proto_internal::Serve(std::move(call), [&handler](ServerContext& ctx) {
          Req request;
          Status st = proto_internal::ReadSingleRequest(ctx, &request);
          if (!st.ok()) return st;
          Resp response;
          st = handler(ctx, request, &response);
          if (!st.ok()) return st;
          Slice bytes;
          if (!SerializeMessage(response, &bytes)) return proto_internal::SerializeError();
          ctx.SendLastMessage(std::move(bytes), kWriteNone);  // a failure shows as the status
          return st;
        });
      },
      proto_internal::PoolOptions(pool, true));
}

template <class Req, class Resp>
void RegisterServerStreaming(Server& server, ThreadPool& pool, const std::string& path,
                             ServerStreamingHandler<Req, Resp> handler) {
  server.RegisterMethod(
      path,
      [handler = std::move(handler)](std::shared_ptr<ServerCall> call) {
        proto_internal::Serve(std::move(call), [&handler](ServerContext& ctx) {
          Req request;
          Status st = proto_internal::ReadSingleRequest(ctx, &request);
          if (!st.ok()) return st;
          ServerWriter<Resp> writer(ctx);
          return handler(ctx, request, &writer);
        });
      },
      proto_internal::PoolOptions(pool, true));
}

template <class Req, class Resp>
void RegisterClientStreaming(Server& server, ThreadPool& pool, const std::string& path,
                             ClientStreamingHandler<Req, Resp> handler) {
  server.RegisterMethod(
      path,
      [handler = std::move(handler)](std::shared_ptr<ServerCall> call) {
        proto_internal::Serve(std::move(call), [&handler](ServerContext& ctx) {
          ServerReader<Req> reader(ctx);
          Resp response;
          Status st = handler(ctx, &reader, &response);
          if (reader.parse_failed()) return proto_internal::ParseError("request");
          if (!st.ok()) return st;
          Slice bytes;
          if (!SerializeMessage(response, &bytes)) return proto_internal::SerializeError();
          ctx.SendLastMessage(std::move(bytes), kWriteNone);
          return st;
        });
      },
      proto_internal::PoolOptions(pool, false));
}

template <class Req, class Resp>
void RegisterBidiStreaming(Server& server, ThreadPool& pool, const std::string& path,
                           BidiStreamingHandler<Req, Resp> handler) {
  server.RegisterMethod(
      path,
      [handler = std::move(handler)](std::shared_ptr<ServerCall> call) {
        proto_internal::Serve(std::move(call), [&handler](ServerContext& ctx) {
          ServerReaderWriter<Resp, Req> stream(ctx);
          Status st = handler(ctx, &stream);
          if (stream.parse_failed()) return proto_internal::ParseError("request");
          return st;
        });
      },
      proto_internal::PoolOptions(pool, false));
}

}  // namespace polyrpc
