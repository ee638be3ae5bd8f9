/*
 * polyrpc/server.h - servers. Register methods, add listeners, start, then ask for incoming calls
 * with polyrpc_server_request_call(). Calls to methods that are not registered get UNIMPLEMENTED
 * from the core, unless polyrpc_server_enable_generic() was called (then they are delivered too).
 * A server is thread-safe.
 */
#ifndef POLYRPC_SERVER_H
#define POLYRPC_SERVER_H

#include "polyrpc/call.h"
#include "polyrpc/channel.h"
#include "polyrpc/common.h"
#include "polyrpc/cq.h"
#include "polyrpc/credentials.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polyrpc_server polyrpc_server_t;

/* opts may be NULL (gRPC names: "grpc.max_receive_message_length", "grpc.keepalive_time_ms",
 * "grpc.http2.min_recv_ping_interval_without_data_ms", "grpc.http2.max_ping_strikes", ...). */
POLYRPC_API polyrpc_error_t polyrpc_server_create(const polyrpc_options_t *opts,
                                                  polyrpc_server_t **out);
/* Before start. address: "0.0.0.0:50051", "[::]:0", "localhost:0", "unix:/path". *port gets the
 * bound port (0 for unix; port may be NULL). IO on bind failure. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_add_listener(polyrpc_server_t *server,
                                                        const char *address,
                                                        const polyrpc_server_credentials_t *creds,
                                                        int *port);
/* Before start: accept calls to this method path. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_register_method(polyrpc_server_t *server,
                                                           const char *path);
/* Before start: also accept calls to unregistered methods (a catch-all handler). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_enable_generic(polyrpc_server_t *server);
POLYRPC_API polyrpc_error_t polyrpc_server_start(polyrpc_server_t *server);
/* Asks for the next incoming call: completes with success=1 and *call set (owned by the caller,
 * polyrpc_call_destroy), or success=0 when the server shuts down. call_out must stay valid until
 * the completion. Incoming calls wait in a queue until requested. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_request_call(polyrpc_server_t *server,
                                                        polyrpc_call_t **call_out,
                                                        polyrpc_cq_t *cq, void *tag);
/* Graceful shutdown: no new connections or calls (GOAWAY), in-flight calls may finish for up to
 * timeout_ms (< 0: no limit), then the rest are cancelled; pending request_call operations
 * complete with success=0. Blocks until done. Idempotent. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_shutdown(polyrpc_server_t *server, int64_t timeout_ms);
/* Shuts down (timeout 0) if needed and releases the server. NULL is a no-op. Since 0.1. */
POLYRPC_API void polyrpc_server_destroy(polyrpc_server_t *server);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_SERVER_H */
