/* Plumbing shared by the C interop client and server: gflags-style flags and the test
 * certificate directory. */
#ifndef POLYRPC_INTEROP_COMMON_H
#define POLYRPC_INTEROP_COMMON_H

#include <stddef.h>

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

#endif
