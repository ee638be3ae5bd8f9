/* capi.observability: polyrpc/observability.h. The log level and callback (a server's
 * "listening on" message reaches the callback, user_data_free runs once), call metrics after
 * real calls on 127.0.0.1 (started, finished by code, bytes, latency buckets, both sides), the
 * Prometheus text and its HTTP endpoint (a GET over a socket), and traceparent propagation (the
 * server sees a valid traceparent; with a current one, the same trace id). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

static int g_logged, g_freed;
static char g_last[512];

static void on_log(int level, const char *component, const char *message, void *user_data) {
  (void)user_data;
  if (level == POLYRPC_LOG_INFO && strcmp(component, "server") == 0 &&
      strstr(message, "listening on") != NULL) {
    g_logged++;
    snprintf(g_last, sizeof g_last, "%s", message);
  }
}
static void on_free(void *user_data) {
  CHECK(user_data == &g_logged);
  g_freed++;
}

static void test_log(void) {
  polyrpc_server_t *server = NULL;
  polyrpc_server_credentials_t *creds = NULL;
  int port = 0, before = polyrpc_log_level();
  CHECK(before >= POLYRPC_LOG_DEBUG && before <= POLYRPC_LOG_NONE);
  CHECK_ERR(polyrpc_log_set_level(7), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_log_set_level(POLYRPC_LOG_INFO));
  CHECK(polyrpc_log_level() == POLYRPC_LOG_INFO);
  CHECK_OK(polyrpc_log_set_callback(on_log, &g_logged, on_free));
  CHECK_OK(polyrpc_server_create(NULL, &server));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(server, "127.0.0.1:0", creds, &port));
  CHECK(g_logged == 1);
  CHECK(strstr(g_last, "127.0.0.1:0") != NULL);
  /* Below the level: dropped. */
  CHECK_OK(polyrpc_log_set_level(POLYRPC_LOG_ERROR));
  CHECK_OK(polyrpc_server_add_listener(server, "127.0.0.1:0", creds, &port));
  CHECK(g_logged == 1);
  polyrpc_server_credentials_destroy(creds);
  polyrpc_server_destroy(server);
  CHECK(g_freed == 0);
  CHECK_OK(polyrpc_log_set_callback(NULL, NULL, NULL)); /* back to stderr */
  CHECK(g_freed == 1);
  CHECK_OK(polyrpc_log_set_level(before));
}

static uint64_t metric(const char *name) {
  uint64_t v = 0;
  CHECK_OK(polyrpc_metrics_get(name, &v));
  return v;
}

static void unary(polyrpc_channel_t *ch, const char *request, int want_code) {
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = buf_str(request), *resp = NULL;
  int code = -1;
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Unary", 5000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  CHECK(code == want_code);
  polyrpc_buffer_destroy(req);
  polyrpc_buffer_destroy(resp);
  polyrpc_call_destroy(call);
}

