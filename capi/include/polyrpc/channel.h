/*
 * polyrpc/channel.h - client channels. A channel is a thread-safe handle to one target; it
 * connects lazily, reconnects with gRPC's exponential backoff and multiplexes calls on one HTTP/2
 * connection. Calls keep their channel alive: destroying the channel handle while calls are in
 * flight is allowed (the calls finish normally).
 */
#ifndef POLYRPC_CHANNEL_H
#define POLYRPC_CHANNEL_H

#include "polyrpc/common.h"
#include "polyrpc/cq.h"
#include "polyrpc/credentials.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A client channel to one target (see above). Created by polyrpc_channel_create, owned by the
 * caller, released with polyrpc_channel_destroy; calls keep it alive. Thread-safe. Since 0.1. */
typedef struct polyrpc_channel polyrpc_channel_t;
/* Options: gRPC channel-argument names ("grpc.max_receive_message_length",
 * "grpc.keepalive_time_ms", "grpc.ssl_target_name_override", "grpc.default_authority",
 * "grpc.default_compression_algorithm", ...; see docs/c-api.md), for channels and servers; keys
 * they do not know are ignored. Created by polyrpc_options_create, owned by the caller, released
 * with polyrpc_options_destroy; the channel or server they configure copies them.
 * Thread-compatible. Since 0.1. */
typedef struct polyrpc_options polyrpc_options_t;

/* Creates an empty options object. *out owned by the caller (polyrpc_options_destroy).
 * Thread-safe. Errors: INVALID_ARGUMENT (out NULL). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_options_create(polyrpc_options_t **out);
/* Sets integer option key (copied) to value, replacing an integer set before under that key.
 * Thread-compatible. Errors: the handle errors of opts; INVALID_ARGUMENT (key NULL or empty,
 * "grpc.default_compression_algorithm" outside 0 identity, 1 deflate, 2 gzip). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_options_set_int(polyrpc_options_t *opts, const char *key,
                                                    int64_t value);
/* Sets string option key to value (both NUL-terminated, copied), replacing a string set before
 * under that key. Thread-compatible. Errors: the handle errors of opts; INVALID_ARGUMENT (key
 * NULL or empty, value NULL, "grpc.default_compression_algorithm" other than "identity",
 * "deflate", "gzip"). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_options_set_string(polyrpc_options_t *opts, const char *key,
                                                       const char *value);
/* Releases opts; what was created with them keeps its copy. NULL is a no-op. Any thread;
 * thread-compatible. Errors: none returned; a destroyed or wrong handle sets
 * polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_options_destroy(polyrpc_options_t *opts);

/* Connectivity state of a channel (gRPC's). Since 0.1. */
typedef enum polyrpc_connectivity_state {
  POLYRPC_CHANNEL_IDLE = 0,
  POLYRPC_CHANNEL_CONNECTING = 1,
  POLYRPC_CHANNEL_READY = 2,
  POLYRPC_CHANNEL_TRANSIENT_FAILURE = 3,
  POLYRPC_CHANNEL_SHUTDOWN = 4
} polyrpc_connectivity_state_t;

/* Creates a channel to target: "host:port", "dns:///host:port", "ipv4:127.0.0.1:50051",
 * "ipv6:[::1]:50051", "unix:/path" (copied). creds required; opts may be NULL; the channel keeps
 * its own copy of both. It connects lazily. *out owned by the caller (polyrpc_channel_destroy).
 * Thread-safe. Errors: the handle errors of creds, and of opts if not NULL; INVALID_ARGUMENT (out
 * NULL, target NULL, empty or malformed); TLS for credentials the TLS layer refuses; IO if no I/O
 * thread can be started. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_create(const char *target,
                                                   const polyrpc_channel_credentials_t *creds,
                                                   const polyrpc_options_t *opts,
                                                   polyrpc_channel_t **out);
/* *state: the current state; try_to_connect != 0 starts connecting from IDLE. Thread-safe.
 * Errors: the handle errors of ch; INVALID_ARGUMENT (state NULL). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_get_state(polyrpc_channel_t *ch, int try_to_connect,
                                                      polyrpc_connectivity_state_t *state);
/* Blocks until the state differs from last or timeout_ms (< 0: no limit) passes; another thread
 * ends the wait with polyrpc_channel_close(). Prefer polyrpc_channel_wait_for_state_change_v2(),
 * where a timeout is a result. Thread-safe. Errors: the handle errors of ch; INVALID_ARGUMENT
 * (last not a state); TIMEOUT when timeout_ms passed first. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_wait_for_state_change(
    polyrpc_channel_t *ch, polyrpc_connectivity_state_t last, int64_t timeout_ms);
/* Blocks until the state differs from last or timeout_ms (< 0: no limit) passes; returns OK with
 * *state the state now: a timeout is a result (*state == last), not an error. Another thread ends
 * the wait with polyrpc_channel_close(); to wait interruptibly otherwise, use
 * polyrpc_channel_watch_state() with a cq and polyrpc_cq_wake(). Thread-safe. Errors: the handle
 * errors of ch; INVALID_ARGUMENT (last not a state, state NULL). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_channel_wait_for_state_change_v2(
    polyrpc_channel_t *ch, polyrpc_connectivity_state_t last, int64_t timeout_ms,
    polyrpc_connectivity_state_t *state);
/* Asynchronous form: one completion on cq with tag: success=1 once the state differs from last
 * (read it with polyrpc_channel_get_state; closing the channel makes it SHUTDOWN), success=0
 * when timeout_ms (< 0: no limit) passed or the channel was destroyed first (the watch does not
 * keep it alive). Thread-safe; the completion is delivered as polyrpc/cq.h says. Errors: the
 * handle errors of ch; the cq errors; INVALID_ARGUMENT (last not a state, cq NULL). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_channel_watch_state(polyrpc_channel_t *ch,
                                                        polyrpc_connectivity_state_t last,
                                                        int64_t timeout_ms, polyrpc_cq_t *cq,
                                                        void *tag);
/* Cancels all calls and moves to SHUTDOWN (blocking up to 2 s until the state says so); calls
 * created afterwards end with UNAVAILABLE. Idempotent. Thread-safe. Errors: the handle errors of
 * ch. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_channel_close(polyrpc_channel_t *ch);
/* Releases the handle. Calls in flight keep the channel alive and finish normally (call
 * polyrpc_channel_close() first to cancel them); the connection closes when the last call is
 * gone. NULL is a no-op. Any thread; thread-compatible. Errors: none returned; a destroyed or
 * wrong handle sets polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_channel_destroy(polyrpc_channel_t *ch);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CHANNEL_H */
