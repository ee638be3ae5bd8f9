/* Shared helpers of the C test suite: assertions, a tiny test runner, certificate loading and
 * a loopback test server written against the public C API only. */
#ifndef POLYRPC_CAPI_TEST_UTIL_H
#define POLYRPC_CAPI_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polyrpc/polyrpc.h"

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, polyrpc_last_error());                                              \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

#define CHECK_ERR(expr, want)                                                             \
  do {                                                                                    \
    polyrpc_error_t got_ = (expr);                                                        \
    if (got_ != (want)) {                                                                 \
      fprintf(stderr, "%s:%d: %s returned %s, want %s (last error: %s)\n", __FILE__,      \
              __LINE__, #expr, polyrpc_error_name(got_), polyrpc_error_name(want),        \
              polyrpc_last_error());                                                      \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, POLYRPC_OK)

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case_t;

/* Runs every case (or only those named on the command line); returns the exit code. */
int run_tests(const test_case_t *cases, size_t n, int argc, char **argv);

/* Monotonic milliseconds. */
long long now_ms(void);
void sleep_ms(int ms);

/* Reads DIR/name from the test certificate directory (POLYRPC_TEST_CERTS or the build's
 * certs/); returns a malloc'ed NUL-terminated string. Aborts the test if missing. */
char *read_cert(const char *name);

/* A buffer of a C string (without the NUL). */
polyrpc_buffer_t *buf_str(const char *s);
/* 1 if buf holds exactly s. */
int buf_eq(const polyrpc_buffer_t *buf, const char *s);

/* ---- The loopback test service, "/test.Echo/<Method>":
 *  Unary        echoes the request. A request "status <code> <message>" ends the call with that
 *               status instead. Request metadata "x-echo-initial" is sent back as initial
 *               metadata, "x-echo-trailing-bin" as trailing metadata. Responses are gzip-
 *               compressed when the request metadata has "x-compress-response: 1", and the
 *               trailing metadata "x-request-compressed" says whether the request was.
 *  ClientStream replies with the total number of bytes received, in decimal.
 *  ServerStream request "N": N responses "0", "1", ... "N-1".
 *  Bidi         echoes every message, then status OK at the client's half-close.
 *  Sleep        sends nothing until the call ends (deadline or cancel tests); the trailing
 *               metadata would report cancellation, which nobody receives.
 * Each call is served on its own thread with blocking operations. */
typedef struct test_server test_server_t;
/* creds NULL: insecure. Returns the server; *port gets the bound port. */
test_server_t *test_server_start(const polyrpc_server_credentials_t *creds, int *port);
/* Number of Sleep calls that saw their call cancelled so far. */
int test_server_cancelled_sleeps(test_server_t *s);
void test_server_stop(test_server_t *s);

/* An insecure channel to 127.0.0.1:port. */
polyrpc_channel_t *test_channel(int port);

#endif /* POLYRPC_CAPI_TEST_UTIL_H */
