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
 * A function that returns an error started nothing: no completion will come for its tag. Such a
 * function's errors include, for its cq argument, the handle errors and CLOSED once the cq is
 * shut down ("the cq errors"). A callback cq's callbacks also run on the calling thread inside
 * polyrpc_cq_cancel_pending() and polyrpc_cq_destroy().
 * One engine serves all three; none adds a thread hop over the others.
 */
#ifndef POLYRPC_CQ_H
#define POLYRPC_CQ_H

#include "polyrpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A completion queue: where asynchronous operations report (see above). Created by
 * polyrpc_cq_create or polyrpc_cq_create_callback, owned by the caller, released with
 * polyrpc_cq_destroy; each pending operation keeps the queue's engine alive. Thread-safe.
 * Since 0.1. */
typedef struct polyrpc_cq polyrpc_cq_t;
/* A call, client or server side (polyrpc/call.h). Created by polyrpc_call_create or received
 * from a server (polyrpc_server_request_call, polyrpc_server_take_call), owned by the caller,
 * released with polyrpc_call_destroy. Thread-safe. Since 0.1. */
typedef struct polyrpc_call polyrpc_call_t;

/* What polyrpc_cq_next returned (polyrpc_event_t.type). Append-only. Since 0.1. */
typedef enum polyrpc_event_type {
  POLYRPC_EVENT_NONE = 0,        /* polyrpc_cq_next timed out: no event */
  POLYRPC_EVENT_COMPLETE = 1,    /* an operation completed; see tag and success */
  POLYRPC_EVENT_SHUTDOWN = 2,    /* the queue was shut down and is empty */
  POLYRPC_EVENT_WAKEUP = 3,      /* polyrpc_cq_wake() was called (tag NULL). Since 0.2. */
  POLYRPC_EVENT_INTERRUPTED = 4  /* a signal interrupted the wait (polyrpc_cq_set_interruptible;
                                    tag NULL). Since 0.2. */
} polyrpc_event_type_t;

/* One completion, filled by polyrpc_cq_next() in caller memory. struct_size must be set by the
 * caller to sizeof(polyrpc_event_t) so that the struct can grow without an ABI break. tag is the
 * caller's pointer, handed back as given. Since 0.1. */
typedef struct polyrpc_event {
  size_t struct_size;
  polyrpc_event_type_t type;
  void *tag;      /* the tag given when the operation was started */
  int success;    /* 1 if the operation did what it says, 0 otherwise (see each operation) */
} polyrpc_event_t;

/* Callback of a callback cq, once per completion: tag as given to the operation, success as in
 * polyrpc_event_t, user_data as given to polyrpc_cq_create_callback. Runs on the thread that
 * completed the operation (see above), never under an internal lock; it must not block, and may
 * start the next operation. Since 0.1. */
typedef void (*polyrpc_completion_fn)(void *tag, int success, void *user_data);

/* Creates a queue cq. *out owned by the caller (polyrpc_cq_destroy). Thread-safe.
 * Errors: INVALID_ARGUMENT (out NULL); IO if no eventfd can be created. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_create(polyrpc_cq_t **out);
/* Creates a callback cq: fn(tag, success, user_data) per completion. user_data is the caller's,
 * handed to fn as given; user_data_free(user_data), if not NULL, runs once when the cq is
 * destroyed and no callback can run any more: in polyrpc_cq_destroy(), or later on the I/O
 * thread that completes the last operation still under way. If the function fails,
 * user_data_free is NOT called. *out owned by the caller (polyrpc_cq_destroy). Thread-safe.
 * Errors: INVALID_ARGUMENT (out or fn NULL). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_create_callback(polyrpc_completion_fn fn, void *user_data,
                                                       polyrpc_free_fn user_data_free,
                                                       polyrpc_cq_t **out);
/* Waits up to timeout_ms (0 = poll, < 0 = forever) for the next event of a queue cq and fills
 * *event (caller memory): COMPLETE, NONE on timeout, SHUTDOWN once shut down and drained,
 * WAKEUP, INTERRUPTED. Thread-safe: several threads may wait on one cq. Errors: the handle
 * errors of cq; INVALID_ARGUMENT (event NULL or event->struct_size too small); WRONG_STATE for a
 * callback cq. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_next(polyrpc_cq_t *cq, int timeout_ms,
                                            polyrpc_event_t *event);
/* *fd: a file descriptor (an eventfd) that is readable while the queue has events to take
 * (completions, wake-ups, the final SHUTDOWN). Owned by the cq: do not close or read it; drain
 * with polyrpc_cq_next(cq, 0, ...) until NONE. Thread-safe. Errors: the handle errors of cq;
 * INVALID_ARGUMENT (fd NULL); WRONG_STATE for a callback cq. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_fd(polyrpc_cq_t *cq, int *fd);
/* Stops accepting new operations (they fail with CLOSED); pending ones still complete, then a
 * queue cq delivers SHUTDOWN. Idempotent. Thread-safe. Errors: the handle errors of cq.
 * Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_cq_shutdown(polyrpc_cq_t *cq);
/* Makes one thread blocked in polyrpc_cq_next(cq) return, with a POLYRPC_EVENT_WAKEUP event (tag
 * NULL); if none is waiting, the next call returns it. Each call delivers one WAKEUP. It is how
 * another thread ends a wait on demand: Ruby's unblocking function, a C# CancellationToken, a
 * host's shutdown. Async-signal-safe (an atomic counter and an eventfd write: it may be called
 * from a signal handler) and thread-safe. Errors: the handle errors of cq; WRONG_STATE for a
 * callback cq; without a polyrpc_last_error() message (it would allocate). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_cq_wake(polyrpc_cq_t *cq);
/* on != 0: a wait in polyrpc_cq_next(cq) that a signal handler interrupts (EINTR) returns a
 * POLYRPC_EVENT_INTERRUPTED event instead of waiting on, so that a host whose signal handlers run
 * only once control returns to it (PHP's pcntl) can run them and call again. Off by default.
 * Thread-safe. Errors: the handle errors of cq; WRONG_STATE for a callback cq. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_cq_set_interruptible(polyrpc_cq_t *cq, int on);
/* Completes every operation pending on cq now, with success=0 (queue cq: the events are queued;
 * callback cq: the callbacks run on this thread before the function returns). The operations'
 * own completions, when they come, are dropped: every tag comes back exactly once. With
 * polyrpc_cq_shutdown() before it, the queue then delivers SHUTDOWN as soon as those events are
 * taken, without waiting for the network: how a host that owns tags (GC handles, rooted objects)
 * tears a queue down in whatever order its objects are finalised. The calls themselves go on
 * (cancel them to end them). Thread-safe. Errors: the handle errors of cq. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_cq_cancel_pending(polyrpc_cq_t *cq);
/* Destroys the cq. A callback cq first completes its pending operations with success=0, on this
 * thread (as polyrpc_cq_cancel_pending), so every tag comes back; a queue cq drops the
 * completions still queued or pending (call polyrpc_cq_cancel_pending and drain it first to get
 * their tags). A thread already waiting in polyrpc_cq_next(cq) returns SHUTDOWN. NULL is a no-op.
 * Any thread; thread-compatible. Errors: none returned; a destroyed or wrong handle sets
 * polyrpc_last_error() and is left alone. Since 0.1 (callback cq tags: since 0.2). */
POLYRPC_API void polyrpc_cq_destroy(polyrpc_cq_t *cq);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_CQ_H */
