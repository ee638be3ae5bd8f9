/* Helpers of the C test suite; see test_util.h. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <pthread.h>
#include <time.h>

int run_tests(const test_case_t *cases, size_t n, int argc, char **argv) {
  size_t i;
  int ran = 0;
  for (i = 0; i < n; i++) {
    int selected = argc <= 1;
    int a;
    for (a = 1; a < argc; a++) {
      if (strcmp(argv[a], cases[i].name) == 0) selected = 1;
    }
    if (!selected) continue;
    fprintf(stderr, "[ RUN  ] %s\n", cases[i].name);
    cases[i].fn();
    fprintf(stderr, "[  OK  ] %s\n", cases[i].name);
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "no test case matched\n");
    return 1;
  }
  return 0;
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

char *read_cert(const char *name) {
  char path[4096];
  const char *dir = getenv("POLYRPC_TEST_CERTS");
  FILE *f;
  long len;
  char *text;
  if (dir == NULL || *dir == '\0') dir = POLYRPC_BINARY_DIR "/certs";
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s (run tools/gen-test-certs.sh)\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  text = (char *)malloc((size_t)len + 1);
  CHECK(text != NULL);
  CHECK(fread(text, 1, (size_t)len, f) == (size_t)len);
  text[len] = '\0';
  fclose(f);
  return text;
}

polyrpc_buffer_t *buf_str(const char *s) {
  polyrpc_buffer_t *b = NULL;
  CHECK_OK(polyrpc_buffer_create_copy((const uint8_t *)s, strlen(s), &b));
  return b;
}

int buf_eq(const polyrpc_buffer_t *buf, const char *s) {
  const uint8_t *data;
  size_t len;
  if (buf == NULL) return 0;
  if (polyrpc_buffer_data(buf, &data, &len) != POLYRPC_OK) return 0;
  return len == strlen(s) && memcmp(data, s, len) == 0;
}

/* ---- test server ---- */

#define MAX_HANDLERS 1024

struct test_server {
  polyrpc_server_t *server;
  pthread_t dispatcher;
  pthread_mutex_t mu;
  pthread_t handlers[MAX_HANDLERS];
  int n_handlers;
  int cancelled_sleeps;
};

typedef struct handler_arg {
  test_server_t *s;
  polyrpc_call_t *call;
} handler_arg_t;

static void copy_entry(const polyrpc_metadata_t *from, const char *key, polyrpc_metadata_t *to) {
  const uint8_t *v;
  size_t len;
  if (polyrpc_metadata_find(from, key, &v, &len) == POLYRPC_OK) {
    CHECK_OK(polyrpc_metadata_add(to, key, v, len));
  }
}

static int has_value(const polyrpc_metadata_t *md, const char *key, const char *want) {
  const uint8_t *v;
  size_t len;
  return polyrpc_metadata_find(md, key, &v, &len) == POLYRPC_OK && len == strlen(want) &&
         memcmp(v, want, len) == 0;
}

static polyrpc_buffer_t *recv_one(polyrpc_call_t *call, int *compressed) {
  polyrpc_buffer_t *b = NULL;
  if (polyrpc_call_recv_message(call, NULL, NULL) != POLYRPC_OK) return NULL;
  CHECK_OK(polyrpc_call_take_message(call, &b, compressed));
  return b;
}

