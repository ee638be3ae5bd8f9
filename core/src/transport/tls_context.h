// TlsContext: an OpenSSL SSL_CTX configured for gRPC (TLS 1.2 and 1.3, ALPN "h2"), built from
// PEM strings. One context is shared by every connection of a channel or server; endpoints
// create their SSL objects from it (transport/endpoint_impl.cc).
//
// Thread-safe after creation (OpenSSL's SSL_CTX is, as long as it is not reconfigured).
#pragma once

#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace polyrpc {

struct TlsClientOptions {
  std::string root_certs_pem;  // empty = the system's default roots
  std::string cert_chain_pem;  // optional, for mutual TLS (leaf first)
  std::string private_key_pem;
  // If set, SNI and certificate name verification use this name instead of the target host
  // (gRPC's ssl_target_name_override, e.g. "foo.test.google.fr" in interop tests).
  std::string server_name_override;
};

struct TlsServerOptions {
  std::string cert_chain_pem;  // required, leaf first
  std::string private_key_pem;  // required
  std::string client_ca_pem;    // roots for verifying client certificates
  bool require_client_cert = false;
};

class TlsContext {
 public:
  // Return nullptr and set *error (OpenSSL's reason text included) on bad PEM or key mismatch.
  static std::shared_ptr<TlsContext> CreateClient(const TlsClientOptions& options,
                                                  std::string* error);
  // ALPN: a client that offers protocols but not "h2" is refused with a no_application_protocol
  // alert; a client that sends no ALPN extension at all is accepted (alpn() is then "").
  static std::shared_ptr<TlsContext> CreateServer(const TlsServerOptions& options,
                                                  std::string* error);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool is_server() const { return is_server_; }
  const std::string& server_name_override() const { return server_name_override_; }
  SSL_CTX* ctx() const { return ctx_; }

 private:
  TlsContext(SSL_CTX* ctx, bool is_server) : ctx_(ctx), is_server_(is_server) {}

  SSL_CTX* ctx_;
  bool is_server_;
  std::string server_name_override_;
};

// The most recent OpenSSL errors of this thread as one line (and clears the queue); fallback
// if the queue is empty.
std::string TlsErrorString(const char* fallback);

}  // namespace polyrpc
