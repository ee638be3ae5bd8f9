/*
 * polyrpc/call.h - calls, client and server side. One operation, one completion: each
 * polyrpc_call_<op>(call, ..., cq, tag) starts one operation that completes once, through cq
 * (see polyrpc/cq.h; cq == NULL blocks until completion). At most one operation of each kind
 * (send, recv message, recv metadata, ...) may be pending per call (else BUSY).
 *
 * Ownership: a call handle is owned by whoever created or received it and released with
 * polyrpc_call_destroy(). The call keeps its channel (or server connection) alive. Destroying a
 * call that is not over cancels it; operations still pending then complete with success=0 and
 * are still delivered to their cq (so that tags can be freed).
 * Thread-safety: all call functions are thread-safe, except the client setters
 * (polyrpc_call_set_compression, _set_authority, _set_credentials,
 * _set_encoding_label_for_testing), which are thread-compatible: nothing else may run on the
 * call meanwhile. polyrpc_call_cancel() is safe from any thread at any time, including while
 * another thread blocks in an operation of the same call. Completions are delivered as
 * polyrpc/cq.h says.
 * Errors of every operation ("the operation errors"): the handle errors of call; the cq errors
 * (polyrpc/cq.h); BUSY while one of its kind is pending; blocking (cq NULL), CLOSED when it
 * completes with success=0.
 */
#ifndef POLYRPC_CALL_H
#define POLYRPC_CALL_H

