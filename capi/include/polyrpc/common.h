/*
 * polyrpc/common.h - version, error model, export macro, message buffers and metadata.
 *
 * Conventions of the whole C API (see docs/c-api.md). Every declaration's comment says, in this
 * order: what it does; who owns each pointer; thread-safety; "Errors:"; "Since" (the version
 * that added the symbol, as capi/symbols-in-versions lists it).
 *  - Functions return polyrpc_error_t; POLYRPC_OK (0) is success, errors are negative. On error,
 *    polyrpc_last_error() gives a readable message for the calling thread; read it right away.
 *    Functions that return something else return NULL (or 0) on misuse and set that message.
 *  - Constructors are polyrpc_<object>_create(..., polyrpc_<object>_t **out) and leave *out NULL
 *    on failure; every object has a polyrpc_<object>_destroy() that accepts NULL.
 *  - gRPC status codes of calls are results (polyrpc_status_code_t), never API errors.
 *  - Ownership words: "borrowed until X" (valid until X; never free it), "owned by the caller"
 *    (free it with the function named), "copied" (the argument may be freed as soon as the
 *    function returns). Pointer arguments not mentioned are only read during the call.
 *  - Thread-safety words: "thread-safe" (any thread, concurrently), "thread-compatible" (any
 *    thread, the caller serialises), "single-thread" (one thread only), per function. A destroy
 *    function runs on any thread and is thread-compatible: nothing may use the handle meanwhile
 *    or afterwards.
 *  - "The handle errors" of a handle argument: INVALID_ARGUMENT when it is NULL or not a handle
 *    of its type; CLOSED when it was destroyed, or is a channel, server or call created before
 *    polyrpc_shutdown() or in a fork's parent. A NULL out pointer is INVALID_ARGUMENT too.
 *    NO_MEMORY and INTERNAL (a bug in polyrpc) may come from any function that returns
 *    polyrpc_error_t (polyrpc_cq_wake excepted) and are not repeated.
 */
#ifndef POLYRPC_COMMON_H
#define POLYRPC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(POLYRPC_BUILDING_LIBRARY)
#define POLYRPC_API __attribute__((visibility("default")))
#else
#define POLYRPC_API
#endif

/* Major version of these headers (polyrpc_version_number() tells the loaded library's).
 * Since 0.1. */
#define POLYRPC_VERSION_MAJOR 0
/* Minor version of these headers. Since 0.1. */
#define POLYRPC_VERSION_MINOR 2
/* Patch version of these headers. Since 0.1. */
#define POLYRPC_VERSION_PATCH 0
/* Version of these headers as text, equal to polyrpc_version() of the matching library.
 * Since 0.1. */
#define POLYRPC_VERSION_STRING "0.2.0"
/* Version of these headers as one number, (major << 16) | (minor << 8) | patch: compare it with
 * polyrpc_version_number() to find a library older than the headers. Since 0.1. */
#define POLYRPC_VERSION_NUMBER ((POLYRPC_VERSION_MAJOR << 16) | (POLYRPC_VERSION_MINOR << 8) | POLYRPC_VERSION_PATCH)
/* The ABI major version; it is in the SONAME (libpolyrpc.so.1) and changes only on an
 * incompatible break. Since 0.1. */
#define POLYRPC_ABI_VERSION 1

/* API error codes: what a function returns (polyrpc_error_name() names them). Append-only:
 * values are never renumbered or removed. Since 0.1. */
typedef enum polyrpc_error {
  POLYRPC_OK = 0,
  POLYRPC_ERROR_INVALID_ARGUMENT = -1, /* NULL or wrong argument, wrong handle type */
  POLYRPC_ERROR_CLOSED = -2,           /* object destroyed, closed or shut down; a blocking
                                          operation that did not succeed */
  POLYRPC_ERROR_NO_MEMORY = -3,        /* out of memory */
  POLYRPC_ERROR_BUSY = -4,             /* an operation of that kind is already pending */
  POLYRPC_ERROR_WRONG_STATE = -5,      /* not allowed now (e.g. a server op on a client call) */
  POLYRPC_ERROR_TIMEOUT = -6,          /* a wait ended at its deadline */
  POLYRPC_ERROR_IO = -7,               /* listen/bind failure, or the system refused a resource */
  POLYRPC_ERROR_TLS = -8,              /* bad certificate, key or TLS configuration */
  POLYRPC_ERROR_NOT_FOUND = -9,        /* no such item (metadata entry, call to take) */
  POLYRPC_ERROR_INTERNAL = -10         /* a bug in polyrpc; please report */
} polyrpc_error_t;

