/* Plumbing shared by the C interop client and server: gflags-style flags, the test certificate
 * directory, and the bridge between protobuf-c messages and polyrpc buffers. */
#ifndef POLYRPC_INTEROP_COMMON_H
#define POLYRPC_INTEROP_COMMON_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "polyrpc/polyrpc.h"

typedef enum flag_type { FLAG_STRING, FLAG_INT, FLAG_BOOL } flag_type_t;

typedef struct flag {
  const char *name;
  flag_type_t type;
  void *value; /* const char **, int *, int * */
} flag_t;

/* Parses --name=value, --name value and bare --flag (booleans). Exits 2 on unknown flags. */
void parse_flags(int argc, char **argv, const flag_t *flags, size_t n);

/* $POLYRPC_TEST_CERTS, else <repo>/build/certs (the repository root is compiled in). */
const char *default_cert_dir(void);
/* Reads cert_dir/name into a malloc'ed NUL-terminated string; NULL if unreadable. */
char *read_file_in(const char *dir, const char *name);

/* Packs m with protobuf-c into a new buffer that owns the packed bytes (no further copy: the
 * core sends them from there). *out owned by the caller. NO_MEMORY if malloc fails. */
polyrpc_error_t pack_message(const ProtobufCMessage *m, polyrpc_buffer_t **out);
/* Unpacks the bytes of buf (borrowed in place) as a message of type d; NULL if they are not one.
 * Free the result with protobuf_c_message_free_unpacked(m, NULL). */
ProtobufCMessage *unpack_message(const ProtobufCMessageDescriptor *d, const polyrpc_buffer_t *buf);

/* calloc'ed zero bytes for a payload body (at least 1 byte, so never NULL unless out of memory). */
uint8_t *alloc_zeros(size_t n);

#endif
