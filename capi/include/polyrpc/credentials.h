/*
 * polyrpc/credentials.h - transport security for channels and servers, and per-call tokens.
 * Credentials are immutable after creation and thread-safe; a channel or server keeps its own
 * copy, so they may be destroyed right after use.
 */
#ifndef POLYRPC_CREDENTIALS_H
#define POLYRPC_CREDENTIALS_H

#include "polyrpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Transport credentials of a channel: plaintext or TLS. Created by
 * polyrpc_channel_credentials_create_*, owned by the caller, released with
 * polyrpc_channel_credentials_destroy. Immutable, thread-safe. Since 0.1. */
typedef struct polyrpc_channel_credentials polyrpc_channel_credentials_t;
/* Transport credentials of a server listener: plaintext or TLS. Created by
 * polyrpc_server_credentials_create_*, owned by the caller, released with
 * polyrpc_server_credentials_destroy. Immutable, thread-safe. Since 0.1. */
typedef struct polyrpc_server_credentials polyrpc_server_credentials_t;

/* Plaintext HTTP/2 (h2c, prior knowledge). *out owned by the caller
 * (polyrpc_channel_credentials_destroy). Thread-safe. Errors: INVALID_ARGUMENT (out NULL).
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_credentials_create_insecure(
    polyrpc_channel_credentials_t **out);
/* TLS with ALPN h2. root_pem: CA certificates (PEM, NUL-terminated) or NULL for the system's
 * bundle. cert_chain_pem/private_key_pem: a client certificate for mutual TLS, or both NULL.
 * Strings are copied. *out owned by the caller (polyrpc_channel_credentials_destroy).
 * Thread-safe. Errors: INVALID_ARGUMENT (out NULL, only one of cert_chain_pem and
 * private_key_pem); TLS (a PEM argument holds no parsable certificate, or no private key).
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_credentials_create_tls(
    const char *root_pem, const char *cert_chain_pem, const char *private_key_pem,
    polyrpc_channel_credentials_t **out);
/* Releases creds; channels created with them keep their own reference. NULL is a no-op. Any
 * thread; thread-compatible. Errors: none returned; a destroyed or wrong handle sets
 * polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_channel_credentials_destroy(polyrpc_channel_credentials_t *creds);

/* Plaintext HTTP/2 for a listener. *out owned by the caller (polyrpc_server_credentials_destroy).
 * Thread-safe. Errors: INVALID_ARGUMENT (out NULL). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_credentials_create_insecure(
    polyrpc_server_credentials_t **out);
/* TLS server: certificate chain and key (PEM, NUL-terminated, required). client_ca_pem (or NULL)
 * verifies client certificates; require_client_cert != 0 refuses clients without one (mutual
 * TLS). Strings are copied. *out owned by the caller (polyrpc_server_credentials_destroy).
 * Thread-safe. Errors: INVALID_ARGUMENT (out, cert_chain_pem or private_key_pem NULL;
 * require_client_cert without client_ca_pem); TLS (a PEM argument holds no parsable
 * certificate, or no private key). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_credentials_create_tls(
    const char *cert_chain_pem, const char *private_key_pem, const char *client_ca_pem,
    int require_client_cert, polyrpc_server_credentials_t **out);
/* Releases creds; listeners added with them keep their own reference. NULL is a no-op. Any
 * thread; thread-compatible. Errors: none returned; a destroyed or wrong handle sets
 * polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_server_credentials_destroy(polyrpc_server_credentials_t *creds);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CREDENTIALS_H */
