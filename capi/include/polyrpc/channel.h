/*
 * polyrpc/channel.h - client channels. A channel is a thread-safe handle to one target; it
 * connects lazily, reconnects with gRPC's exponential backoff and multiplexes calls on one HTTP/2
 * connection. Calls keep their channel alive: destroying the channel handle while calls are in
 * flight is allowed (the calls finish normally).
 */
#ifndef POLYRPC_CHANNEL_H
#define POLYRPC_CHANNEL_H

#include "polyrpc/common.h"
#include "polyrpc/credentials.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polyrpc_channel polyrpc_channel_t;
typedef struct polyrpc_options polyrpc_options_t;

/* Options: gRPC channel-argument names ("grpc.max_receive_message_length",
 * "grpc.keepalive_time_ms", "grpc.ssl_target_name_override", "grpc.default_authority",
 * "grpc.default_compression_algorithm", ...; see docs/c-api.md). Used for channels and servers.
 * Thread-compatible; copied by the object they configure. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_options_create(polyrpc_options_t **out);
POLYRPC_API polyrpc_error_t polyrpc_options_set_int(polyrpc_options_t *opts, const char *key,
                                                    int64_t value);
POLYRPC_API polyrpc_error_t polyrpc_options_set_string(polyrpc_options_t *opts, const char *key,
                                                       const char *value);
POLYRPC_API void polyrpc_options_destroy(polyrpc_options_t *opts);

typedef enum polyrpc_connectivity_state {
  POLYRPC_CHANNEL_IDLE = 0,
  POLYRPC_CHANNEL_CONNECTING = 1,
  POLYRPC_CHANNEL_READY = 2,
  POLYRPC_CHANNEL_TRANSIENT_FAILURE = 3,
  POLYRPC_CHANNEL_SHUTDOWN = 4
} polyrpc_connectivity_state_t;

/* target: "host:port", "dns:///host:port", "ipv4:127.0.0.1:50051", "ipv6:[::1]:50051",
 * "unix:/path". creds required; opts may be NULL. *out owned by the caller
 * (polyrpc_channel_destroy). INVALID_ARGUMENT for a malformed target; TLS for bad credentials.
 * Thread-safe. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_create(const char *target,
                                                   const polyrpc_channel_credentials_t *creds,
                                                   const polyrpc_options_t *opts,
                                                   polyrpc_channel_t **out);
/* Current state; try_to_connect != 0 starts connecting from IDLE. Thread-safe. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_get_state(polyrpc_channel_t *ch, int try_to_connect,
                                                      polyrpc_connectivity_state_t *state);
/* Blocks until the state differs from last or timeout_ms passes (TIMEOUT). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_wait_for_state_change(
    polyrpc_channel_t *ch, polyrpc_connectivity_state_t last, int64_t timeout_ms);
/* Cancels all calls, state SHUTDOWN; further calls fail with UNAVAILABLE. Thread-safe. */
POLYRPC_API polyrpc_error_t polyrpc_channel_close(polyrpc_channel_t *ch);
/* Releases the handle. Calls in flight keep the channel alive and finish normally (call
 * polyrpc_channel_close() first to cancel them); the connection closes when the last call is
 * gone. NULL is a no-op. Since 0.1. */
POLYRPC_API void polyrpc_channel_destroy(polyrpc_channel_t *ch);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CHANNEL_H */
