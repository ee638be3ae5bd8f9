// What the fuzz targets share: an in-memory Endpoint (bytes in from the fuzzer, bytes out to a
// sink, no socket), a way to run the core's loop on the fuzzer's own thread, and the splitting
// of an input into the reads a peer's bytes would arrive in.
//
// The fuzzer thread takes one I/O loop over for the whole process (EventLoop::TryBeginDrive, as
// a blocked caller does) and runs non-blocking loop turns itself, so that everything the core
// does for an input (nghttp2, calls, handlers, completions, timers) runs on that thread, in the
// same order for the same input.
#pragma once

#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/event_loop.h"
#include "transport/endpoint.h"

namespace polyrpc::fuzz {

// The process's one loop, driven by the calling thread from the first call on. The runtime gets
// one I/O thread (it sleeps: nothing it waits for ever happens).
inline EventLoop* DrivenLoop() {
  static EventLoop* loop = [] {
    setenv("POLYRPC_IO_THREADS", "1", 1);
    static std::shared_ptr<Runtime> runtime = Runtime::Get();
    EventLoop* l = runtime->loop(0);
    if (!l->TryBeginDrive()) {
      fprintf(stderr, "fuzz: cannot drive the I/O loop\n");
      abort();
    }
    return l;
  }();
  return loop;
}

// One non-blocking turn: timers that are due, completions, deferred work, flushes.
inline void Turn(int n = 1) {
  for (int i = 0; i < n; ++i) uv_run(DrivenLoop()->uv(), UV_RUN_NOWAIT);
}

// The peer's side of a MemoryEndpoint. It outlives the endpoint (the connection owns and
// destroys that), so the harness can tell what happened to it.
struct Peer {
  Endpoint::Handler* handler = nullptr;  // set by Start
  bool closed = false;                   // Close() was called: no callback may follow
  bool write_shut = false;               // ShutdownWrite() was called
  bool destroyed = false;
  bool read_paused = false;
  size_t written = 0;                     // bytes the connection wrote
  std::function<void(const uint8_t*, size_t)> sink;  // gets them, if set

  bool can_deliver() const { return handler != nullptr && !closed && !destroyed; }
  void Deliver(const uint8_t* data, size_t len) {
    if (can_deliver()) handler->OnEndpointRead(data, len);
  }
  // The peer closes its side (EOF): the connection hears OnEndpointClosed once.
  void Hangup() {
    if (!can_deliver()) return;
    closed = true;
    handler->OnEndpointClosed("");
  }
};

class MemoryEndpoint final : public Endpoint {
 public:
  MemoryEndpoint(EventLoop* loop, std::shared_ptr<Peer> peer)
      : loop_(loop), peer_(std::move(peer)) {}
  ~MemoryEndpoint() override { peer_->destroyed = true; }

  void Start(Handler* handler) override { peer_->handler = handler; }
  void Write(std::unique_ptr<WriteBatch> batch) override {
    peer_->written += batch->size();
    if (peer_->sink) {
      for (const uv_buf_t& b : batch->Iovecs()) {
        peer_->sink(reinterpret_cast<const uint8_t*>(b.base), b.len);
      }
    }
    // Taken by the "kernel" at once: every write is complete when it returns.
  }
  size_t PendingWriteBytes() const override { return 0; }
  void SetReadPaused(bool paused) override { peer_->read_paused = paused; }
  void ShutdownWrite() override { peer_->write_shut = true; }
  void Close() override { peer_->closed = true; }
  EventLoop* loop() const override { return loop_; }
  const std::string& peer() const override { return name_; }
  bool is_tls() const override { return false; }
  std::string alpn() const override { return ""; }

 private:
  EventLoop* loop_;
  std::shared_ptr<Peer> peer_;
  std::string name_ = "ipv4:127.0.0.1:40000";
};

// Splits what a peer sends into reads the way it would write them: the client's 24-byte
// preface (when the input starts with it) and then one HTTP/2 frame per read, by the lengths
// the frame headers claim; whatever does not parse as a frame (a truncated last one, garbage)
// is one last read. The input stays the raw byte stream, so captured connections are seeds.
template <typename Fn>
void ForEachRead(const uint8_t* data, size_t size, bool client_preface, Fn&& fn) {
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  size_t pos = 0;
  if (client_preface && size >= 24 && memcmp(data, kPreface, 24) == 0) {
    if (!fn(data, 24)) return;
    pos = 24;
  }
  while (pos < size) {
    size_t left = size - pos;
    size_t n = left;
    if (left >= 9) {
      size_t len = (size_t{data[pos]} << 16) | (size_t{data[pos + 1]} << 8) | data[pos + 2];
      if (9 + len <= left) n = 9 + len;
    }
    if (!fn(data + pos, n)) return;
    pos += n;
  }
}

}  // namespace polyrpc::fuzz
