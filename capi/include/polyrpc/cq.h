/*
 * polyrpc/cq.h - completion queues: how asynchronous operations report that they finished.
 *
 * Every asynchronous operation (polyrpc_call_*, polyrpc_server_request_call) takes a
 * (polyrpc_cq_t *cq, void *tag) pair and produces exactly one completion:
 *  - cq == NULL: the function blocks until the operation completes and returns its result:
 *    POLYRPC_OK for success=1, POLYRPC_ERROR_CLOSED for success=0 (end of stream, call over,
 *    server shut down). The blocking style; cancel it from another thread with
 *    polyrpc_call_cancel(), which makes the operation complete. A blocked client operation
 *    runs its call's I/O on the calling thread while it waits (no hand-off to an I/O thread):
 *    completions of other calls on the same I/O loop may then run on that thread too;
 *  - a queue cq (polyrpc_cq_create): the completion is queued; take it with polyrpc_cq_next()
 *    or, from an event loop, watch polyrpc_cq_fd() for readability and drain with a zero timeout;
 *  - a callback cq (polyrpc_cq_create_callback): the callback runs on the thread that
 *    completed the operation: an I/O thread, or a thread blocked in a blocking client operation
 *    on the same I/O loop (see above); never under an internal lock, so it must not block. An
 *    operation that can complete at once (polyrpc_server_request_call with a call already
 *    waiting) runs its callback on the calling thread before the function returns.
 * A function that returns an error started nothing: no completion will come for its tag.
 * One engine serves all three; none adds a thread hop over the others.
 */
#ifndef POLYRPC_CQ_H
#define POLYRPC_CQ_H

#include "polyrpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polyrpc_cq polyrpc_cq_t;
typedef struct polyrpc_call polyrpc_call_t;

typedef enum polyrpc_event_type {
  POLYRPC_EVENT_NONE = 0,      /* polyrpc_cq_next timed out: no event */
  POLYRPC_EVENT_COMPLETE = 1,  /* an operation completed; see tag and success */
  POLYRPC_EVENT_SHUTDOWN = 2   /* the queue was shut down and is empty */
} polyrpc_event_type_t;

/* One completion. struct_size must be set by the caller to sizeof(polyrpc_event_t) so that the
 * struct can grow without an ABI break. */
typedef struct polyrpc_event {
  size_t struct_size;
  polyrpc_event_type_t type;
  void *tag;      /* the tag given when the operation was started */
  int success;    /* 1 if the operation did what it says, 0 otherwise (see each operation) */
} polyrpc_event_t;

/* Callback of a callback cq: runs on an I/O thread, must not block; success as above. */
typedef void (*polyrpc_completion_fn)(void *tag, int success, void *user_data);

/* Creates a queue cq. *out owned by the caller (polyrpc_cq_destroy). Thread-safe. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_create(polyrpc_cq_t **out);
/* Creates a callback cq: fn(tag, success, user_data) per completion. user_data_free(user_data),
 * if not NULL, runs when the cq is destroyed and no callback can run any more. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_create_callback(polyrpc_completion_fn fn, void *user_data,
                                                       void (*user_data_free)(void *),
                                                       polyrpc_cq_t **out);
/* Waits up to timeout_ms (0 = poll, -1 = forever) for the next completion and fills *event
 * (event->type NONE on timeout). Thread-safe: several threads may wait on one cq.
 * WRONG_STATE for a callback cq. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_next(polyrpc_cq_t *cq, int timeout_ms,
                                            polyrpc_event_t *event);
/* A file descriptor that is readable while completions are pending (an eventfd). Owned by the
 * cq: do not close or read it; drain with polyrpc_cq_next(cq, 0, ...) until NONE. Thread-safe.
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_fd(polyrpc_cq_t *cq, int *fd);
/* Stops accepting new operations; pending ones still complete, then SHUTDOWN is delivered.
 * Thread-safe. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_shutdown(polyrpc_cq_t *cq);
/* Destroys the cq. Operations still pending on it complete silently (their completions are
 * dropped). NULL is a no-op. Since 0.1. */
POLYRPC_API void polyrpc_cq_destroy(polyrpc_cq_t *cq);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CQ_H */