static void test_metrics(void) {
  int port = 0;
  test_server_t *s = test_server_start(NULL, &port);
  polyrpc_channel_t *ch = test_channel(port);
  uint64_t c0 = metric("client.calls_started"), ok0 = metric("client.calls_finished.OK");
  uint64_t nf0 = metric("client.calls_finished.NOT_FOUND"), s0 = metric("server.calls_started");
  uint64_t sok0 = metric("server.calls_finished.OK"), sent0 = metric("client.bytes_sent");
  uint64_t recv0 = metric("server.bytes_received"), lat0 = metric("client.latency_count");
  uint64_t inf0 = metric("client.latency_bucket.inf"), all0 = metric("server.calls_finished");
  int i;
  for (i = 0; i < 5; i++) unary(ch, "hello", 0); /* 5 bytes + 5 of prefix each way */
  unary(ch, "status 5 not here", POLYRPC_STATUS_NOT_FOUND);
  CHECK(metric("client.calls_started") - c0 == 6);
  CHECK(metric("client.calls_finished.OK") - ok0 == 5);
  CHECK(metric("client.calls_finished.NOT_FOUND") - nf0 == 1);
  /* The server counts its end when the status goes out: wait for the last one. */
  CHECK(metric("server.calls_started") - s0 == 6);
  for (i = 0; i < 100 && metric("server.calls_finished") - all0 < 6; i++) sleep_ms(10);
  CHECK(metric("server.calls_finished.OK") - sok0 == 5);
  CHECK(metric("client.bytes_sent") - sent0 == 5 * 10 + 22);
  CHECK(metric("server.bytes_received") - recv0 == 5 * 10 + 22);
  CHECK(metric("client.latency_count") - lat0 == 6);
  CHECK(metric("client.latency_bucket.inf") - inf0 == 6);
  CHECK(metric("client.latency_bucket.10000000") <= metric("client.latency_bucket.inf"));
  CHECK(metric("client.latency_bucket.100") <= metric("client.latency_bucket.250"));
  {
    uint64_t v;
    CHECK_ERR(polyrpc_metrics_get("client.nope", &v), POLYRPC_ERROR_NOT_FOUND);
    CHECK_ERR(polyrpc_metrics_get("client.latency_bucket.7", &v), POLYRPC_ERROR_NOT_FOUND);
    CHECK_ERR(polyrpc_metrics_get(NULL, &v), POLYRPC_ERROR_INVALID_ARGUMENT);
    CHECK_ERR(polyrpc_metrics_get("client.calls_started", NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  }
  polyrpc_channel_destroy(ch);
  test_server_stop(s);
}

static int text_has(const char *text, const char *s) { return strstr(text, s) != NULL; }

static void test_prometheus(void) {
  polyrpc_buffer_t *text = NULL;
  const uint8_t *d;
  size_t n;
  int port = 0, fd, got = 0;
  struct sockaddr_in a;
  char resp[65536];
  const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_OK(polyrpc_metrics_text(&text));
  CHECK_OK(polyrpc_buffer_data(text, &d, &n));
  CHECK(d[n] == '\0');
  CHECK(text_has((const char *)d, "# TYPE polyrpc_client_calls_started_total counter"));
  CHECK(text_has((const char *)d, "polyrpc_server_calls_finished_total{code=\"OK\"} "));
  CHECK(text_has((const char *)d, "# TYPE polyrpc_server_call_duration_seconds histogram"));
  CHECK(text_has((const char *)d, "polyrpc_client_call_duration_seconds_bucket{le=\"+Inf\"} "));
  polyrpc_buffer_destroy(text);
  CHECK_ERR(polyrpc_metrics_text(NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_metrics_serve("nowhere", &port), POLYRPC_ERROR_IO);
  CHECK_ERR(polyrpc_metrics_serve(NULL, &port), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_metrics_serve("127.0.0.1:0", &port));
  CHECK(port > 0);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
  for (;;) {
    ssize_t r = read(fd, resp + got, sizeof resp - 1 - (size_t)got);
    if (r <= 0) break;
    got += (int)r;
  }
  close(fd);
  resp[got] = '\0';
  CHECK(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(text_has(resp, "Content-Type: text/plain; version=0.0.4"));
  CHECK(text_has(resp, "polyrpc_client_bytes_sent_total "));
}

/* A server whose one method answers the request's traceparent. */
typedef struct {
  polyrpc_server_t *server;
  int port;
  pthread_t thread;
} trace_server_t;

static void *serve_trace(void *arg) {
  trace_server_t *s = arg;
  for (;;) {
    polyrpc_call_t *call = NULL;
    polyrpc_buffer_t *req = NULL, *resp;
    const polyrpc_metadata_t *md;
    const uint8_t *v = NULL;
    size_t n = 0;
    int written;
    if (polyrpc_server_request_call_v2(s->server, NULL, NULL) != POLYRPC_OK) break;
    CHECK_OK(polyrpc_server_take_call(s->server, NULL, &call));
    CHECK_OK(polyrpc_call_read(call, &req));
    md = polyrpc_call_request_metadata(call);
    if (polyrpc_metadata_find(md, "traceparent", &v, &n) != POLYRPC_OK) n = 0;
    CHECK_OK(polyrpc_buffer_create_copy(n ? v : NULL, n, &resp));
    CHECK_OK(polyrpc_call_write(call, resp, 0, &written));
    CHECK_OK(polyrpc_call_send_status(call, 0, NULL, NULL, NULL, NULL));
    polyrpc_buffer_destroy(req);
    polyrpc_buffer_destroy(resp);
    polyrpc_call_destroy(call);
  }
  return NULL;
}

static void traceparent_of(polyrpc_channel_t *ch, char *out) {
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = buf_str(""), *resp = NULL;
  const uint8_t *d;
  size_t n;
  CHECK_OK(polyrpc_call_create(ch, "/t.Trace/Echo", 5000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK(resp != NULL);
  CHECK_OK(polyrpc_buffer_data(resp, &d, &n));
  CHECK(n < 128);
  if (n > 0) memcpy(out, d, n); /* an empty buffer's data may be NULL */
  out[n] = '\0';
  polyrpc_buffer_destroy(req);
  polyrpc_buffer_destroy(resp);
  polyrpc_call_destroy(call);
}

static void test_traceparent(void) {
  trace_server_t s;
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_channel_t *ch;
  char a[128], b[128];
  const char *parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CHECK_OK(polyrpc_server_create(NULL, &s.server));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(s.server, "127.0.0.1:0", creds, &s.port));
  polyrpc_server_credentials_destroy(creds);
  CHECK_OK(polyrpc_server_register_method(s.server, "/t.Trace/Echo"));
  CHECK_OK(polyrpc_server_start(s.server));
  CHECK(pthread_create(&s.thread, NULL, serve_trace, &s) == 0);
  ch = test_channel(s.port);

  traceparent_of(ch, a);
  CHECK(a[0] == '\0'); /* off by default */
  CHECK_OK(polyrpc_trace_set_propagation(1));
  traceparent_of(ch, a);
  traceparent_of(ch, b);
  CHECK(strlen(a) == 55 && strncmp(a, "00-", 3) == 0 && strcmp(a + 52, "-01") == 0);
  CHECK(strncmp(a + 3, b + 3, 32) != 0); /* two new traces */
  CHECK_ERR(polyrpc_trace_set_current("00-nope"), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_trace_set_current(parent));
  traceparent_of(ch, a);
  CHECK(strncmp(a, parent, 36) == 0);          /* the same trace */
  CHECK(strncmp(a + 36, parent + 36, 16) != 0); /* a new span */
  CHECK_OK(polyrpc_trace_set_current(NULL));
  traceparent_of(ch, b);
  CHECK(strncmp(b + 3, parent + 3, 32) != 0);
  CHECK_OK(polyrpc_trace_set_propagation(0));
  traceparent_of(ch, a);
  CHECK(a[0] == '\0');

  polyrpc_channel_destroy(ch);
  CHECK_OK(polyrpc_server_shutdown(s.server, 1000));
  pthread_join(s.thread, NULL);
  polyrpc_server_destroy(s.server);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"log", test_log},
      {"metrics", test_metrics},
      {"prometheus", test_prometheus},
      {"traceparent", test_traceparent},
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
