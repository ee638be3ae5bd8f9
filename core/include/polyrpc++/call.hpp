// Calls: one operation, one completion. Every operation takes a Completion that runs exactly
// once, on the call's I/O thread (never under an internal lock), with ok=true if the operation
// did what it says. Operations may be started from any thread; at most one operation of each
// kind (send, receive, ...) may be outstanding on a call at a time.
//
// "I/O thread" here and in the other headers means the thread running the I/O loop of the call
// (or connection): the loop's own thread, or an application thread that is blocked in a polyrpc
// call on the same loop and runs that loop meanwhile (IoDriver, below). Either way it must not
// block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "polyrpc++/metadata.hpp"
#include "polyrpc++/options.hpp"
#include "polyrpc++/slice.hpp"
#include "polyrpc++/status.hpp"

namespace polyrpc {

class EventLoop;  // internal: the I/O loop a call runs on (see IoDriver)

using Completion = std::function<void(bool ok)>;

enum WriteFlags : uint32_t {
  kWriteNone = 0,
  kWriteNoCompress = 1u << 0,  // send this message uncompressed even if the call compresses
  kWriteLast = 1u << 1,        // client: half-close with this message (one frame fewer)
};

struct CallOptions {
  Deadline deadline = InfiniteDeadline();
  Metadata metadata;          // request headers (custom metadata)
  std::string compression;    // "identity" | "deflate" | "gzip"; empty: channel default
  bool wait_for_ready = false;
  std::string authority;      // overrides the channel's :authority
  std::string bearer_token;   // per-call credentials: sends "authorization: Bearer <token>"
  // The method answers with exactly one message (unary and client-streaming): a second response
  // message ends the call UNIMPLEMENTED at once (the stream is cancelled), and so does an OK
  // status without a message, as gRPC's doc/statuscodes.md asks of a client that sees a
  // response cardinality violation. The typed helpers (sync.hpp, proto.hpp) set it.
  bool expect_one_response = false;
  // Test hook for conformance: label compressed messages with this grpc-encoding name (the
  // payload is sent as-is with the compressed flag set). Never use it in applications.
  std::string testing_encoding_label;
};

class ClientCall {
 public:
  virtual ~ClientCall() = default;
  // Sends the request headers. Optional: the first other operation sends them too.
  virtual void Start(Completion done) = 0;
  virtual void SendMessage(Slice message, uint32_t flags, Completion done) = 0;
  // Half-closes: no more messages from the client. Completes ok=true also when the call is
  // already over (nothing more can be sent); the status tells how the call ended.
  virtual void CloseSend(Completion done) = 0;
  // Completes when the server's initial metadata (or a trailers-only response) has arrived.
  virtual void RecvInitialMetadata(Completion done) = 0;
  virtual const Metadata& initial_metadata() const = 0;
  // ok=true: a message is ready (TakeMessage). ok=false: end of stream or the call failed.
  virtual void RecvMessage(Completion done) = 0;
  virtual bool TakeMessage(Slice* out, bool* compressed = nullptr) = 0;
  // Non-blocking receive on the calling thread: if a message has already arrived, makes it ready
  // for TakeMessage and returns true without a round trip through the I/O thread. Returns false
  // when nothing is waiting (not arrived yet, end of stream, or the call failed): then use
  // RecvMessage, which also tells the end of the stream. Must not be called while a RecvMessage
  // is outstanding on the call (one receive at a time, as for RecvMessage itself).
  virtual bool TryRecvMessage() = 0;
  // Completes (always with ok=true) once the call is over; then status() and trailing_metadata().
  virtual void RecvStatus(Completion done) = 0;
  virtual const Status& status() const = 0;
  virtual const Metadata& trailing_metadata() const = 0;
  // Cancels the call (RST_STREAM CANCEL); status CANCELLED unless already finished. Any thread.
  virtual void Cancel() = 0;
  virtual std::string peer() const = 0;
  // Internal, for IoDriver: the loop the call's I/O runs on, and the channel's busy-poll budget
  // ("polyrpc.busy_poll_us").
  virtual EventLoop* event_loop() const = 0;
  virtual int busy_poll_us() const = 0;
};

// Lets a thread that blocks on a call run the call's I/O itself while it waits, instead of
// sleeping while an I/O thread does it: the request is written and the response read on the
// waiting thread, saving two thread wake-ups per call. The blocking helpers (sync.hpp) and the C
// ABI's blocking operations use it. Create it before starting the operations so that they run
// on this thread too. If active() is false (another thread is running that I/O, or this thread
// is inside a completion), nothing changes: wait the usual way. While it is active, completions
// of any call on the same I/O loop may run on this thread, inside RunUntil. The thread
// busy-polls for a while before it sleeps: adaptively by default, or as the channel option
// "polyrpc.busy_poll_us" says.
class IoDriver {
 public:
  explicit IoDriver(ClientCall& call);
  ~IoDriver();  // hands the I/O back
  IoDriver(const IoDriver&) = delete;
  IoDriver& operator=(const IoDriver&) = delete;
  bool active() const { return loop_ != nullptr; }
  // Runs I/O on this thread until done() returns true. Only when active(). done() is checked
  // after every loop turn; another thread that makes it true must call Wake().
  template <typename Done>
  void RunUntil(Done&& done) {
    while (!done()) RunOnce();
  }
  void Wake();