static void *serve_call(void *p) {
  handler_arg_t *arg = (handler_arg_t *)p;
  polyrpc_call_t *call = arg->call;
  const char *method = polyrpc_call_method(call);
  const polyrpc_metadata_t *req_md = polyrpc_call_request_metadata(call);
  polyrpc_metadata_t *initial = NULL, *trailing = NULL;
  polyrpc_buffer_t *msg;
  int compressed = 0;
  char text[64];

  CHECK(method != NULL && req_md != NULL);
  CHECK_OK(polyrpc_metadata_create(&initial));
  CHECK_OK(polyrpc_metadata_create(&trailing));
  copy_entry(req_md, "x-echo-initial", initial);
  copy_entry(req_md, "x-echo-trailing-bin", trailing);
  if (has_value(req_md, "x-compress-response", "1")) {
    CHECK_OK(polyrpc_call_set_response_compression(call, "gzip"));
  }

  if (strcmp(method, "/test.Echo/Sleep") == 0) {
    int cancelled = 0;
    polyrpc_error_t err;
    CHECK_OK(polyrpc_call_recv_close(call, NULL, NULL));
    /* CLOSED: polyrpc_shutdown() ended the call (test_shutdown). */
    err = polyrpc_call_is_cancelled(call, &cancelled);
    CHECK(err == POLYRPC_OK || err == POLYRPC_ERROR_CLOSED);
    if (cancelled) {
      pthread_mutex_lock(&arg->s->mu);
      arg->s->cancelled_sleeps++;
      pthread_mutex_unlock(&arg->s->mu);
    }
    goto done;
  }
  /* The call may already be cancelled by the client: operations then fail; that is fine. */
  (void)polyrpc_call_send_initial_metadata(call, initial, NULL, NULL);
  if (strcmp(method, "/test.Echo/Unary") == 0) {
    const uint8_t *data;
    size_t len;
    msg = recv_one(call, &compressed);
    if (msg == NULL) goto done;
    CHECK_OK(polyrpc_metadata_add(trailing, "x-request-compressed",
                                  (const uint8_t *)(compressed ? "1" : "0"), 1));
    CHECK_OK(polyrpc_buffer_data(msg, &data, &len));
    if (len > 7 && memcmp(data, "status ", 7) == 0) {
      char cmd[256];
      int code = 0, consumed = 0;
      snprintf(cmd, sizeof(cmd), "%.*s", (int)len, (const char *)data);
      sscanf(cmd + 7, "%d%n", &code, &consumed);
      if (cmd[7 + consumed] == ' ') consumed++; /* exactly one separator: keep other spaces */
      (void)polyrpc_call_send_status(call, code, cmd + 7 + consumed, trailing, NULL, NULL);
    } else {
      (void)polyrpc_call_send_message(call, msg, 0, NULL, NULL);
      (void)polyrpc_call_send_status(call, 0, NULL, trailing, NULL, NULL);
    }
    polyrpc_buffer_destroy(msg);
  } else if (strcmp(method, "/test.Echo/ClientStream") == 0) {
    size_t total = 0;
    polyrpc_buffer_t *reply;
    while ((msg = recv_one(call, NULL)) != NULL) {
      total += polyrpc_buffer_length(msg);
      polyrpc_buffer_destroy(msg);
    }
    snprintf(text, sizeof(text), "%zu", total);
    reply = buf_str(text);
    (void)polyrpc_call_send_message(call, reply, 0, NULL, NULL);
    (void)polyrpc_call_send_status(call, 0, NULL, trailing, NULL, NULL);
    polyrpc_buffer_destroy(reply);
  } else if (strcmp(method, "/test.Echo/ServerStream") == 0) {
    int i, n = 0;
    msg = recv_one(call, NULL);
    if (msg != NULL) {
      const uint8_t *data;
      size_t len;
      CHECK_OK(polyrpc_buffer_data(msg, &data, &len));
      snprintf(text, sizeof(text), "%.*s", (int)len, (const char *)data);
      n = atoi(text);
      polyrpc_buffer_destroy(msg);
    }
    for (i = 0; i < n; i++) {
      polyrpc_buffer_t *reply;
      snprintf(text, sizeof(text), "%d", i);
      reply = buf_str(text);
      polyrpc_error_t err = polyrpc_call_send_message(call, reply, 0, NULL, NULL);
      polyrpc_buffer_destroy(reply);
      if (err != POLYRPC_OK) break;
    }
    (void)polyrpc_call_send_status(call, 0, NULL, trailing, NULL, NULL);
  } else if (strcmp(method, "/test.Echo/Bidi") == 0) {
    while ((msg = recv_one(call, NULL)) != NULL) {
      polyrpc_error_t err = polyrpc_call_send_message(call, msg, 0, NULL, NULL);
      polyrpc_buffer_destroy(msg);
      if (err != POLYRPC_OK) break;
    }
    (void)polyrpc_call_send_status(call, 0, NULL, trailing, NULL, NULL);
  } else {
    (void)polyrpc_call_send_status(call, POLYRPC_STATUS_UNIMPLEMENTED, "no such method", NULL,
                                   NULL, NULL);
  }
done:
  polyrpc_metadata_destroy(initial);
  polyrpc_metadata_destroy(trailing);
  polyrpc_call_destroy(call);
  free(arg);
  return NULL;
}

