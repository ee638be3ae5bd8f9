// Transport credentials: insecure (h2c, HTTP/2 with prior knowledge) or TLS (ALPN h2), with
// optional client certificates for mutual TLS. Certificates and keys are PEM text.
#pragma once

#include <memory>
#include <string>

namespace polyrpc {

struct ChannelCredentials {
  bool tls = false;
  std::string root_certs_pem;   // empty: the system's default CA bundle
  std::string cert_chain_pem;   // client certificate for mutual TLS (optional)
  std::string private_key_pem;  // its key

  static std::shared_ptr<ChannelCredentials> Insecure() {
    return std::make_shared<ChannelCredentials>();
  }
  static std::shared_ptr<ChannelCredentials> Tls(std::string root_certs_pem,
                                                 std::string cert_chain_pem = "",
                                                 std::string private_key_pem = "") {
    auto c = std::make_shared<ChannelCredentials>();
    c->tls = true;
    c->root_certs_pem = std::move(root_certs_pem);
    c->cert_chain_pem = std::move(cert_chain_pem);
    c->private_key_pem = std::move(private_key_pem);
    return c;
  }
};

struct ServerCredentials {
  bool tls = false;
  std::string cert_chain_pem;
  std::string private_key_pem;
  std::string client_ca_pem;         // CA for client certificates (mutual TLS)
  bool require_client_cert = false;  // refuse clients without a valid certificate

  static std::shared_ptr<ServerCredentials> Insecure() {
    return std::make_shared<ServerCredentials>();
  }
  static std::shared_ptr<ServerCredentials> Tls(std::string cert_chain_pem,
                                                std::string private_key_pem,
                                                std::string client_ca_pem = "",
                                                bool require_client_cert = false) {
    auto c = std::make_shared<ServerCredentials>();
    c->tls = true;
    c->cert_chain_pem = std::move(cert_chain_pem);
    c->private_key_pem = std::move(private_key_pem);
    c->client_ca_pem = std::move(client_ca_pem);
    c->require_client_cert = require_client_cert;
    return c;
  }
};

}  // namespace polyrpc