 private:
  void RunOnce();
  EventLoop* loop_ = nullptr;          // driving this loop
  EventLoop* waiting_loop_ = nullptr;  // waiting the plain way while another caller drives it
};

class ServerCall {
 public:
  virtual ~ServerCall() = default;
  virtual const std::string& method() const = 0;
  virtual const std::string& authority() const = 0;
  virtual const Metadata& client_metadata() const = 0;
  // The client's deadline (grpc-timeout), or InfiniteDeadline().
  virtual Deadline deadline() const = 0;
  virtual std::string peer() const = 0;
  // Response compression for following messages ("identity", "deflate", "gzip"); used only if the
  // client accepts it. Call before the first message.
  virtual void SetCompression(const std::string& algorithm) = 0;
  // Optional: the first message or the status sends (empty) initial metadata otherwise.
  virtual void SendInitialMetadata(Metadata metadata, Completion done) = 0;
  virtual void SendMessage(Slice message, uint32_t flags, Completion done) = 0;
  // ok=false at the client's half-close, or when the call is cancelled.
  virtual void RecvMessage(Completion done) = 0;
  virtual bool TakeMessage(Slice* out, bool* compressed = nullptr) = 0;
  // Non-blocking receive on the calling thread: if a message has already arrived, makes it ready
  // for TakeMessage and returns true without a round trip through the I/O thread. Returns false
  // when nothing is waiting (not arrived yet, end of stream, or the call failed): then use
  // RecvMessage, which also tells the end of the stream. Must not be called while a RecvMessage
  // is outstanding on the call (one receive at a time, as for RecvMessage itself).
  virtual bool TryRecvMessage() = 0;
  // Sends the status and trailers and ends the call.
  virtual void SendStatus(const Status& status, Metadata trailers, Completion done) = 0;
  // fn(cancelled) runs once when the call is over: cancelled=true if it did not end with a status
  // that was sent (client cancel, deadline, connection loss). Runs at once if already over.
  virtual void OnDone(std::function<void(bool cancelled)> fn) = 0;
  virtual bool IsCancelled() const = 0;
  virtual void Cancel() = 0;
  // The method takes exactly one request message (unary and server-streaming): from now on, a
  // second message from the client, or a half-close without one, ends the call with
  // UNIMPLEMENTED (gRPC's doc/statuscodes.md, request cardinality violation) and the handler's
  // receives fail. Checks what has arrived already too, so it may come from any thread, late;
  // MethodOptions::expect_one_request does the same for a registered method from the start.
  virtual void ExpectOneRequest() = 0;
  // Test hook for conformance (server_closes_connection): drops the whole connection abruptly.
  virtual void CloseConnectionForTesting() = 0;
};

}  // namespace polyrpc
