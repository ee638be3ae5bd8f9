// Options, transport credentials and channels.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include "internal.h"

namespace polyrpc::capi {
namespace {

// PEM is checked when credentials are created, so that a bad file is reported where it was
// given (TLS error) rather than as a failing channel much later.
void CheckCertificates(const char* pem, const char* what) {
  BIO* bio = BIO_new_mem_buf(pem, -1);
  if (!bio) throw std::bad_alloc();
  int count = 0;
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_free(x);
    count++;
  }
  BIO_free(bio);
  ERR_clear_error();
  if (count == 0) Throw(POLYRPC_ERROR_TLS, std::string(what) + ": no PEM certificate found");
}

void CheckPrivateKey(const char* pem, const char* what) {
  BIO* bio = BIO_new_mem_buf(pem, -1);
  if (!bio) throw std::bad_alloc();
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (!key) Throw(POLYRPC_ERROR_TLS, std::string(what) + ": no PEM private key found");
  EVP_PKEY_free(key);
}

}  // namespace

// The core reports setup failures as text; errors about certificates and keys become TLS, the
// rest (addresses, targets) the caller's fallback code. The caller's own text (quoted: the
// address) is left out of the search, so that "unix:/run/tls.sock" does not make a TLS error.
polyrpc_error_t ClassifySetupError(const std::string& error, polyrpc_error_t fallback,
                                   const std::string& quoted) {
  std::string lower = error;
  for (size_t at; !quoted.empty() && (at = lower.find(quoted)) != std::string::npos;) {
    lower.erase(at, quoted.size());
  }
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const char* word : {"tls", "ssl", "certificate", "private key", "pem"}) {
    if (lower.find(word) != std::string::npos) return POLYRPC_ERROR_TLS;
  }
  return fallback;
}

}  // namespace polyrpc::capi

using namespace polyrpc::capi;

