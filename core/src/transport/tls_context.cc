#include "transport/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

namespace polyrpc {

namespace {

constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Adds every certificate in pem to the context's trust store; with ca_names != nullptr also
// collects their subject names (sent to clients as acceptable CAs).
bool LoadTrust(SSL_CTX* ctx, const std::string& pem, STACK_OF(X509_NAME) * ca_names,
               std::string* error) {
  BioPtr bio = MemBio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // takes its own reference
    if (ca_names != nullptr) sk_X509_NAME_push(ca_names, X509_NAME_dup(X509_get_subject_name(cert)));
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (count == 0) {
    *error = "no certificate found in root/CA PEM";
    return false;
  }
  return true;
}

bool LoadKeyPair(SSL_CTX* ctx, const std::string& chain_pem, const std::string& key_pem,
                 std::string* error) {
  BioPtr bio = MemBio(chain_pem);
  X509* leaf = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) {
    *error = "bad certificate chain PEM: " + TlsErrorString("no certificate found");
    return false;
  }
  int ok = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (ok != 1) {
    *error = "cannot use certificate: " + TlsErrorString("unknown error");
    return false;
  }
  SSL_CTX_clear_chain_certs(ctx);
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    SSL_CTX_add0_chain_cert(ctx, extra);  // takes ownership
  }
  ERR_clear_error();
  BioPtr key_bio = MemBio(key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    *error = "bad private key PEM: " + TlsErrorString("no key found");
    return false;
  }
  ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    *error = "private key does not match certificate: " + TlsErrorString("mismatch");
    return false;
  }
  return true;
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnH2, sizeof kAlpnH2, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // offered ALPN without h2: refuse
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

bool InitOpenSsl() {
  static const bool ok = OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS |
                                              OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                                          nullptr) == 1;
  return ok;
}
// At load time too: any earlier OpenSSL call (reading a PEM file, say) would initialise it with
// the atexit handler.
const bool g_openssl_initialised = InitOpenSsl();

SSL_CTX* NewCtx(const SSL_METHOD* method, std::string* error) {
  // OpenSSL's own atexit cleanup would free its locks while our I/O threads may still be in a
  // handshake at process exit (a crash seen in the interop client). The first initialisation
  // decides, so do it before any other OpenSSL use of ours, without the atexit handler.
  InitOpenSsl();
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) {
    *error = "SSL_CTX_new failed: " + TlsErrorString("unknown error");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Endpoints write whole records into memory BIOs; the buffers may move between calls.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

}  // namespace

std::string TlsErrorString(const char* fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? fallback : out;
}

std::shared_ptr<TlsContext> TlsContext::CreateClient(const TlsClientOptions& options,
                                                     std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = NewCtx(TLS_client_method(), error);
  if (ctx == nullptr) return nullptr;
  std::shared_ptr<TlsContext> result(new TlsContext(ctx, false));
  result->server_name_override_ = options.server_name_override;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (options.root_certs_pem.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      *error = "cannot load system root certificates: " + TlsErrorString("unknown error");
      return nullptr;
    }
  } else if (!LoadTrust(ctx, options.root_certs_pem, nullptr, error)) {
    return nullptr;
  }
  if (!options.cert_chain_pem.empty() || !options.private_key_pem.empty()) {
    if (!LoadKeyPair(ctx, options.cert_chain_pem, options.private_key_pem, error)) return nullptr;
  }
  if (SSL_CTX_set_alpn_protos(ctx, kAlpnH2, sizeof kAlpnH2) != 0) {
    *error = "cannot set ALPN: " + TlsErrorString("unknown error");
    return nullptr;
  }
  return result;
}

std::shared_ptr<TlsContext> TlsContext::CreateServer(const TlsServerOptions& options,
                                                     std::string* error) {
  ERR_clear_error();
  if (options.cert_chain_pem.empty() || options.private_key_pem.empty()) {
    *error = "a TLS server needs a certificate chain and a private key";
    return nullptr;
  }
  SSL_CTX* ctx = NewCtx(TLS_server_method(), error);
  if (ctx == nullptr) return nullptr;
  std::shared_ptr<TlsContext> result(new TlsContext(ctx, true));
  if (!LoadKeyPair(ctx, options.cert_chain_pem, options.private_key_pem, error)) return nullptr;
  int verify = SSL_VERIFY_NONE;
  if (!options.client_ca_pem.empty()) {
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    if (!LoadTrust(ctx, options.client_ca_pem, names, error)) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    verify = SSL_VERIFY_PEER;
  }
  if (options.require_client_cert) {
    if (options.client_ca_pem.empty()) {
      *error = "require_client_cert needs client_ca_pem";
      return nullptr;
    }
    verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(ctx, verify, nullptr);
  SSL_CTX_set_alpn_select_cb(ctx, &SelectAlpn, nullptr);
  // Session resumption would need an id context per server; not worth it for long-lived
  // HTTP/2 connections.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  return result;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace polyrpc
