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
 * Thread-safety: all call functions are thread-safe; polyrpc_call_cancel() is safe from any
 * thread at any time, including while another thread blocks in an operation of the same call.
 */
#ifndef POLYRPC_CALL_H
#define POLYRPC_CALL_H

#include "polyrpc/channel.h"
#include "polyrpc/common.h"
#include "polyrpc/cq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Call creation flags. */
#define POLYRPC_CALL_WAIT_FOR_READY 1u /* queue until the channel is ready instead of failing */

/* Write flags. */
#define POLYRPC_WRITE_NO_COMPRESS 1u /* send this message uncompressed */
#define POLYRPC_WRITE_LAST 2u        /* client: half-close together with this message */

typedef struct polyrpc_call_credentials polyrpc_call_credentials_t;

/* Per-call credentials sending "authorization: Bearer <token>". token copied. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_credentials_create_bearer(
    const char *token, polyrpc_call_credentials_t **out);
POLYRPC_API void polyrpc_call_credentials_destroy(polyrpc_call_credentials_t *creds);

/* ---- Client calls ---- */

/* Creates a client call of method ("/package.Service/Method") on ch. timeout_ms < 0: no deadline.
 * metadata (may be NULL) is copied. flags: POLYRPC_CALL_*. Nothing is sent until the first
 * operation. *out owned by the caller. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_create(polyrpc_channel_t *ch, const char *method,
                                                int64_t timeout_ms,
                                                const polyrpc_metadata_t *metadata,
                                                uint32_t flags, polyrpc_call_t **out);
/* Before the first operation: compression of request messages ("identity", "deflate", "gzip");
 * authority overrides :authority; creds adds per-call credentials (copied). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_compression(polyrpc_call_t *call,
                                                         const char *algorithm);
POLYRPC_API polyrpc_error_t polyrpc_call_set_authority(polyrpc_call_t *call, const char *authority);
POLYRPC_API polyrpc_error_t polyrpc_call_set_credentials(polyrpc_call_t *call,
                                                         const polyrpc_call_credentials_t *creds);
/* Conformance test hook only: label compressed requests with an arbitrary grpc-encoding name. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_encoding_label_for_testing(polyrpc_call_t *call,
                                                                        const char *name);

/* Sends the request headers. Optional (the first other operation sends them). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_start(polyrpc_call_t *call, polyrpc_cq_t *cq, void *tag);
/* Half-close (client): no more messages. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_close_send(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                    void *tag);
/* Completes when the server's initial metadata arrived (success=0 if the call ended without
 * any). Then polyrpc_call_initial_metadata(). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_initial_metadata(polyrpc_call_t *call,
                                                               polyrpc_cq_t *cq, void *tag);
/* The server's initial metadata, borrowed until the call is destroyed; empty before. */
POLYRPC_API const polyrpc_metadata_t *polyrpc_call_initial_metadata(polyrpc_call_t *call);
/* Completes when the call is over (always success=1). Then polyrpc_call_status(). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_status(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                     void *tag);
/* The final status: *code and *message (borrowed, NUL-terminated, until the call is destroyed;
 * either pointer may be NULL). WRONG_STATE before the call is over. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_status(polyrpc_call_t *call, int *code,
                                                const char **message);
/* Trailing metadata, borrowed until the call is destroyed; empty before the end. */
POLYRPC_API const polyrpc_metadata_t *polyrpc_call_trailing_metadata(polyrpc_call_t *call);

/* Blocking unary call on a fresh client call: sends request, half-closes, waits for the reply and
 * the status. Returns OK when the call ran (whatever its gRPC status: read polyrpc_call_status);
 * *response (owned by the caller) is the reply, or NULL if the status is not OK. Releases no
 * locks of the caller's runtime: bindings release their GIL/GVL around it. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_unary(polyrpc_call_t *call,
                                               const polyrpc_buffer_t *request,
                                               polyrpc_buffer_t **response);

/* ---- Both sides ---- */

/* Sends one message. The call takes its own reference to buf: the caller keeps (and must still
 * destroy) its handle. flags: POLYRPC_WRITE_*. success=0 if the call ended first. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_send_message(polyrpc_call_t *call,
                                                      const polyrpc_buffer_t *buf, uint32_t flags,
                                                      polyrpc_cq_t *cq, void *tag);
/* Receives the next message: success=1 and polyrpc_call_take_message() gives it; success=0 at
 * the end of the stream or when the call failed. Blocking (cq NULL): a message that has already
 * arrived is returned at once on the calling thread, without a round trip through the I/O
 * thread, so reading a stream costs no thread hand-off per message. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_message(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                      void *tag);
/* Takes the message of the last successful recv: *out owned by the caller (NULL if none);
 * *compressed (may be NULL) tells whether it arrived compressed. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_take_message(polyrpc_call_t *call, polyrpc_buffer_t **out,
                                                      int *compressed);
/* Cancels the call (client: RST_STREAM CANCEL, status CANCELLED; server: the client sees
 * CANCELLED). Safe from any thread at any time; no-op once over. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_cancel(polyrpc_call_t *call);
/* Peer address ("ipv4:127.0.0.1:5000"), borrowed until the call is destroyed. */
POLYRPC_API const char *polyrpc_call_peer(polyrpc_call_t *call);
/* Releases the handle (cancelling the call if not over). NULL is a no-op. Since 0.1. */
POLYRPC_API void polyrpc_call_destroy(polyrpc_call_t *call);

/* ---- Server calls (from polyrpc_server_request_call) ---- */

/* Method path and authority, borrowed until the call is destroyed. NULL for client calls. */
POLYRPC_API const char *polyrpc_call_method(polyrpc_call_t *call);
POLYRPC_API const char *polyrpc_call_authority(polyrpc_call_t *call);
/* The client's request metadata, borrowed until the call is destroyed. */
POLYRPC_API const polyrpc_metadata_t *polyrpc_call_request_metadata(polyrpc_call_t *call);
/* Milliseconds left before the client's deadline (0 if passed, -1 if none). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_time_remaining_ms(polyrpc_call_t *call, int64_t *ms);
/* Response compression ("identity", "deflate", "gzip"), before the first message. */
POLYRPC_API polyrpc_error_t polyrpc_call_set_response_compression(polyrpc_call_t *call,
                                                                  const char *algorithm);
/* Sends initial metadata (md may be NULL; copied). Optional. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_send_initial_metadata(polyrpc_call_t *call,
                                                               const polyrpc_metadata_t *md,
                                                               polyrpc_cq_t *cq, void *tag);
/* Sends the status (code 0..16), message (NUL-terminated UTF-8, may be NULL) and trailing
 * metadata (may be NULL; copied), ending the call. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_send_status(polyrpc_call_t *call, int code,
                                                     const char *message,
                                                     const polyrpc_metadata_t *trailers,
                                                     polyrpc_cq_t *cq, void *tag);
/* Completes (success=1) when the server call is over; then polyrpc_call_is_cancelled(). */
POLYRPC_API polyrpc_error_t polyrpc_call_recv_close(polyrpc_call_t *call, polyrpc_cq_t *cq,
                                                    void *tag);
/* *cancelled = 1 if the call ended without its status being sent (client cancel, deadline,
 * connection loss). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_call_is_cancelled(polyrpc_call_t *call, int *cancelled);
/* Conformance test hook only: drops the call's whole connection abruptly. */
POLYRPC_API polyrpc_error_t polyrpc_call_close_connection_for_testing(polyrpc_call_t *call);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CALL_H */