extern "C" {

// ---- options ----

polyrpc_error_t polyrpc_options_create(polyrpc_options_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  *out = ToC(new OptionsHandle());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_options_set_int(polyrpc_options_t* opts, const char* key, int64_t value) {
  POLYRPC_API_TRY
  auto* opts_h = Check(opts, kOptionsTag, "options");
  RequireArg(key != nullptr && *key != '\0', "key is NULL or empty");
  if (std::strcmp(key, "grpc.default_compression_algorithm") == 0 && (value < 0 || value > 2)) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          "grpc.default_compression_algorithm must be 0 (identity), 1 (deflate) or 2 (gzip)");
  }
  opts_h->options.Set(key, value);
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_options_set_string(polyrpc_options_t* opts, const char* key,
                                           const char* value) {
  POLYRPC_API_TRY
  auto* opts_h = Check(opts, kOptionsTag, "options");
  RequireArg(key != nullptr && *key != '\0', "key is NULL or empty");
  RequireArg(value != nullptr, "value is NULL");
  if (std::strcmp(key, "grpc.default_compression_algorithm") == 0 && !IsKnownCompression(value)) {
    Throw(POLYRPC_ERROR_INVALID_ARGUMENT,
          std::string("unknown compression algorithm \"") + value +
              "\" (identity, deflate, gzip)");
  }
  opts_h->options.Set(std::string(key), std::string(value));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_options_destroy(polyrpc_options_t* opts) {
  POLYRPC_API_TRY
  if (opts == nullptr) return;
  auto* opts_h = Check(opts, kOptionsTag, "options");
  opts_h->options = polyrpc::Options();
  Retire(opts_h);
  POLYRPC_API_CATCH_VOID
}

// ---- credentials ----

polyrpc_error_t polyrpc_channel_credentials_create_insecure(polyrpc_channel_credentials_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  auto c = std::make_unique<ChannelCredsHandle>();
  c->creds = polyrpc::ChannelCredentials::Insecure();
  *out = ToC(c.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_channel_credentials_create_tls(const char* root_pem,
                                                       const char* cert_chain_pem,
                                                       const char* private_key_pem,
                                                       polyrpc_channel_credentials_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg((cert_chain_pem == nullptr) == (private_key_pem == nullptr),
             "cert_chain_pem and private_key_pem must be given together");
  if (root_pem) CheckCertificates(root_pem, "root_pem");
  if (cert_chain_pem) {
    CheckCertificates(cert_chain_pem, "cert_chain_pem");
    CheckPrivateKey(private_key_pem, "private_key_pem");
  }
  auto c = std::make_unique<ChannelCredsHandle>();
  c->creds = polyrpc::ChannelCredentials::Tls(root_pem ? root_pem : "",
                                              cert_chain_pem ? cert_chain_pem : "",
                                              private_key_pem ? private_key_pem : "");
  *out = ToC(c.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_channel_credentials_destroy(polyrpc_channel_credentials_t* creds) {
  POLYRPC_API_TRY
  if (creds == nullptr) return;
  auto* creds_h = Check(creds, kChanCredsTag, "channel credentials");
  creds_h->creds.reset();
  Retire(creds_h);
  POLYRPC_API_CATCH_VOID
}

polyrpc_error_t polyrpc_server_credentials_create_insecure(polyrpc_server_credentials_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  auto c = std::make_unique<ServerCredsHandle>();
  c->creds = polyrpc::ServerCredentials::Insecure();
  *out = ToC(c.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_server_credentials_create_tls(const char* cert_chain_pem,
                                                      const char* private_key_pem,
                                                      const char* client_ca_pem,
                                                      int require_client_cert,
                                                      polyrpc_server_credentials_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(cert_chain_pem != nullptr && private_key_pem != nullptr,
             "cert_chain_pem and private_key_pem are required");
  RequireArg(!require_client_cert || client_ca_pem != nullptr,
             "require_client_cert needs client_ca_pem");
  CheckCertificates(cert_chain_pem, "cert_chain_pem");
  CheckPrivateKey(private_key_pem, "private_key_pem");
  if (client_ca_pem) CheckCertificates(client_ca_pem, "client_ca_pem");
  auto c = std::make_unique<ServerCredsHandle>();
  c->creds = polyrpc::ServerCredentials::Tls(cert_chain_pem, private_key_pem,
                                             client_ca_pem ? client_ca_pem : "",
                                             require_client_cert != 0);
  *out = ToC(c.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_server_credentials_destroy(polyrpc_server_credentials_t* creds) {
  POLYRPC_API_TRY
  if (creds == nullptr) return;
  auto* creds_h = Check(creds, kServerCredsTag, "server credentials");
  creds_h->creds.reset();
  Retire(creds_h);
  POLYRPC_API_CATCH_VOID
}

// ---- channels ----

polyrpc_error_t polyrpc_channel_create(const char* target,
                                       const polyrpc_channel_credentials_t* creds,
                                       const polyrpc_options_t* opts, polyrpc_channel_t** out) {
  POLYRPC_API_TRY
  RequireArg(out != nullptr, "out is NULL");
  *out = nullptr;
  RequireArg(target != nullptr && *target != '\0', "target is NULL or empty");
  auto* creds_h = Check(creds, kChanCredsTag, "channel credentials");
  const OptionsHandle* opts_h = opts ? Check(opts, kOptionsTag, "options") : nullptr;
  std::string error;
  auto channel = polyrpc::Channel::Create(target, creds_h->creds,
                                          opts_h ? opts_h->options : polyrpc::Options(), &error);
  if (!channel) {
    // TLS refused the credentials only if the same target is accepted without TLS: target
    // errors quote the target, or part of it, so the words of the message cannot tell
    // ("ipv6:tls-host" is not a TLS error).
    polyrpc_error_t code = POLYRPC_ERROR_INVALID_ARGUMENT;
    if (creds_h->creds && creds_h->creds->tls &&
        polyrpc::Channel::Create(target, polyrpc::ChannelCredentials::Insecure(),
                                 opts_h ? opts_h->options : polyrpc::Options(), nullptr)) {
      code = POLYRPC_ERROR_TLS;
    }
    Throw(code, std::string("cannot create a channel to \"") + target + "\": " + error);
  }
  auto ch = std::make_unique<ChannelHandle>();
  ch->owner = CurrentOwner();
  RegisterChannel(channel);
  ch->channel = std::move(channel);
  *out = ToC(ch.release());
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

}  // extern "C"

namespace polyrpc::capi {
ChannelHandle* CheckChannel(polyrpc_channel* ch) {
  auto* ch_h = Check(ch, kChannelTag, "channel");
  if (ch_h->owner != CurrentOwner()) {
    ThrowForeignOwner(ch_h->owner, "channel");
  }
  if (!ch_h->channel) Throw(POLYRPC_ERROR_CLOSED, "the channel was destroyed");
  return ch_h;
}
}  // namespace polyrpc::capi

extern "C" {

polyrpc_error_t polyrpc_channel_get_state(polyrpc_channel_t* ch, int try_to_connect,
                                          polyrpc_connectivity_state_t* state) {
  POLYRPC_API_TRY
  ChannelHandle* h = CheckChannel(ch);
  RequireArg(state != nullptr, "state is NULL");
  *state = static_cast<polyrpc_connectivity_state_t>(
      h->channel->GetState(try_to_connect != 0));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_channel_wait_for_state_change(polyrpc_channel_t* ch,
                                                      polyrpc_connectivity_state_t last,
                                                      int64_t timeout_ms) {
  POLYRPC_API_TRY
  ChannelHandle* h = CheckChannel(ch);
  RequireArg(last >= POLYRPC_CHANNEL_IDLE && last <= POLYRPC_CHANNEL_SHUTDOWN,
             "last is not a connectivity state");
  std::shared_ptr<polyrpc::Channel> channel = h->channel;
  polyrpc::Deadline deadline = timeout_ms < 0
                                   ? polyrpc::InfiniteDeadline()
                                   : polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  if (!channel->WaitForStateChange(static_cast<polyrpc::ConnectivityState>(last), deadline)) {
    Throw(POLYRPC_ERROR_TIMEOUT, "the channel state did not change before the timeout");
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_channel_wait_for_state_change_v2(polyrpc_channel_t* ch,
                                                         polyrpc_connectivity_state_t last,
                                                         int64_t timeout_ms,
                                                         polyrpc_connectivity_state_t* state) {
  POLYRPC_API_TRY
  ChannelHandle* h = CheckChannel(ch);
  RequireArg(last >= POLYRPC_CHANNEL_IDLE && last <= POLYRPC_CHANNEL_SHUTDOWN,
             "last is not a connectivity state");
  RequireArg(state != nullptr, "state is NULL");
  std::shared_ptr<polyrpc::Channel> channel = h->channel;
  polyrpc::Deadline deadline = timeout_ms < 0
                                   ? polyrpc::InfiniteDeadline()
                                   : polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  channel->WaitForStateChange(static_cast<polyrpc::ConnectivityState>(last), deadline);
  *state = static_cast<polyrpc_connectivity_state_t>(channel->GetState(false));
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_channel_watch_state(polyrpc_channel_t* ch,
                                            polyrpc_connectivity_state_t last, int64_t timeout_ms,
                                            polyrpc_cq_t* cq, void* tag) {
  POLYRPC_API_TRY
  ChannelHandle* h = CheckChannel(ch);
  RequireArg(last >= POLYRPC_CHANNEL_IDLE && last <= POLYRPC_CHANNEL_SHUTDOWN,
             "last is not a connectivity state");
  RequireArg(cq != nullptr, "cq is NULL (use polyrpc_channel_wait_for_state_change_v2 to block)");
  OpTarget target = MakeTarget(cq, tag);
  polyrpc::Deadline deadline = timeout_ms < 0
                                   ? polyrpc::InfiniteDeadline()
                                   : polyrpc::DeadlineAfter(std::chrono::milliseconds(timeout_ms));
  // The completion does not hold the channel: a watch must not keep it alive (the channel
  // completes its watchers with success=0 when it is destroyed).
  h->channel->NotifyOnStateChange(static_cast<polyrpc::ConnectivityState>(last), deadline,
                                  [target](bool changed) { target.Deliver(changed); });
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

polyrpc_error_t polyrpc_channel_close(polyrpc_channel_t* ch) {
  POLYRPC_API_TRY
  ChannelHandle* h = CheckChannel(ch);
  std::shared_ptr<polyrpc::Channel> channel = h->channel;
  channel->Close();
  // The core closes on its I/O thread; wait (bounded) so that the state reads SHUTDOWN when
  // this returns, as the header promises. From the channel's own I/O thread it is immediate.
  auto until = polyrpc::DeadlineAfter(std::chrono::seconds(2));
  for (;;) {
    polyrpc::ConnectivityState s = channel->GetState(false);
    if (s == polyrpc::ConnectivityState::SHUTDOWN || polyrpc::Clock::now() >= until) break;
    channel->WaitForStateChange(s, until);
  }
  return POLYRPC_OK;
  POLYRPC_API_CATCH
}

void polyrpc_channel_destroy(polyrpc_channel_t* ch) {
  POLYRPC_API_TRY
  if (ch == nullptr) return;
  auto* ch_h = Check(ch, kChannelTag, "channel");
  if (ch_h->owner != CurrentOwner()) {
    // A parent's channel in a fork child: its I/O threads do not exist here, so running its
    // destructor could block forever. Leak the core object on purpose; release the handle.
    KeepForever(std::move(ch_h->channel));
  }
  ch_h->channel.reset();  // calls in flight keep the core channel alive
  Retire(ch_h);
  POLYRPC_API_CATCH_VOID
}

}  // extern "C"