/* gRPC status codes (wire values): how a call ended, a result and never an API error
 * (polyrpc_call_status(), polyrpc_call_send_status(); polyrpc_status_code_name() names them).
 * Since 0.1. */
typedef enum polyrpc_status_code {
  POLYRPC_STATUS_OK = 0,
  POLYRPC_STATUS_CANCELLED = 1,
  POLYRPC_STATUS_UNKNOWN = 2,
  POLYRPC_STATUS_INVALID_ARGUMENT = 3,
  POLYRPC_STATUS_DEADLINE_EXCEEDED = 4,
  POLYRPC_STATUS_NOT_FOUND = 5,
  POLYRPC_STATUS_ALREADY_EXISTS = 6,
  POLYRPC_STATUS_PERMISSION_DENIED = 7,
  POLYRPC_STATUS_RESOURCE_EXHAUSTED = 8,
  POLYRPC_STATUS_FAILED_PRECONDITION = 9,
  POLYRPC_STATUS_ABORTED = 10,
  POLYRPC_STATUS_OUT_OF_RANGE = 11,
  POLYRPC_STATUS_UNIMPLEMENTED = 12,
  POLYRPC_STATUS_INTERNAL = 13,
  POLYRPC_STATUS_UNAVAILABLE = 14,
  POLYRPC_STATUS_DATA_LOSS = 15,
  POLYRPC_STATUS_UNAUTHENTICATED = 16
} polyrpc_status_code_t;

/* A function that releases what user_data points to (a GC root, a pinned buffer, a heap
 * block). Called once, on the thread stated where it is registered. Since 0.2 (the same type
 * was spelled out in 0.1's signatures). */
typedef void (*polyrpc_free_fn)(void *user_data);

/* The loaded library's version as text ("0.2.0"). Static storage, never freed. Thread-safe.
 * Errors: none. Since 0.1. */
POLYRPC_API const char *polyrpc_version(void);
/* The loaded library's POLYRPC_VERSION_NUMBER. Thread-safe. Errors: none. Since 0.1. */
POLYRPC_API uint32_t polyrpc_version_number(void);
/* Message of the last failing polyrpc call on this thread ("" if none; a success does not clear
 * it). Borrowed: valid until the next polyrpc call on this thread. Thread-safe (thread-local).
 * Errors: none. Since 0.1. */
POLYRPC_API const char *polyrpc_last_error(void);
/* Name of an error code ("POLYRPC_ERROR_CLOSED"); "POLYRPC_ERROR_UNKNOWN" for a value that is
 * not one. Static storage. Thread-safe. Errors: none. Since 0.1. */
POLYRPC_API const char *polyrpc_error_name(polyrpc_error_t err);
/* Name of a status code ("DEADLINE_EXCEEDED"); "UNKNOWN" outside 0..16. Static storage.
 * Thread-safe. Errors: none. Since 0.1. */
POLYRPC_API const char *polyrpc_status_code_name(int code);

/* ---- The library ----------------------------------------------------------------------- */

/* Stops the library: closes every channel (its calls end with CANCELLED), shuts every server down
 * (calls in flight may finish for up to timeout_ms, < 0: no limit, then they are cancelled), and
 * stops polyrpc's I/O threads; blocks until they have exited. Channels, servers and calls created
 * before stay valid handles, report CLOSED ("polyrpc_shutdown() was called") from then on, and
 * are destroyed as usual; completion queues, buffers, metadata, options and credentials keep
 * working. The next channel or server created starts the library again. For hosts whose runtime
 * waits at exit for every thread it has seen (Mono) or that unload the library: call it from the
 * exit hook or module shutdown. Thread-safe; idempotent. Errors: WRONG_STATE on a polyrpc I/O
 * thread (inside a completion callback), which cannot stop itself. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_shutdown(int64_t timeout_ms);

/* ---- Message buffers ---------------------------------------------------------------------- */

/* The bytes of one message. Buffers are immutable and reference-counted internally: sending one
 * hands the core a reference, not a copy. Created by polyrpc_buffer_create_copy/_wrap or
 * received (polyrpc_call_take_message, polyrpc_call_read), owned by the caller and released
 * with polyrpc_buffer_destroy(); a received buffer's bytes are read in place (borrowed) until
 * then. Reading is thread-safe; destroy is thread-compatible, from any thread. Since 0.1. */
typedef struct polyrpc_buffer polyrpc_buffer_t;

