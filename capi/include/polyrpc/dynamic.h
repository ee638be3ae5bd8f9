/*
 * polyrpc/dynamic.h - dynamic calls: protobuf descriptors loaded at run time and messages as
 * JSON, for runtimes without a protobuf library (C#, shell tools, any FFI).
 *
 * A descriptor pool holds protobuf file descriptors, added from a serialized
 * google.protobuf.FileDescriptorSet (protoc --descriptor_set_out --include_imports) or fetched
 * from a server by gRPC server reflection. It names the services and methods it knows (kind,
 * path, request and response types) and transcodes messages between JSON (the canonical proto3
 * JSON mapping, by libprotobuf) and the binary protobuf bytes that travel in polyrpc_buffer_t.
 * Calls of every kind then use the call API of polyrpc/call.h with the transcoded buffers;
 * polyrpc_call_unary_json() does a whole blocking unary call in JSON.
 *
 * Ownership: a pool is owned by its creator and released with polyrpc_descriptor_pool_destroy().
 * Names it returns are borrowed until the pool is destroyed (adding files never invalidates
 * them). Buffers it returns are owned by the caller.
 * Thread-safety: a pool is thread-safe: lookups and transcoding may run concurrently on any
 * threads, also while another thread adds files (adding is serialised inside).
 */
#ifndef POLYRPC_DYNAMIC_H
#define POLYRPC_DYNAMIC_H

#include "polyrpc/call.h"
#include "polyrpc/channel.h"
#include "polyrpc/common.h"
#include "polyrpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pool of protobuf file descriptors with the services, methods and message types they
 * define. Created by polyrpc_descriptor_pool_create(), owned by the caller and released with
 * polyrpc_descriptor_pool_destroy(). Thread-safe. Since 0.2. */
typedef struct polyrpc_descriptor_pool polyrpc_descriptor_pool_t;

/* The kind of a method, from its descriptor's client_streaming and server_streaming; given as
 * an int by polyrpc_descriptor_pool_find_method(). Since 0.2. */
typedef enum polyrpc_method_kind {
  POLYRPC_METHOD_UNARY = 0,
  POLYRPC_METHOD_CLIENT_STREAMING = 1,
  POLYRPC_METHOD_SERVER_STREAMING = 2,
  POLYRPC_METHOD_BIDI_STREAMING = 3
} polyrpc_method_kind_t;

/* JSON flags, or-ed; unknown bits are INVALID_ARGUMENT. Parsing (JSON to message) reads only
 * POLYRPC_JSON_IGNORE_UNKNOWN_FIELDS; printing (message to JSON) reads the others. */
#define POLYRPC_JSON_IGNORE_UNKNOWN_FIELDS 1u /* parse: skip unknown fields instead of failing */
#define POLYRPC_JSON_EMIT_DEFAULTS 2u         /* print: also fields holding their default value */
#define POLYRPC_JSON_PROTO_NAMES 4u           /* print: proto field names, not lowerCamelCase */
#define POLYRPC_JSON_ENUMS_AS_INTS 8u         /* print: enum values as numbers, not names */
#define POLYRPC_JSON_PRETTY 16u               /* print: line breaks and indentation */

/* ---- Descriptor pools ---- */

/* Creates an empty pool. *out owned by the caller (polyrpc_descriptor_pool_destroy); NULL on
 * failure. Thread-safe. Errors: INVALID_ARGUMENT (out NULL), NO_MEMORY. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_create(polyrpc_descriptor_pool_t **out);

/* Releases the pool and every name borrowed from it. NULL is a no-op. Any thread;
 * thread-compatible. Errors: none returned; a destroyed or wrong handle sets
 * polyrpc_last_error() and is left alone. Since 0.2. */
POLYRPC_API void polyrpc_descriptor_pool_destroy(polyrpc_descriptor_pool_t *pool);

