// Server: listeners, a method table and handlers. Handlers run on the I/O thread that owns the
// connection (no thread hop); a handler that blocks must hand the call to another thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "polyrpc++/call.hpp"
#include "polyrpc++/credentials.hpp"
#include "polyrpc++/options.hpp"

namespace polyrpc {

using Handler = std::function<void(std::shared_ptr<ServerCall>)>;

class Server {
 public:
  virtual ~Server() = default;
  static std::unique_ptr<Server> Create(const Options& options = Options());

  // Before Start(). address: "0.0.0.0:50051", "[::]:0", "localhost:0", "unix:/path".
  // Returns the bound port (0 for unix sockets), or -1 and *error.
  virtual int AddListener(const std::string& address, std::shared_ptr<ServerCredentials> creds,
                          std::string* error = nullptr) = 0;
  // path: "/package.Service/Method". Before Start().
  virtual void RegisterMethod(const std::string& path, Handler handler) = 0;
  // Receives calls to every method that has no handler of its own. Without one, such calls get
  // UNIMPLEMENTED.
  virtual void SetGenericHandler(Handler handler) = 0;
  virtual bool Start(std::string* error = nullptr) = 0;
  // Graceful shutdown: stops accepting, sends GOAWAY, lets in-flight calls finish until the
  // deadline, then cancels the rest. Blocks until every connection is closed. Idempotent.
  virtual void Shutdown(Deadline deadline) = 0;
  // Blocks until Shutdown() has completed.
  virtual void Wait() = 0;
};

}  // namespace polyrpc
