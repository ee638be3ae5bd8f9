/*
 * polyrpc/server.h - servers. Register methods, add listeners, start, then ask for incoming calls
 * with polyrpc_server_request_call(). Calls to methods that are not registered get UNIMPLEMENTED
 * from the core, unless polyrpc_server_enable_generic() was called (then they are delivered too).
 * A server is thread-safe once started; its setup (polyrpc_server_add_listener, _register_method,
 * _enable_generic, _start) is thread-compatible.
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

/* A server (see above). Created by polyrpc_server_create, owned by the caller, released with
 * polyrpc_server_destroy; its calls keep their connection alive. Thread-safe once started.
 * Since 0.1. */
typedef struct polyrpc_server polyrpc_server_t;

/* Creates a server. opts may be NULL (gRPC names: "grpc.max_receive_message_length",
 * "grpc.keepalive_time_ms", "grpc.http2.min_recv_ping_interval_without_data_ms",
 * "grpc.http2.max_ping_strikes", ...); the server copies them. *out owned by the caller
 * (polyrpc_server_destroy). Thread-safe. Errors: the handle errors of opts if not NULL;
 * INVALID_ARGUMENT (out NULL); IO if no I/O thread can be started. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_create(const polyrpc_options_t *opts,
                                                  polyrpc_server_t **out);
/* Before start. address: "0.0.0.0:50051", "[::]:0", "localhost:0", "unix:/path". creds required
 * (the listener keeps its own copy). *port gets the bound port (0 for unix; port may be NULL).
 * Thread-compatible. Errors: the handle errors of server and creds; INVALID_ARGUMENT (address
 * NULL or empty); WRONG_STATE after start; CLOSED after shutdown; IO when the address cannot be
 * parsed, resolved or bound; TLS when the credentials' certificate or key is refused.
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_add_listener(polyrpc_server_t *server,
                                                        const char *address,
                                                        const polyrpc_server_credentials_t *creds,
                                                        int *port);
/* Before start: accept calls to this method path (copied; registering it again is harmless).
 * Thread-compatible. Errors: the handle errors of server; INVALID_ARGUMENT (path NULL or not
 * starting with "/"); WRONG_STATE after start; CLOSED after shutdown. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_register_method(polyrpc_server_t *server,
                                                           const char *path);
/* Before start: also accept calls to unregistered methods (a catch-all handler).
 * Thread-compatible. Errors: the handle errors of server; WRONG_STATE after start; CLOSED after
 * shutdown. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_enable_generic(polyrpc_server_t *server);

/* The serving status of a service in the health service (grpc.health.v1's ServingStatus, the
 * wire values), given to polyrpc_server_set_health_status() as an int. Since 0.2. */
typedef enum polyrpc_health_status {
  POLYRPC_HEALTH_UNKNOWN = 0,
  POLYRPC_HEALTH_SERVING = 1,
  POLYRPC_HEALTH_NOT_SERVING = 2,
  POLYRPC_HEALTH_SERVICE_UNKNOWN = 3 /* no status: the service is forgotten */
} polyrpc_health_status_t;