/* Adds the files of a serialized google.protobuf.FileDescriptorSet (data: len bytes, read
 * during the call only). Files may come in any order; a file already in the pool with the same
 * content is skipped. Imports must be in the set or already in the pool, except the well-known
 * types (the files google/protobuf/...), which the library supplies when missing. All or
 * nothing: on error the pool is unchanged. Thread-safe.
 * Errors: the handle errors of pool; INVALID_ARGUMENT (data NULL with len > 0, bytes that are
 * not a FileDescriptorSet, a file that does not build, e.g. an unknown type, a missing import,
 * a name already used by a different file: the message says which file and what). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_add_file_set(polyrpc_descriptor_pool_t *pool,
                                                                 const uint8_t *data, size_t len);

/* Fetches descriptors from the server behind ch by gRPC server reflection and adds them as
 * polyrpc_descriptor_pool_add_file_set() does. symbol: a fully qualified service, method or
 * message name ("pkg.Service"); the file defining it and all its imports are fetched. symbol
 * NULL: every service the server lists. Speaks grpc.reflection.v1.ServerReflection and falls
 * back to grpc.reflection.v1alpha when the server does not implement v1. metadata (may be NULL)
 * is sent with the reflection call (copied). Blocks the calling thread for at most timeout_ms
 * (< 0: no limit other than the channel's), running the call's I/O there.
 * Thread-safe (the pool is locked only to add the fetched files, not during the network).
 * Errors: the handle errors of pool, ch and metadata (when not NULL); INVALID_ARGUMENT (symbol
 * empty, a fetched file does not build), NOT_FOUND (the server offers no reflection service,
 * or does not know symbol), TIMEOUT (timeout_ms passed), IO (the reflection call failed
 * otherwise, e.g. UNAVAILABLE: the message has its gRPC status). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_add_from_reflection(
    polyrpc_descriptor_pool_t *pool, polyrpc_channel_t *ch, const char *symbol,
    const polyrpc_metadata_t *metadata, int64_t timeout_ms);

/* Number of services in the pool (of every file added, imports included). Thread-safe.
 * Errors: the handle errors of pool; INVALID_ARGUMENT (count NULL). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_service_count(
    const polyrpc_descriptor_pool_t *pool, size_t *count);

/* Service i (0 <= i < count, in the order files were added): *name its full name
 * ("grpc.testing.TestService", borrowed until the pool is destroyed) and *method_count its
 * number of methods; either out pointer may be NULL. Thread-safe. Errors: the handle errors of
 * pool; NOT_FOUND (i out of range). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_service(const polyrpc_descriptor_pool_t *pool,
                                                            size_t i, const char **name,
                                                            size_t *method_count);

/* Method j of service i: *method its name as "pkg.Service/Method", the form
 * polyrpc_descriptor_pool_find_method() takes (borrowed until the pool is destroyed).
 * Thread-safe. Errors: the handle errors of pool; INVALID_ARGUMENT (method NULL), NOT_FOUND
 * (i or j out of range). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_service_method(
    const polyrpc_descriptor_pool_t *pool, size_t i, size_t j, const char **method);

/* Looks a method up by "pkg.Service/Method" or "/pkg.Service/Method" and tells its *kind
 * (polyrpc_method_kind_t), *path (the "/pkg.Service/Method" that polyrpc_call_create takes),
 * *input_type and *output_type (full message names, for the JSON functions below). Strings are
 * borrowed until the pool is destroyed; every out pointer may be NULL. Thread-safe.
 * Errors: the handle errors of pool; INVALID_ARGUMENT (method NULL, or not of either form),
 * NOT_FOUND (no such service or method in the pool). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_find_method(
    const polyrpc_descriptor_pool_t *pool, const char *method, int *kind, const char **path,
    const char **input_type, const char **output_type);

/* Describes symbol in .proto syntax, as `grpcurl describe` shows it: a service (with its
 * methods), a method, a message, an enum or a file name ("pkg/api.proto", the whole file). *kind
 * (may be NULL) gets what it is: "service", "method", "message", "enum" or "file" (a static
 * string). *out (owned by the caller) holds the UTF-8 text, followed by a NUL that its length
 * does not count. Thread-safe. Errors: the handle errors of pool; INVALID_ARGUMENT (symbol or out
 * NULL), NOT_FOUND (nothing of that name in the pool). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_describe(const polyrpc_descriptor_pool_t *pool,
                                                             const char *symbol, const char **kind,
                                                             polyrpc_buffer_t **out);

/* ---- JSON transcoding ---- */

