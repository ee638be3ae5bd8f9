/*
 * polyrpc/common.h - version, error model, export macro, message buffers and metadata.
 *
 * Conventions of the whole C API (see docs/c-api.md):
 *  - Functions return polyrpc_error_t; POLYRPC_OK (0) is success, errors are negative. On error,
 *    polyrpc_last_error() gives a readable message for the calling thread; read it right away.
 *  - Constructors are polyrpc_<object>_create(..., polyrpc_<object>_t **out) and leave *out NULL
 *    on failure; every object has a polyrpc_<object>_destroy() that accepts NULL.
 *  - gRPC status codes of calls are results (polyrpc_status_code_t), never API errors.
 *  - Thread-safety words: "thread-safe" (any thread, concurrently), "thread-compatible" (any
 *    thread, the caller serialises), per function.
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

#define POLYRPC_VERSION_MAJOR 0
#define POLYRPC_VERSION_MINOR 1
#define POLYRPC_VERSION_PATCH 0
#define POLYRPC_VERSION_STRING "0.1.0"
/* (major << 16) | (minor << 8) | patch */
#define POLYRPC_VERSION_NUMBER ((POLYRPC_VERSION_MAJOR << 16) | (POLYRPC_VERSION_MINOR << 8) | POLYRPC_VERSION_PATCH)
/* The ABI major version; it is in the SONAME (libpolyrpc.so.1). */
#define POLYRPC_ABI_VERSION 1

/* API error codes. Append-only: values are never renumbered or removed. */
typedef enum polyrpc_error {
  POLYRPC_OK = 0,
  POLYRPC_ERROR_INVALID_ARGUMENT = -1, /* NULL or wrong argument, wrong handle type */
  POLYRPC_ERROR_CLOSED = -2,           /* object destroyed, closed or shut down */
  POLYRPC_ERROR_NO_MEMORY = -3,
  POLYRPC_ERROR_BUSY = -4,             /* an operation of that kind is already pending */
  POLYRPC_ERROR_WRONG_STATE = -5,      /* not allowed now (e.g. a server op on a client call) */
  POLYRPC_ERROR_TIMEOUT = -6,          /* a wait ended at its deadline */
  POLYRPC_ERROR_IO = -7,               /* listen/bind/connect failure */
  POLYRPC_ERROR_TLS = -8,              /* bad certificate, key or TLS configuration */
  POLYRPC_ERROR_NOT_FOUND = -9,        /* no such item (metadata key, option) */
  POLYRPC_ERROR_INTERNAL = -10         /* a bug in polyrpc; please report */
} polyrpc_error_t;

/* gRPC status codes (wire values). */
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

/* "0.1.0". Static storage. Thread-safe. Since 0.1. */
POLYRPC_API const char *polyrpc_version(void);
/* POLYRPC_VERSION_NUMBER of the loaded library. Thread-safe. Since 0.1. */
POLYRPC_API uint32_t polyrpc_version_number(void);
/* Message of the last failing polyrpc call on this thread ("" if none). Borrowed: valid until the
 * next polyrpc call on this thread. Thread-safe (thread-local). Since 0.1. */
POLYRPC_API const char *polyrpc_last_error(void);
/* Static name of an error code ("POLYRPC_ERROR_CLOSED"). Thread-safe. Since 0.1. */
POLYRPC_API const char *polyrpc_error_name(polyrpc_error_t err);
/* Static name of a status code ("DEADLINE_EXCEEDED"); "UNKNOWN" outside 0..16. Since 0.1. */
POLYRPC_API const char *polyrpc_status_code_name(int code);

/* ---- Message buffers ----------------------------------------------------------------------
 * A polyrpc_buffer_t holds the bytes of one message. Buffers are reference-counted internally:
 * sending one hands the core a reference, not a copy. A received buffer is owned by the caller
 * and its bytes can be read in place (borrowed) until polyrpc_buffer_destroy().
 * Buffers are immutable and thread-compatible; destroy from any thread. */
typedef struct polyrpc_buffer polyrpc_buffer_t;

/* Copies len bytes (data may be NULL when len == 0). *out owned by the caller. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_buffer_create_copy(const uint8_t *data, size_t len,
                                                       polyrpc_buffer_t **out);
/* Wraps caller memory without copying. free_fn(user_data) is called (on any thread, possibly an
 * I/O thread, never under an internal lock) once neither the buffer nor the core needs the
 * bytes any more; free_fn may be NULL for memory that outlives everything. If the function fails,
 * free_fn is NOT called. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_buffer_create_wrap(const uint8_t *data, size_t len,
                                                       void (*free_fn)(void *user_data),
                                                       void *user_data, polyrpc_buffer_t **out);
/* Borrows the bytes: *data stays valid until polyrpc_buffer_destroy(buf). Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_buffer_data(const polyrpc_buffer_t *buf, const uint8_t **data,
                                                size_t *len);
/* Length in bytes (0 for NULL). Since 0.1. */
POLYRPC_API size_t polyrpc_buffer_length(const polyrpc_buffer_t *buf);
/* Releases the caller's reference. NULL is a no-op. Since 0.1. */
POLYRPC_API void polyrpc_buffer_destroy(polyrpc_buffer_t *buf);

/* ---- Metadata -----------------------------------------------------------------------------
 * An ordered list of (key, value). Keys: lowercase [0-9a-z_.-]; keys ending in "-bin" carry
 * arbitrary bytes, others printable ASCII (0x20-0x7E). Thread-compatible. */
typedef struct polyrpc_metadata polyrpc_metadata_t;

POLYRPC_API polyrpc_error_t polyrpc_metadata_create(polyrpc_metadata_t **out);
/* Copies key (NUL-terminated) and value (len bytes). INVALID_ARGUMENT for an invalid key, a
 * reserved header (":path", "content-type", "grpc-timeout", ...) or a non-printable value on a
 * non "-bin" key. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_add(polyrpc_metadata_t *md, const char *key,
                                                 const uint8_t *value, size_t value_len);
POLYRPC_API size_t polyrpc_metadata_count(const polyrpc_metadata_t *md);
/* Borrows entry i: *key (NUL-terminated) and *value (value_len bytes, also NUL-terminated for
 * convenience) stay valid until md is modified or destroyed; for metadata owned by a call, until
 * the call is destroyed. NOT_FOUND if i is out of range. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_get(const polyrpc_metadata_t *md, size_t i,
                                                 const char **key, const uint8_t **value,
                                                 size_t *value_len);
/* First value of key, borrowed as above; NOT_FOUND if absent. Since 0.1. */
POLYRPC_API polyrpc_error_t polyrpc_metadata_find(const polyrpc_metadata_t *md, const char *key,
                                                  const uint8_t **value, size_t *value_len);
POLYRPC_API void polyrpc_metadata_destroy(polyrpc_metadata_t *md);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_COMMON_H */