/* Before start: serve the gRPC health checking protocol, grpc.health.v1.Health (Check and
 * Watch), as Kubernetes probes, grpc-health-probe and load balancers ask it. The server as a
 * whole (service "") starts SERVING; other services have no status (Check answers NOT_FOUND,
 * Watch SERVICE_UNKNOWN) until polyrpc_server_set_health_status() gives them one. The core
 * answers these calls itself on its I/O threads: they never reach polyrpc_server_request_call.
 * When the server shuts down, every service turns NOT_SERVING, each Watch stream is told so and
 * then ends with UNAVAILABLE, and later changes are ignored. Enabling it twice is harmless.
 * Thread-compatible. Errors: the handle errors of server; WRONG_STATE after start; CLOSED after
 * shutdown. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_server_enable_health(polyrpc_server_t *server);
/* Sets the health status of service (NUL-terminated UTF-8, copied; "" is the whole server) to
 * status (a polyrpc_health_status_t): Check answers it from now on, and every Watch of that
 * service receives it (changes faster than a client reads are coalesced to the latest).
 * POLYRPC_HEALTH_SERVICE_UNKNOWN forgets the service. Any time after
 * polyrpc_server_enable_health(), before or after start; ignored once the server shuts down.
 * Thread-safe. Errors: the handle errors of server; INVALID_ARGUMENT (service NULL, status not
 * one of polyrpc_health_status_t); WRONG_STATE (the health service is not enabled). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_server_set_health_status(polyrpc_server_t *server,
                                                             const char *service, int status);
/* Starts serving on the listeners added. Thread-compatible with the setup functions above.
 * Errors: the handle errors of server; WRONG_STATE if already started; CLOSED after shutdown; IO
 * without any listener. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_start(polyrpc_server_t *server);
/* Asks for the next incoming call: completes with success=1 and *call_out set (owned by the caller,
 * polyrpc_call_destroy), or success=0 when the server shuts down. call_out must stay valid until
 * the completion, which writes it from an I/O thread: bindings of garbage-collected runtimes use
 * polyrpc_server_request_call_v2() instead. Incoming calls wait in a queue until requested; any
 * number of requests may be pending. Blocking (cq NULL): returns OK with *call_out set, or CLOSED
 * once the server shuts down (polyrpc_server_shutdown() from another thread ends the wait).
 * Thread-safe; the completion runs on the connection's I/O thread, on the calling thread before
 * the function returns when a call is already waiting, or (success=0) on the thread that shuts
 * the server down. Errors: the handle errors of server; the cq errors; INVALID_ARGUMENT
 * (call_out NULL); WRONG_STATE before start; CLOSED after shutdown. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_request_call(polyrpc_server_t *server,
                                                        polyrpc_call_t **call_out,
                                                        polyrpc_cq_t *cq, void *tag);
/* Asks for the next incoming call, without a pointer written later: the completion (success=1)
 * leaves the new call with the server under tag, and polyrpc_server_take_call(server, tag, ...)
 * hands it over on the thread that received the event. success=0: the server shut down (nothing
 * to take). tag must be unique among this server's requests that are pending or not yet taken
 * (BUSY otherwise); it may be NULL only for one such request at a time. Blocking (cq NULL):
 * returns OK once a call is there to take, or CLOSED when the server shuts down
 * (polyrpc_server_shutdown() from another thread ends the wait; to wait interruptibly, use a
 * cq and polyrpc_cq_wake). Thread-safe; the completion runs as polyrpc_server_request_call()'s.
 * Errors: the handle errors of server; the cq errors; BUSY (tag in use); WRONG_STATE before
 * start; CLOSED after shutdown. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_server_request_call_v2(polyrpc_server_t *server,
                                                           polyrpc_cq_t *cq, void *tag);
/* Takes the call that the request with this tag received: *out owned by the caller
 * (polyrpc_call_destroy). Calls never taken are cancelled when the server is destroyed.
 * Thread-safe. Errors: the handle errors of server; INVALID_ARGUMENT (out NULL); NOT_FOUND if
 * that request has not completed with success=1, or its call was taken already. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_server_take_call(polyrpc_server_t *server, void *tag,
                                                     polyrpc_call_t **out);
/* Graceful shutdown: no new connections or calls (GOAWAY), in-flight calls may finish for up to
 * timeout_ms (< 0: no limit), then the rest are cancelled; pending request_call operations
 * complete with success=0. Blocks until done. Idempotent. Thread-safe. Errors: the handle errors
 * of server. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_server_shutdown(polyrpc_server_t *server, int64_t timeout_ms);
/* The same graceful shutdown without blocking: it begins now (listeners close, GOAWAY, pending
 * requests complete with success=0) and one completion on cq with tag (success=1) reports that it
 * is done, every connection closed. For a host that serves its calls from the same thread that
 * shuts the server down (PHP): blocking there would starve the very calls being waited for. cq
 * must not be NULL (polyrpc_server_shutdown blocks). The wait runs on a thread of its own (a
 * shutdown is rare); destroying the server meanwhile waits for it. A second shutdown of either
 * kind completes when the first is done. Thread-safe. Errors: the handle errors of server; the cq
 * errors; INVALID_ARGUMENT (cq NULL). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_server_shutdown_async(polyrpc_server_t *server,
                                                          int64_t timeout_ms, polyrpc_cq_t *cq,
                                                          void *tag);
/* Shuts down (timeout 0) if needed and releases the server; a thread blocked in a request of it
 * returns CLOSED. NULL is a no-op. Any thread; thread-compatible. Errors: none returned; a
 * destroyed or wrong handle sets polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_server_destroy(polyrpc_server_t *server);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_SERVER_H */