static void *dispatch(void *p) {
  test_server_t *s = (test_server_t *)p;
  for (;;) {
    polyrpc_call_t *call = NULL;
    handler_arg_t *arg;
    /* Blocking style: returns CLOSED once the server shuts down. */
    if (polyrpc_server_request_call(s->server, &call, NULL, NULL) != POLYRPC_OK) break;
    CHECK(call != NULL);
    arg = (handler_arg_t *)malloc(sizeof(*arg));
    CHECK(arg != NULL);
    arg->s = s;
    arg->call = call;
    pthread_mutex_lock(&s->mu);
    CHECK(s->n_handlers < MAX_HANDLERS);
    CHECK(pthread_create(&s->handlers[s->n_handlers], NULL, serve_call, arg) == 0);
    s->n_handlers++;
    pthread_mutex_unlock(&s->mu);
  }
  return NULL;
}

test_server_t *test_server_start(const polyrpc_server_credentials_t *creds, int *port) {
  static const char *const methods[] = {"/test.Echo/Unary", "/test.Echo/ClientStream",
                                        "/test.Echo/ServerStream", "/test.Echo/Bidi",
                                        "/test.Echo/Sleep"};
  test_server_t *s = (test_server_t *)calloc(1, sizeof(*s));
  polyrpc_server_credentials_t *insecure = NULL;
  size_t i;
  CHECK(s != NULL);
  pthread_mutex_init(&s->mu, NULL);
  CHECK_OK(polyrpc_server_create(NULL, &s->server));
  if (creds == NULL) {
    CHECK_OK(polyrpc_server_credentials_create_insecure(&insecure));
    creds = insecure;
  }
  CHECK_OK(polyrpc_server_add_listener(s->server, "127.0.0.1:0", creds, port));
  polyrpc_server_credentials_destroy(insecure);
  CHECK(*port > 0);
  for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    CHECK_OK(polyrpc_server_register_method(s->server, methods[i]));
  }
  CHECK_OK(polyrpc_server_start(s->server));
  CHECK(pthread_create(&s->dispatcher, NULL, dispatch, s) == 0);
  return s;
}

int test_server_cancelled_sleeps(test_server_t *s) {
  int n;
  pthread_mutex_lock(&s->mu);
  n = s->cancelled_sleeps;
  pthread_mutex_unlock(&s->mu);
  return n;
}

void test_server_stop(test_server_t *s) {
  int i;
  polyrpc_error_t err = polyrpc_server_shutdown(s->server, 2000);
  /* CLOSED: polyrpc_shutdown() ended the server already (test_shutdown). */
  CHECK(err == POLYRPC_OK || err == POLYRPC_ERROR_CLOSED);
  CHECK(pthread_join(s->dispatcher, NULL) == 0);
  /* The dispatcher is gone, so no handler can be added any more: join without the lock (the
   * handlers take it). */
  for (i = 0; i < s->n_handlers; i++) pthread_join(s->handlers[i], NULL);
  polyrpc_server_destroy(s->server);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

polyrpc_channel_t *test_channel(int port) {
  char target[64];
  polyrpc_channel_credentials_t *creds = NULL;
  polyrpc_channel_t *ch = NULL;
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  CHECK_OK(polyrpc_channel_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_channel_create(target, creds, NULL, &ch));
  polyrpc_channel_credentials_destroy(creds);
  return ch;
}