#include "polyrpc/channel.h"
#include "polyrpc/common.h"
#include "polyrpc/cq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* polyrpc_call_create() flag: queue the call until the channel is ready instead of failing
 * while it cannot connect (gRPC's wait-for-ready). Since 0.1. */
#define POLYRPC_CALL_WAIT_FOR_READY 1u

/* Write flags (polyrpc_call_send_message, polyrpc_call_write), or-ed. Since 0.1. */
#define POLYRPC_WRITE_NO_COMPRESS 1u /* send this message uncompressed */
#define POLYRPC_WRITE_LAST 2u        /* client: half-close together with this message */

/* Per-call credentials (polyrpc_call_set_credentials). Created by
 * polyrpc_call_credentials_create_bearer, owned by the caller, released with
 * polyrpc_call_credentials_destroy; a call copies them. Immutable, thread-safe. Since 0.1. */
typedef struct polyrpc_call_credentials polyrpc_call_credentials_t;

/* Per-call credentials sending "authorization: Bearer <token>". token (NUL-terminated) copied.
 * *out owned by the caller (polyrpc_call_credentials_destroy). Thread-safe. Errors:
 * INVALID_ARGUMENT (out or token NULL, a token byte outside 0x20-0x7E). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_credentials_create_bearer(
    const char *token, polyrpc_call_credentials_t **out);
/* Releases creds; calls they were set on keep their copy. NULL is a no-op. Any thread;
 * thread-compatible. Errors: none returned; a destroyed or wrong handle sets
 * polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_call_credentials_destroy(polyrpc_call_credentials_t *creds);

/* ---- Client calls ---- */

/* Creates a client call of method ("/package.Service/Method", copied) on ch. timeout_ms < 0: no
 * deadline. metadata (may be NULL) is copied. flags: POLYRPC_CALL_*. Nothing is sent until the
 * first operation; on a closed channel the call ends with UNAVAILABLE. The call keeps ch alive.
 * *out owned by the caller (polyrpc_call_destroy). Thread-safe. Errors: the handle errors of ch,
 * and of metadata if not NULL; INVALID_ARGUMENT (out NULL, method NULL or not starting with "/",
 * unknown flags). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_create(polyrpc_channel_t *ch, const char *method,
                                                int64_t timeout_ms,
                                                const polyrpc_metadata_t *metadata,
                                                uint32_t flags, polyrpc_call_t **out);
/* Before the first operation: compression of request messages ("identity", "deflate", "gzip";
 * copied). Thread-compatible. Errors: the handle errors of call; INVALID_ARGUMENT (another
 * algorithm, NULL); WRONG_STATE (a server call, or an operation has started). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_compression(polyrpc_call_t *call,
                                                         const char *algorithm);
/* Before the first operation: authority (copied) overrides the :authority header.
 * Thread-compatible. Errors: the handle errors of call; INVALID_ARGUMENT (authority NULL or
 * empty); WRONG_STATE (a server call, or an operation has started). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_authority(polyrpc_call_t *call, const char *authority);
/* Before the first operation: adds per-call credentials (copied: creds may be destroyed at once).
 * Thread-compatible. Errors: the handle errors of call and creds; WRONG_STATE (a server call, or
 * an operation has started). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_credentials(polyrpc_call_t *call,
                                                         const polyrpc_call_credentials_t *creds);
/* Conformance test hook only: label compressed requests with an arbitrary grpc-encoding name
 * (copied). Before the first operation. Thread-compatible. Errors: the handle errors of call;
 * INVALID_ARGUMENT (name NULL or empty); WRONG_STATE (a server call, or an operation has
 * started). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_encoding_label_for_testing(polyrpc_call_t *call,
                                                                        const char *name);

/* Sends the request headers. Optional (the first other operation sends them). Errors: the
 * operation errors; WRONG_STATE (a server call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_start(polyrpc_call_t *call, polyrpc_cq_t *cq, void *tag);
/* Half-close (client): no more messages. success=0 if the call ended first. Errors: the
 * operation errors; WRONG_STATE (a server call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_close_send(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                    void *tag);
/* Completes when the server's initial metadata arrived (success=0 if the call ended without
 * any). Then polyrpc_call_initial_metadata(). Errors: the operation errors; WRONG_STATE (a
 * server call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_initial_metadata(polyrpc_call_t *call,
                                                               polyrpc_cq_t *cq, void *tag);
/* The server's initial metadata: owned by the call (read-only, never destroyed by the caller),
 * borrowed until the call is destroyed; empty until polyrpc_call_recv_initial_metadata() or
 * polyrpc_call_recv_status() has completed, and for server calls. Thread-safe. Errors: returns
 * NULL and sets polyrpc_last_error() for the handle errors of call. Since 0.1. */
POLYRPC_API const polyrpc_metadata_t *polyrpc_call_initial_metadata(polyrpc_call_t *call);
/* Completes when the call is over (always success=1; a blocking wait is ended only by the end of
 * the call, which polyrpc_call_cancel() brings). Then polyrpc_call_status(). Errors: the
 * operation errors; WRONG_STATE (a server call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_status(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                     void *tag);
/* The final status: *code and *message (borrowed, NUL-terminated, until the call is destroyed;
 * either pointer may be NULL). Thread-safe. Errors: the handle errors of call; WRONG_STATE (a
 * server call, or before polyrpc_call_recv_status() or polyrpc_call_unary() has completed).
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_status(polyrpc_call_t *call, int *code,
                                                const char **message);
/* Trailing metadata: owned by the call (read-only), borrowed until the call is destroyed; empty
 * until polyrpc_call_recv_status() has completed, and for server calls. Thread-safe. Errors:
 * returns NULL and sets polyrpc_last_error() for the handle errors of call. Since 0.1. */
POLYRPC_API const polyrpc_metadata_t *polyrpc_call_trailing_metadata(polyrpc_call_t *call);

/* Blocking unary call on a fresh client call: sends request, half-closes, waits for the reply and
 * the status. Returns OK when the call ran (whatever its gRPC status: read polyrpc_call_status);
 * *response (owned by the caller, polyrpc_buffer_destroy) is the reply, or NULL if the status is
 * not OK. The call takes its own reference to request: the caller still destroys it. Runs the
 * call's I/O on the calling thread; polyrpc_call_cancel() from another thread ends it
 * (CANCELLED). Releases no locks of the caller's runtime: bindings release their GIL/GVL around
 * it. Thread-safe. Errors: the handle errors of call and request; INVALID_ARGUMENT (response
 * NULL); WRONG_STATE (a server call, or an operation has started); BUSY (operations pending).
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_unary(polyrpc_call_t *call,
                                               const polyrpc_buffer_t *request,
                                               polyrpc_buffer_t **response);

/* ---- Both sides ---- */

/* Sends one message. The call takes its own reference to buf: the caller keeps (and must still
 * destroy) its handle. flags: POLYRPC_WRITE_*. success=0 if the call ended first. Errors: the
 * operation errors; the handle errors of buf; INVALID_ARGUMENT (unknown flags); WRONG_STATE
 * (POLYRPC_WRITE_LAST on a server call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_send_message(polyrpc_call_t *call,
                                                      const polyrpc_buffer_t *buf, uint32_t flags,
                                                      polyrpc_cq_t *cq, void *tag);
/* Receives the next message: success=1 and polyrpc_call_take_message() gives it; success=0 at
 * the end of the stream or when the call failed. Blocking (cq NULL): a message that has already
 * arrived is returned at once on the calling thread, without a round trip through the I/O
 * thread, so reading a stream costs no thread hand-off per message. Errors: the operation
 * errors. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_message(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                      void *tag);
/* Takes the message of the last successful recv: *out owned by the caller
 * (polyrpc_buffer_destroy; NULL if none); *compressed (may be NULL) tells whether it arrived
 * compressed. Thread-safe. Errors: the handle errors of call; INVALID_ARGUMENT (out NULL).
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_take_message(polyrpc_call_t *call, polyrpc_buffer_t **out,
                                                      int *compressed);
/* Blocking receive and take in one: returns OK with *out the next message (owned by the caller,
 * polyrpc_buffer_destroy), or OK with *out NULL at the end of the stream or once the call is
 * over (its status says why: an end of stream is a result, not an error). A message that has
 * already arrived is taken on this thread without a round trip through the I/O thread.
 * polyrpc_call_cancel() from another thread ends the wait (*out NULL). Thread-safe. Errors: only
 * misuse: the handle errors of call; INVALID_ARGUMENT (out NULL); BUSY if a receive is pending.
 * Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_call_read(polyrpc_call_t *call, polyrpc_buffer_t **out);
/* Blocking send: returns OK with *written 1 once the message is handed to the transport, or OK
 * with *written 0 if the call ended first (read the status: a finished call is a result, not an
 * error; a message over the send limit ends the call with RESOURCE_EXHAUSTED). buf and flags as
 * polyrpc_call_send_message(). polyrpc_call_cancel() from another thread ends the wait.
 * Thread-safe. Errors: only misuse: the handle errors of call and buf; INVALID_ARGUMENT (written
 * NULL, unknown flags); WRONG_STATE (POLYRPC_WRITE_LAST on a server call); BUSY if a send is
 * pending. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_call_write(polyrpc_call_t *call, const polyrpc_buffer_t *buf,
                                               uint32_t flags, int *written);
/* Cancels the call (client: RST_STREAM CANCEL, status CANCELLED; server: the client sees
 * CANCELLED). Safe from any thread at any time; no-op once over. Errors: the handle errors of
 * call. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_cancel(polyrpc_call_t *call);
/* Peer address ("ipv4:127.0.0.1:5000"; "" for a client call not started yet), borrowed until the
 * call is destroyed. Thread-safe. Errors: returns NULL and sets polyrpc_last_error() for the
 * handle errors of call. Since 0.1. */
POLYRPC_API const char *polyrpc_call_peer(polyrpc_call_t *call);
/* Releases the handle (cancelling the call if not over); operations still pending complete with
 * success=0 and are delivered. NULL is a no-op. Any thread; thread-compatible. Errors: none
 * returned; a destroyed or wrong handle sets polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_call_destroy(polyrpc_call_t *call);

/* ---- Server calls (from polyrpc_server_request_call) ---- */

/* Method path ("/package.Service/Method"), borrowed until the call is destroyed; NULL for a
 * client call (not an error). Thread-safe. Errors: returns NULL and sets polyrpc_last_error()
 * for the handle errors of call. Since 0.1. */
POLYRPC_API const char *polyrpc_call_method(polyrpc_call_t *call);
/* Authority (the :authority the client sent), borrowed until the call is destroyed; NULL for a
 * client call (not an error). Thread-safe. Errors: returns NULL and sets polyrpc_last_error()
 * for the handle errors of call. Since 0.1. */
POLYRPC_API const char *polyrpc_call_authority(polyrpc_call_t *call);
/* The client's request metadata (for a client call: the metadata it was created with): owned by
 * the call (read-only), borrowed until the call is destroyed. Thread-safe. Errors: returns NULL
 * and sets polyrpc_last_error() for the handle errors of call. Since 0.1. */
POLYRPC_API const polyrpc_metadata_t *polyrpc_call_request_metadata(polyrpc_call_t *call);
/* Milliseconds left before the client's deadline (0 if passed, -1 if none); for a client call,
 * its own deadline. Thread-safe. Errors: the handle errors of call; INVALID_ARGUMENT (ms NULL).
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_time_remaining_ms(polyrpc_call_t *call, int64_t *ms);
/* Response compression ("identity", "deflate", "gzip"), before the first message: used only if
 * the client accepts it, ignored once the response headers are out. Thread-safe. Errors: the
 * handle errors of call; INVALID_ARGUMENT (another algorithm, NULL); WRONG_STATE (a client
 * call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_response_compression(polyrpc_call_t *call,
                                                                  const char *algorithm);
/* Sends initial metadata (md may be NULL; copied). Optional (the first message or the status
 * sends it). Errors: the operation errors; the handle errors of md if not NULL; WRONG_STATE (a
 * client call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_send_initial_metadata(polyrpc_call_t *call,
                                                               const polyrpc_metadata_t *md,
                                                               polyrpc_cq_t *cq, void *tag);
/* Sends the status (code 0..16), message (NUL-terminated UTF-8, may be NULL; copied) and trailing
 * metadata (may be NULL; copied), ending the call. Errors: the operation errors; the handle
 * errors of trailers if not NULL; INVALID_ARGUMENT (code outside 0..16); WRONG_STATE (a client
 * call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_send_status(polyrpc_call_t *call, int code,
                                                     const char *message,
                                                     const polyrpc_metadata_t *trailers,
                                                     polyrpc_cq_t *cq, void *tag);
/* Completes (always success=1) when the server call is over; then polyrpc_call_is_cancelled().
 * Errors: the operation errors; WRONG_STATE (a client call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_close(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                    void *tag);
/* *cancelled = 1 if the call ended without its status being sent (client cancel, deadline,
 * connection loss). Thread-safe. Errors: the handle errors of call; INVALID_ARGUMENT (cancelled
 * NULL); WRONG_STATE (a client call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_is_cancelled(polyrpc_call_t *call, int *cancelled);
/* Conformance test hook only: drops the call's whole connection abruptly. Thread-safe. Errors:
 * the handle errors of call; WRONG_STATE (a client call). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_close_connection_for_testing(polyrpc_call_t *call);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CALL_H */
