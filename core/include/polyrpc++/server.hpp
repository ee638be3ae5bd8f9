// Server: listeners, a method table and handlers. Handlers run on the I/O thread that owns the
// connection (no thread hop), unless the method is registered with an executor (MethodOptions):
// a handler that blocks must run there, or hand the call to another thread itself.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "polyrpc++/call.hpp"
#include "polyrpc++/credentials.hpp"
#include "polyrpc++/options.hpp"

namespace polyrpc {

using Handler = std::function<void(std::shared_ptr<ServerCall>)>;
class ThreadPool;

// How the core runs the handler of one method (Server::RegisterMethod).
struct MethodOptions {
  // Run the handler on this pool instead of inline on the I/O thread. The core hands the calls
  // of one loop turn to the pool in one batch (one lock, at most one thread wake-up), and the
  // handler's operations from the pool thread reach the loop without a lock or an allocation
  // (send message, initial metadata and status; others are posted). The pool must outlive the
  // server.
  ThreadPool* executor = nullptr;
  // Run the handler only once the first request message has arrived, or the client ended its
  // stream without one: a unary or server-streaming handler then takes its request with
  // TryRecvMessage() and TakeMessage() without waiting (TryRecvMessage() false: there is none,
  // or the call failed). A call that ends before never reaches its handler.
  bool wait_for_request = false;
  // The method takes exactly one request message (unary and server-streaming): a second one,
  // or a half-close without one, ends the call with UNIMPLEMENTED before or instead of the
  // handler (ServerCall::ExpectOneRequest). The typed Register* helpers (proto.hpp) set it.
  bool expect_one_request = false;
};

// What a server holds right now (Server::GetStats).
struct ServerStats {
  size_t connections = 0;  // open connections
  size_t calls = 0;        // server calls alive: streams admitted whose call object still exists
  // The memory quota ("polyrpc.max_server_memory"): bytes charged now, the most ever charged
  // at once, and the limit. Charged: a fixed amount per admitted stream and the bytes of
  // received messages until the application takes them.
  int64_t memory_used = 0;
  int64_t memory_peak = 0;
  int64_t memory_limit = 0;
  int64_t connection_memory_limit = 0;  // "polyrpc.max_connection_memory", per connection
  uint64_t streams_refused = 0;         // new streams refused (REFUSED_STREAM) for want of memory
};

class Server {
 public:
  virtual ~Server() = default;
  static std::unique_ptr<Server> Create(const Options& options = Options());

  // Before Start(). address: "0.0.0.0:50051", "[::]:0", "localhost:0", "unix:/path".
  // Returns the bound port (0 for unix sockets), or -1 and *error.
  virtual int AddListener(const std::string& address, std::shared_ptr<ServerCredentials> creds,
                          std::string* error = nullptr) = 0;
  // path: "/package.Service/Method". Before Start(). The handler runs inline on the I/O thread,
  // at the end of the request headers.
  virtual void RegisterMethod(const std::string& path, Handler handler) = 0;
  // The same, with options saying where and when the handler runs.
  virtual void RegisterMethod(const std::string& path, Handler handler,
                              const MethodOptions& options) = 0;
  // Receives calls to every method that has no handler of its own. Without one, such calls get
  // UNIMPLEMENTED.
  virtual void SetGenericHandler(Handler handler) = 0;
  virtual bool Start(std::string* error = nullptr) = 0;
  // Graceful shutdown: stops accepting, sends GOAWAY, lets in-flight calls finish until the
  // deadline, then cancels the rest. Blocks until every connection is closed. Idempotent.
  virtual void Shutdown(Deadline deadline) = 0;
  // Blocks until Shutdown() has completed.
  virtual void Wait() = 0;
  // A snapshot of what the server holds. Thread-safe.
  virtual ServerStats GetStats() const = 0;
  // The paths of the registered methods, sorted (what server reflection lists). Thread-safe
  // once started.
  virtual std::vector<std::string> RegisteredMethods() const = 0;
  // fn runs when Shutdown() begins, before GOAWAY, on the thread that calls Shutdown() (the
  // health service marks everything NOT_SERVING there). Before Start().
  virtual void OnShutdown(std::function<void()> fn) = 0;
};

}  // namespace polyrpc