/* Creates a buffer holding a copy of len bytes at data (data may be NULL when len == 0). *out
 * owned by the caller (polyrpc_buffer_destroy). Thread-safe. Errors: INVALID_ARGUMENT (out
 * NULL, data NULL with len > 0). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_buffer_create_copy(const uint8_t *data, size_t len,
                                                       polyrpc_buffer_t **out);
/* Creates a buffer over caller memory without copying: data must stay valid and unchanged until
 * free_fn(user_data) is called, once neither the buffer nor the core needs the bytes any more;
 * free_fn may be NULL for memory that outlives everything. If the function fails, free_fn is NOT
 * called. *out owned by the caller (polyrpc_buffer_destroy). Thread-safe; free_fn runs on any
 * thread (the last to release the bytes, possibly an I/O thread), never under an internal lock.
 * Errors: INVALID_ARGUMENT (out NULL, data NULL with len > 0). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_buffer_create_wrap(const uint8_t *data, size_t len,
                                                       polyrpc_free_fn free_fn, void *user_data,
                                                       polyrpc_buffer_t **out);
/* The bytes of buf: *data (borrowed until polyrpc_buffer_destroy(buf)) and *len. Thread-safe.
 * Errors: the handle errors of buf; INVALID_ARGUMENT (data or len NULL). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_buffer_data(const polyrpc_buffer_t *buf, const uint8_t **data,
                                                size_t *len);
/* Length of buf in bytes; 0 for NULL. Thread-safe. Errors: returns 0 and sets
 * polyrpc_last_error() for a destroyed or wrong handle. Since 0.1. */
POLYRPC_API size_t polyrpc_buffer_length(const polyrpc_buffer_t *buf);
/* Releases the caller's reference to buf (the core may still hold its own while sending). NULL
 * is a no-op. Any thread; thread-compatible. Errors: none returned; a destroyed or wrong handle
 * sets polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_buffer_destroy(polyrpc_buffer_t *buf);

/* ---- Metadata ----------------------------------------------------------------------------- */

/* An ordered list of (key, value). Keys: lowercase [0-9a-z_.-]; keys ending in "-bin" carry
 * arbitrary bytes, others printable ASCII (0x20-0x7E). Lists the caller creates are owned by
 * the caller (polyrpc_metadata_destroy); those a call returns (polyrpc_call_initial_metadata,
 * ...) are owned by the call, read-only, and live until the call is destroyed.
 * Thread-compatible. Since 0.1. */
typedef struct polyrpc_metadata polyrpc_metadata_t;

/* Creates an empty list. *out owned by the caller (polyrpc_metadata_destroy). Thread-safe.
 * Errors: INVALID_ARGUMENT (out NULL). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_create(polyrpc_metadata_t **out);
/* Appends (key, value): key (NUL-terminated) and value (value_len bytes; may be NULL when
 * value_len == 0) are copied. Thread-compatible. Errors: the handle errors of md;
 * INVALID_ARGUMENT (key NULL, empty or invalid, a reserved header such as "content-type",
 * "grpc-timeout" or "te", value NULL with value_len > 0, a non-printable value on a non "-bin"
 * key); WRONG_STATE for a list owned by a call. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_add(polyrpc_metadata_t *md, const char *key,
                                                 const uint8_t *value, size_t value_len);
/* Number of entries; 0 for NULL. Thread-compatible. Errors: returns 0 and sets
 * polyrpc_last_error() for a destroyed or wrong handle. Since 0.1. */
POLYRPC_API size_t polyrpc_metadata_count(const polyrpc_metadata_t *md);
/* Borrows entry i: *key (NUL-terminated) and *value (value_len bytes, also NUL-terminated for
 * convenience) stay valid until md is modified or destroyed; for metadata owned by a call, until
 * the call is destroyed. Any out pointer may be NULL. Thread-compatible. Errors: the handle
 * errors of md; NOT_FOUND if i is out of range. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_get(const polyrpc_metadata_t *md, size_t i,
                                                 const char **key, const uint8_t **value,
                                                 size_t *value_len);
/* First value of key, borrowed as polyrpc_metadata_get()'s; value and value_len may be NULL.
 * Thread-compatible. Errors: the handle errors of md; INVALID_ARGUMENT (key NULL); NOT_FOUND if
 * absent. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_find(const polyrpc_metadata_t *md, const char *key,
                                                  const uint8_t **value, size_t *value_len);
/* Destroys a list the caller created. NULL is a no-op. Any thread; thread-compatible.
 * Errors: none returned; a destroyed or wrong handle, or a list owned by a call (WRONG_STATE:
 * it goes with the call), sets polyrpc_last_error() and is left alone. Since 0.1. */
POLYRPC_API void polyrpc_metadata_destroy(polyrpc_metadata_t *md);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_COMMON_H */