/* Parses json (NUL-terminated UTF-8, the proto3 JSON mapping) as a message of type_name
 * ("pkg.Message") and serializes it: *out (owned by the caller) holds the binary protobuf
 * message, ready for polyrpc_call_send_message(). flags: POLYRPC_JSON_IGNORE_UNKNOWN_FIELDS.
 * Thread-safe. Errors: the handle errors of pool; INVALID_ARGUMENT (type_name, json or out
 * NULL, unknown flags, JSON that does not fit the message: a syntax error, an unknown field, a
 * wrong type or an out-of-range value; the message gives libprotobuf's reason, e.g.
 * "(response_size): invalid value "abc" for type TYPE_INT32"), NOT_FOUND (no message type
 * type_name in the pool). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_json_to_message(
    const polyrpc_descriptor_pool_t *pool, const char *type_name, const char *json,
    uint32_t flags, polyrpc_buffer_t **out);

/* Parses message (binary protobuf, e.g. from polyrpc_call_take_message) as type_name and
 * prints it as JSON: *out (owned by the caller) holds UTF-8 text, followed by a NUL that the
 * buffer's length does not count. Unknown fields are dropped. flags: POLYRPC_JSON_EMIT_DEFAULTS,
 * POLYRPC_JSON_PROTO_NAMES, POLYRPC_JSON_ENUMS_AS_INTS, POLYRPC_JSON_PRETTY. Thread-safe.
 * Errors: the handle errors of pool and message; INVALID_ARGUMENT (type_name or out NULL,
 * unknown flags, bytes that are not a valid type_name message), NOT_FOUND (no message type
 * type_name in the pool). Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_descriptor_pool_message_to_json(
    const polyrpc_descriptor_pool_t *pool, const char *type_name,
    const polyrpc_buffer_t *message, uint32_t flags, polyrpc_buffer_t **out);

/* A blocking unary call in JSON on a fresh client call created for method's path: transcodes
 * request_json to method's input type, runs polyrpc_call_unary(), and transcodes the reply to
 * JSON in *response_json (owned by the caller; NUL-terminated as above), or NULL if the status
 * is not OK. Returns OK when the call ran, whatever its gRPC status: read polyrpc_call_status().
 * method: as polyrpc_descriptor_pool_find_method() takes; it must be the call's method and be
 * unary. flags: any POLYRPC_JSON_* (parse flags for the request, print flags for the reply).
 * Blocks as polyrpc_call_unary() does. Thread-safe.
 * Errors: the handle errors of call and pool; INVALID_ARGUMENT (request_json or response_json
 * NULL), those of polyrpc_descriptor_pool_find_method() and of the JSON functions (then nothing
 * was sent), those of polyrpc_call_unary() (the message names it); WRONG_STATE if the method is
 * not unary. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_call_unary_json(polyrpc_call_t *call,
                                                    const polyrpc_descriptor_pool_t *pool,
                                                    const char *method, const char *request_json,
                                                    uint32_t flags,
                                                    polyrpc_buffer_t **response_json);

/* ---- Server reflection ---- */

/* Before start: serve gRPC server reflection (grpc.reflection.v1.ServerReflection and
 * grpc.reflection.v1alpha.ServerReflection), so that grpcurl, grpcui or any reflection client
 * lists the server's services, describes them and calls them without the .proto files. The
 * services listed are those of the server's registered methods, those of every file in pool,
 * and the built-in health and reflection services; their files are described from pool (a file
 * with everything it imports, transitively). pool may be NULL: then only the built-in services'
 * descriptors are described. The server keeps the pool's contents alive (destroying the handle
 * afterwards is fine); files added to the pool later are described too. The core answers these
 * calls itself on its I/O threads: they never reach polyrpc_server_request_call. Enabling it
 * again replaces the pool. Thread-compatible (the pool itself is thread-safe).
 * Errors: the handle errors of server and of pool (when not NULL); WRONG_STATE after start;
 * CLOSED after shutdown. Since 0.2. */
POLYRPC_API polyrpc_error_t polyrpc_server_enable_reflection(polyrpc_server_t *server,
                                                             const polyrpc_descriptor_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif /* POLYRPC_DYNAMIC_H */
