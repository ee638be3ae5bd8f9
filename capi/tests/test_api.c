/* The C API without a network: version, errors, handle checks, buffers, metadata, options,
 * credentials and completion-queue mechanics. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>

#include "test_util.h"

static void test_version(void) {
  CHECK(strcmp(polyrpc_version(), POLYRPC_VERSION_STRING) == 0);
  CHECK(strcmp(polyrpc_version(), POLYRPC_PROJECT_VERSION) == 0);
  CHECK(polyrpc_version_number() == POLYRPC_VERSION_NUMBER);
  CHECK(POLYRPC_VERSION_NUMBER == ((0u << 16) | (2u << 8) | 0u));
  CHECK(POLYRPC_ABI_VERSION == 1);
}

static void test_error_names(void) {
  CHECK(strcmp(polyrpc_error_name(POLYRPC_OK), "POLYRPC_OK") == 0);
  CHECK(strcmp(polyrpc_error_name(POLYRPC_ERROR_CLOSED), "POLYRPC_ERROR_CLOSED") == 0);
  CHECK(strcmp(polyrpc_error_name(POLYRPC_ERROR_INTERNAL), "POLYRPC_ERROR_INTERNAL") == 0);
  CHECK(strcmp(polyrpc_error_name((polyrpc_error_t)-99), "POLYRPC_ERROR_UNKNOWN") == 0);
  CHECK(strcmp(polyrpc_status_code_name(4), "DEADLINE_EXCEEDED") == 0);
  CHECK(strcmp(polyrpc_status_code_name(0), "OK") == 0);
  CHECK(strcmp(polyrpc_status_code_name(16), "UNAUTHENTICATED") == 0);
  CHECK(strcmp(polyrpc_status_code_name(99), "UNKNOWN") == 0);
}

static void test_null_handles(void) {
  polyrpc_buffer_t *b = (polyrpc_buffer_t *)1;
  const uint8_t *data;
  size_t len;
  polyrpc_event_t ev;
  polyrpc_connectivity_state_t st;
  ev.struct_size = sizeof(ev);
  CHECK_ERR(polyrpc_buffer_create_copy(NULL, 3, &b), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(b == NULL); /* *out is NULL on failure */
  CHECK(strstr(polyrpc_last_error(), "NULL") != NULL);
  CHECK_ERR(polyrpc_buffer_create_copy(NULL, 0, NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_buffer_data(NULL, &data, &len), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(NULL, "a", NULL, 0), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_cq_next(NULL, 0, &ev), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_channel_get_state(NULL, 0, &st), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_call_cancel(NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_server_start(NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(polyrpc_call_peer(NULL) == NULL);
  CHECK(polyrpc_call_initial_metadata(NULL) == NULL);
  CHECK(polyrpc_buffer_length(NULL) == 0);
  CHECK(polyrpc_metadata_count(NULL) == 0);
  /* Every destroy accepts NULL. */
  polyrpc_buffer_destroy(NULL);
  polyrpc_metadata_destroy(NULL);
  polyrpc_cq_destroy(NULL);
  polyrpc_options_destroy(NULL);
  polyrpc_channel_credentials_destroy(NULL);
  polyrpc_server_credentials_destroy(NULL);
  polyrpc_call_credentials_destroy(NULL);
  polyrpc_channel_destroy(NULL);
  polyrpc_call_destroy(NULL);
  polyrpc_server_destroy(NULL);
}

static void test_destroyed_and_wrong_handles(void) {
  polyrpc_buffer_t *b = buf_str("abc");
  polyrpc_metadata_t *md = NULL;
  polyrpc_cq_t *cq = NULL;
  const uint8_t *data;
  size_t len;
  polyrpc_event_t ev;
  ev.struct_size = sizeof(ev);
  polyrpc_buffer_destroy(b);
  /* A destroyed handle is reported, not dereferenced into freed memory (quarantine). */
  CHECK_ERR(polyrpc_buffer_data(b, &data, &len), POLYRPC_ERROR_CLOSED);
  CHECK(strstr(polyrpc_last_error(), "destroyed") != NULL);
  polyrpc_buffer_destroy(b); /* double destroy: reported, no crash */
  CHECK(strstr(polyrpc_last_error(), "destroyed") != NULL);

  /* A handle of another type. */
  CHECK_OK(polyrpc_metadata_create(&md));
  CHECK_ERR(polyrpc_buffer_data((const polyrpc_buffer_t *)md, &data, &len),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(polyrpc_last_error(), "not a valid buffer") != NULL);
  CHECK_ERR(polyrpc_cq_next((polyrpc_cq_t *)md, 0, &ev), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_call_cancel((polyrpc_call_t *)md), POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_metadata_destroy(md);
  CHECK_ERR(polyrpc_metadata_add(md, "a", (const uint8_t *)"b", 1), POLYRPC_ERROR_CLOSED);

  CHECK_OK(polyrpc_cq_create(&cq));
  polyrpc_cq_destroy(cq);
  CHECK_ERR(polyrpc_cq_next(cq, 0, &ev), POLYRPC_ERROR_CLOSED);
}

static void *other_thread_error(void *arg) {
  (void)arg;
  CHECK(strcmp(polyrpc_last_error(), "") == 0); /* fresh thread: no error */
  CHECK_ERR(polyrpc_call_cancel(NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(polyrpc_last_error(), "polyrpc_call_cancel") != NULL);
  return NULL;
}

static void test_last_error_per_thread(void) {
  pthread_t t;
  CHECK_ERR(polyrpc_buffer_data(NULL, NULL, NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(polyrpc_last_error(), "polyrpc_buffer_data") != NULL);
  CHECK(pthread_create(&t, NULL, other_thread_error, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  /* The other thread's error did not replace ours. */
  CHECK(strstr(polyrpc_last_error(), "polyrpc_buffer_data") != NULL);
}

static int g_freed;
static void count_free(void *ud) { g_freed += *(int *)ud; }

static void test_buffers(void) {
  static const uint8_t bytes[] = {1, 2, 3, 0, 5};
  polyrpc_buffer_t *b = NULL;
  const uint8_t *data;
  size_t len;
  int weight = 1;

  CHECK_OK(polyrpc_buffer_create_copy(bytes, sizeof(bytes), &b));
  CHECK(polyrpc_buffer_length(b) == 5);
  CHECK_OK(polyrpc_buffer_data(b, &data, &len));
  CHECK(len == 5 && memcmp(data, bytes, 5) == 0 && data != bytes); /* a copy */
  polyrpc_buffer_destroy(b);

  CHECK_OK(polyrpc_buffer_create_copy(NULL, 0, &b));
  CHECK(polyrpc_buffer_length(b) == 0);
  polyrpc_buffer_destroy(b);

  /* Wrap: no copy, free_fn exactly once when the last reference goes. */
  g_freed = 0;
  CHECK_OK(polyrpc_buffer_create_wrap(bytes, sizeof(bytes), count_free, &weight, &b));
  CHECK_OK(polyrpc_buffer_data(b, &data, &len));
  CHECK(data == bytes && len == 5);
  CHECK(g_freed == 0);
  polyrpc_buffer_destroy(b);
  CHECK(g_freed == 1);

  /* A failing wrap does not call free_fn. */
  CHECK_ERR(polyrpc_buffer_create_wrap(NULL, 4, count_free, &weight, &b),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(g_freed == 1 && b == NULL);

  /* free_fn may be NULL for static memory. */
  CHECK_OK(polyrpc_buffer_create_wrap(bytes, 2, NULL, NULL, &b));
  CHECK(polyrpc_buffer_length(b) == 2);
  polyrpc_buffer_destroy(b);
}

static void test_metadata(void) {
  polyrpc_metadata_t *md = NULL;
  const char *key;
  const uint8_t *value;
  size_t len;
  static const uint8_t binary[] = {0, 0xff, 10, 13};

  CHECK_OK(polyrpc_metadata_create(&md));
  CHECK(polyrpc_metadata_count(md) == 0);
  CHECK_OK(polyrpc_metadata_add(md, "x-a", (const uint8_t *)"one", 3));
  CHECK_OK(polyrpc_metadata_add(md, "x-data-bin", binary, sizeof(binary)));
  CHECK_OK(polyrpc_metadata_add(md, "x-a", (const uint8_t *)"two", 3));
  CHECK_OK(polyrpc_metadata_add(md, "x-empty", NULL, 0));
  CHECK_OK(polyrpc_metadata_add(md, "user-agent", (const uint8_t *)"me", 2));
  CHECK(polyrpc_metadata_count(md) == 5);

  CHECK_OK(polyrpc_metadata_get(md, 2, &key, &value, &len));
  CHECK(strcmp(key, "x-a") == 0 && len == 3 && memcmp(value, "two", 3) == 0);
  CHECK(value[3] == '\0'); /* NUL-terminated for convenience */
  CHECK_OK(polyrpc_metadata_get(md, 1, &key, &value, &len));
  CHECK(len == 4 && memcmp(value, binary, 4) == 0);
  CHECK_ERR(polyrpc_metadata_get(md, 5, &key, &value, &len), POLYRPC_ERROR_NOT_FOUND);

  CHECK_OK(polyrpc_metadata_find(md, "x-a", &value, &len));
  CHECK(len == 3 && memcmp(value, "one", 3) == 0); /* the first value */
  CHECK_ERR(polyrpc_metadata_find(md, "x-missing", &value, &len), POLYRPC_ERROR_NOT_FOUND);

  /* Validation. */
  CHECK_ERR(polyrpc_metadata_add(md, "X-Upper", (const uint8_t *)"v", 1),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(polyrpc_last_error(), "lowercase") != NULL);
  CHECK_ERR(polyrpc_metadata_add(md, "", (const uint8_t *)"v", 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, "a b", (const uint8_t *)"v", 1),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, ":path", (const uint8_t *)"/x", 2),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, "content-type", (const uint8_t *)"x", 1),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, "grpc-timeout", (const uint8_t *)"1S", 2),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(polyrpc_last_error(), "reserved") != NULL);
  CHECK_ERR(polyrpc_metadata_add(md, "te", (const uint8_t *)"trailers", 8),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, "x-text", binary, sizeof(binary)),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(polyrpc_last_error(), "-bin") != NULL);
  CHECK_ERR(polyrpc_metadata_add(md, "x-text", (const uint8_t *)"\x7f", 1),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, "x-text", NULL, 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metadata_add(md, NULL, (const uint8_t *)"v", 1),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(polyrpc_metadata_count(md) == 5); /* failed adds changed nothing */
  polyrpc_metadata_destroy(md);
}

static void test_options(void) {
  polyrpc_options_t *o = NULL;
  CHECK_OK(polyrpc_options_create(&o));
  CHECK_OK(polyrpc_options_set_int(o, "grpc.max_receive_message_length", 1 << 20));
  CHECK_OK(polyrpc_options_set_int(o, "grpc.keepalive_time_ms", 10000));
  CHECK_OK(polyrpc_options_set_string(o, "grpc.ssl_target_name_override", "foo.test.google.fr"));
  CHECK_OK(polyrpc_options_set_string(o, "grpc.default_compression_algorithm", "gzip"));
  CHECK_OK(polyrpc_options_set_int(o, "some.unknown.option", 1)); /* ignored, as grpc does */
  CHECK_ERR(polyrpc_options_set_string(o, "grpc.default_compression_algorithm", "brotli"),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_options_set_int(o, "grpc.default_compression_algorithm", 7),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_options_set_int(o, NULL, 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_options_set_int(o, "", 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_options_set_string(o, "grpc.default_authority", NULL),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_options_destroy(o);
}

static void test_credentials(void) {
  polyrpc_channel_credentials_t *cc = NULL;
  polyrpc_server_credentials_t *sc = NULL;
  polyrpc_call_credentials_t *kc = NULL;
  char *ca = read_cert("ca.pem");
  char *cert = read_cert("server.pem");
  char *key = read_cert("server.key");

  CHECK_OK(polyrpc_channel_credentials_create_insecure(&cc));
  polyrpc_channel_credentials_destroy(cc);
  CHECK_OK(polyrpc_channel_credentials_create_tls(ca, NULL, NULL, &cc));
  polyrpc_channel_credentials_destroy(cc);
  CHECK_OK(polyrpc_channel_credentials_create_tls(NULL, NULL, NULL, &cc)); /* system roots */
  polyrpc_channel_credentials_destroy(cc);
  CHECK_ERR(polyrpc_channel_credentials_create_tls("not a pem", NULL, NULL, &cc),
            POLYRPC_ERROR_TLS);
  CHECK(cc == NULL);
  CHECK_ERR(polyrpc_channel_credentials_create_tls(ca, cert, NULL, &cc),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_channel_credentials_create_tls(ca, cert, "garbage", &cc), POLYRPC_ERROR_TLS);

  CHECK_OK(polyrpc_server_credentials_create_insecure(&sc));
  polyrpc_server_credentials_destroy(sc);
  CHECK_OK(polyrpc_server_credentials_create_tls(cert, key, NULL, 0, &sc));
  polyrpc_server_credentials_destroy(sc);
  CHECK_OK(polyrpc_server_credentials_create_tls(cert, key, ca, 1, &sc));
  polyrpc_server_credentials_destroy(sc);
  CHECK_ERR(polyrpc_server_credentials_create_tls(cert, "garbage", NULL, 0, &sc),
            POLYRPC_ERROR_TLS);
  CHECK_ERR(polyrpc_server_credentials_create_tls(key, key, NULL, 0, &sc), POLYRPC_ERROR_TLS);
  CHECK_ERR(polyrpc_server_credentials_create_tls(cert, key, NULL, 1, &sc),
            POLYRPC_ERROR_INVALID_ARGUMENT);

  CHECK_OK(polyrpc_call_credentials_create_bearer("token123", &kc));
  polyrpc_call_credentials_destroy(kc);
  CHECK_ERR(polyrpc_call_credentials_create_bearer("bad\ntoken", &kc),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  free(ca);
  free(cert);
  free(key);
}

static int fd_readable(int fd) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_cq_queue(void) {
  polyrpc_cq_t *cq = NULL;
  polyrpc_event_t ev;
  int fd = -1;
  long long start;
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_cq_fd(cq, &fd));
  CHECK(fd >= 0);
  CHECK(!fd_readable(fd));

  memset(&ev, 0, sizeof(ev));
  CHECK_ERR(polyrpc_cq_next(cq, 0, &ev), POLYRPC_ERROR_INVALID_ARGUMENT); /* no struct_size */
  ev.struct_size = sizeof(ev);
  CHECK_OK(polyrpc_cq_next(cq, 0, &ev));
  CHECK(ev.type == POLYRPC_EVENT_NONE);
  start = now_ms();
  CHECK_OK(polyrpc_cq_next(cq, 50, &ev));
  CHECK(ev.type == POLYRPC_EVENT_NONE);
  CHECK(now_ms() - start >= 45);

  /* Shutdown with nothing pending: SHUTDOWN at once, and the fd says so. */
  CHECK_OK(polyrpc_cq_shutdown(cq));
  CHECK(fd_readable(fd));
  CHECK_OK(polyrpc_cq_next(cq, -1, &ev));
  CHECK(ev.type == POLYRPC_EVENT_SHUTDOWN);
  CHECK_OK(polyrpc_cq_shutdown(cq)); /* idempotent */
  polyrpc_cq_destroy(cq);
}

static void on_complete(void *tag, int success, void *ud) {
  (void)tag;
  (void)success;
  (void)ud;
}
static int g_ud_freed;
static void ud_free(void *ud) { g_ud_freed += (ud == &g_ud_freed); }

static void test_cq_callback(void) {
  polyrpc_cq_t *cq = NULL;
  polyrpc_event_t ev;
  int fd;
  ev.struct_size = sizeof(ev);
  CHECK_ERR(polyrpc_cq_create_callback(NULL, NULL, NULL, &cq), POLYRPC_ERROR_INVALID_ARGUMENT);
  g_ud_freed = 0;
  CHECK_OK(polyrpc_cq_create_callback(on_complete, &g_ud_freed, ud_free, &cq));
  CHECK_ERR(polyrpc_cq_next(cq, 0, &ev), POLYRPC_ERROR_WRONG_STATE);
  CHECK_ERR(polyrpc_cq_fd(cq, &fd), POLYRPC_ERROR_WRONG_STATE);
  CHECK(g_ud_freed == 0);
  polyrpc_cq_destroy(cq);
  CHECK(g_ud_freed == 1); /* nothing pending: released at destroy */
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"version", test_version},
      {"error_names", test_error_names},
      {"null_handles", test_null_handles},
      {"destroyed_and_wrong_handles", test_destroyed_and_wrong_handles},
      {"last_error_per_thread", test_last_error_per_thread},
      {"buffers", test_buffers},
      {"metadata", test_metadata},
      {"options", test_options},
      {"credentials", test_credentials},
      {"cq_queue", test_cq_queue},
      {"cq_callback", test_cq_callback},
  };
  return run_tests(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
