/* capi.services: the health service and server reflection of a polyrpc C server
 * (polyrpc_server_enable_health, _set_health_status, _enable_reflection), through the C client:
 * health Check and Watch with hand-encoded messages, and reflection by the library's own
 * reflection client (polyrpc_descriptor_pool_add_from_reflection) followed by a JSON call
 * described by what it fetched. The FileDescriptorSet of grpc.testing comes from the build
 * (POLYRPC_DYNAMIC_FDS, as for capi.dynamic). grpcurl, grpc-health-probe and grpcio's clients
 * test the same services from outside (ecosystem/, bindings/python/tests). */
#include <pthread.h>

#include "test_util.h"

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *data;
  long n;
  CHECK(f != NULL);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc((size_t)n + 1);
  CHECK(data != NULL && fread(data, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return data;
}

static polyrpc_descriptor_pool_t *testing_pool(void) {
  polyrpc_descriptor_pool_t *pool = NULL;
  size_t len = 0;
  const char *path = getenv("POLYRPC_DYNAMIC_FDS");
  uint8_t *fds;
  CHECK(path != NULL);
  fds = read_file(path, &len);
  CHECK_OK(polyrpc_descriptor_pool_create(&pool));
  CHECK_OK(polyrpc_descriptor_pool_add_file_set(pool, fds, len));
  free(fds);
  return pool;
}

/* A server with health, reflection over the grpc.testing pool, and UnaryCall served by a thread
 * that answers an empty SimpleResponse. */
typedef struct {
  polyrpc_server_t *server;
  int port;
  pthread_t thread;
} server_t;

static void *serve(void *arg) {
  server_t *s = arg;
  for (;;) {
    polyrpc_call_t *call = NULL;
    polyrpc_buffer_t *req = NULL, *resp = NULL;
    int written = 0;
    if (polyrpc_server_request_call_v2(s->server, NULL, NULL) != POLYRPC_OK) break;
    CHECK_OK(polyrpc_server_take_call(s->server, NULL, &call));
    CHECK_OK(polyrpc_call_read(call, &req));
    resp = buf_str("\x22\x04" "demo"); /* SimpleResponse.server_id (4) = "demo" */
    CHECK_OK(polyrpc_call_write(call, resp, 0, &written));
    CHECK_OK(polyrpc_call_send_status(call, 0, NULL, NULL, NULL, NULL));
    polyrpc_buffer_destroy(req);
    polyrpc_buffer_destroy(resp);
    polyrpc_call_destroy(call);
  }
  return NULL;
}

static server_t *server_start(int with_pool) {
  server_t *s = calloc(1, sizeof *s);
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_descriptor_pool_t *pool = with_pool ? testing_pool() : NULL;
  CHECK(s != NULL);
  CHECK_OK(polyrpc_server_create(NULL, &s->server));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(s->server, "127.0.0.1:0", creds, &s->port));
  polyrpc_server_credentials_destroy(creds);
  CHECK_OK(polyrpc_server_register_method(s->server, "/grpc.testing.TestService/UnaryCall"));
  CHECK_OK(polyrpc_server_enable_health(s->server));
  CHECK_OK(polyrpc_server_enable_health(s->server)); /* harmless */
  CHECK_OK(polyrpc_server_enable_reflection(s->server, pool));
  polyrpc_descriptor_pool_destroy(pool); /* the server keeps what it needs */
  CHECK_OK(polyrpc_server_start(s->server));
  CHECK(pthread_create(&s->thread, NULL, serve, s) == 0);
  return s;
}

static void server_stop(server_t *s) {
  CHECK_OK(polyrpc_server_shutdown(s->server, 1000));
  pthread_join(s->thread, NULL);
  polyrpc_server_destroy(s->server);
  free(s);
}

/* HealthCheckRequest { string service = 1; } */
static polyrpc_buffer_t *health_request(const char *service) {
  uint8_t b[256];
  size_t n = strlen(service);
  polyrpc_buffer_t *buf = NULL;
  CHECK(n < 128);
  b[0] = 0x0a;
  b[1] = (uint8_t)n;
  memcpy(b + 2, service, n);
  CHECK_OK(polyrpc_buffer_create_copy(n ? b : NULL, n ? n + 2 : 0, &buf));
  return buf;
}

/* HealthCheckResponse { ServingStatus status = 1; }: the status, or -1 if malformed. */
static int health_status_of(const polyrpc_buffer_t *msg) {
  const uint8_t *d;
  size_t n;
  CHECK_OK(polyrpc_buffer_data(msg, &d, &n));
  if (n == 0) return 0;
  if (n == 2 && d[0] == 0x08) return d[1];
  return -1;
}

/* Check: the status, or -(gRPC code) when the call fails. */
static int check(polyrpc_channel_t *ch, const char *service) {
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = health_request(service), *resp = NULL;
  int code = -1, status;
  CHECK_OK(polyrpc_call_create(ch, "/grpc.health.v1.Health/Check", 5000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  status = code == 0 ? health_status_of(resp) : -code;
  polyrpc_buffer_destroy(req);
  polyrpc_buffer_destroy(resp);
  polyrpc_call_destroy(call);
  return status;
}

static void test_health_check(void) {
  server_t *s = server_start(1);
  polyrpc_channel_t *ch = test_channel(s->port);
  CHECK(check(ch, "") == POLYRPC_HEALTH_SERVING);
  CHECK(check(ch, "grpc.testing.TestService") == -POLYRPC_STATUS_NOT_FOUND);
  CHECK_OK(polyrpc_server_set_health_status(s->server, "grpc.testing.TestService",
                                            POLYRPC_HEALTH_NOT_SERVING));
  CHECK(check(ch, "grpc.testing.TestService") == POLYRPC_HEALTH_NOT_SERVING);
  CHECK_OK(polyrpc_server_set_health_status(s->server, "grpc.testing.TestService",
                                            POLYRPC_HEALTH_SERVING));
  CHECK(check(ch, "grpc.testing.TestService") == POLYRPC_HEALTH_SERVING);
  CHECK_OK(polyrpc_server_set_health_status(s->server, "grpc.testing.TestService",
                                            POLYRPC_HEALTH_SERVICE_UNKNOWN));
  CHECK(check(ch, "grpc.testing.TestService") == -POLYRPC_STATUS_NOT_FOUND);
  CHECK_OK(polyrpc_server_set_health_status(s->server, "", POLYRPC_HEALTH_NOT_SERVING));
  CHECK(check(ch, "") == POLYRPC_HEALTH_NOT_SERVING);
  polyrpc_channel_destroy(ch);
  server_stop(s);
}

static int read_status(polyrpc_call_t *call) {
  polyrpc_buffer_t *msg = NULL;
  int st;
  CHECK_OK(polyrpc_call_read(call, &msg));
  if (msg == NULL) return -100;
  st = health_status_of(msg);
  polyrpc_buffer_destroy(msg);
  return st;
}

static void test_health_watch(void) {
  server_t *s = server_start(0);
  polyrpc_channel_t *ch = test_channel(s->port);
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = health_request("svc");
  int written = 0, code = -1;
  CHECK_OK(polyrpc_call_create(ch, "/grpc.health.v1.Health/Watch", 10000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_write(call, req, POLYRPC_WRITE_LAST, &written));
  CHECK(written == 1);
  CHECK(read_status(call) == POLYRPC_HEALTH_SERVICE_UNKNOWN);
  CHECK_OK(polyrpc_server_set_health_status(s->server, "svc", POLYRPC_HEALTH_SERVING));
  CHECK(read_status(call) == POLYRPC_HEALTH_SERVING);
  CHECK_OK(polyrpc_server_set_health_status(s->server, "other", POLYRPC_HEALTH_NOT_SERVING));
  CHECK_OK(polyrpc_server_set_health_status(s->server, "svc", POLYRPC_HEALTH_NOT_SERVING));
  CHECK(read_status(call) == POLYRPC_HEALTH_NOT_SERVING);
  /* Shutdown: NOT_SERVING was sent already, so the stream just ends, UNAVAILABLE. */
  CHECK_OK(polyrpc_server_set_health_status(s->server, "svc", POLYRPC_HEALTH_SERVING));
  CHECK(read_status(call) == POLYRPC_HEALTH_SERVING);
  CHECK_OK(polyrpc_server_shutdown(s->server, 5000));
  CHECK(read_status(call) == POLYRPC_HEALTH_NOT_SERVING);
  CHECK(read_status(call) == -100);
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  CHECK(code == POLYRPC_STATUS_UNAVAILABLE);
  /* After the shutdown, changes are ignored (not errors). */
  CHECK_OK(polyrpc_server_set_health_status(s->server, "svc", POLYRPC_HEALTH_SERVING));
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
  server_stop(s);
}

static void test_reflection_round_trip(void) {
  server_t *s = server_start(1);
  polyrpc_channel_t *ch = test_channel(s->port);
  polyrpc_descriptor_pool_t *fetched = NULL;
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *reply = NULL;
  size_t count = 0, i;
  int kind = -1, code = -1, saw_testing = 0, saw_health = 0;
  const char *name;
  /* Every listed service: the registered one, health and both reflection versions. */
  CHECK_OK(polyrpc_descriptor_pool_create(&fetched));
  CHECK_OK(polyrpc_descriptor_pool_add_from_reflection(fetched, ch, NULL, NULL, 5000));
  CHECK_OK(polyrpc_descriptor_pool_service_count(fetched, &count));
  for (i = 0; i < count; i++) {
    CHECK_OK(polyrpc_descriptor_pool_service(fetched, i, &name, NULL));
    if (strcmp(name, "grpc.testing.TestService") == 0) saw_testing = 1;
    if (strcmp(name, "grpc.health.v1.Health") == 0) saw_health = 1;
  }
  CHECK(saw_testing && saw_health);
  CHECK_OK(polyrpc_descriptor_pool_find_method(fetched, "grpc.health.v1.Health/Watch", &kind,
                                               NULL, NULL, NULL));
  CHECK(kind == POLYRPC_METHOD_SERVER_STREAMING);
  CHECK_OK(polyrpc_descriptor_pool_find_method(fetched, "grpc.testing.TestService/FullDuplexCall",
                                               &kind, NULL, NULL, NULL));
  CHECK(kind == POLYRPC_METHOD_BIDI_STREAMING);
  /* A JSON call described by what reflection gave. */
  CHECK_OK(polyrpc_call_create(ch, "/grpc.testing.TestService/UnaryCall", 5000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary_json(call, fetched, "grpc.testing.TestService/UnaryCall",
                                   "{\"responseSize\": 1}", 0, &reply));
  CHECK_OK(polyrpc_call_status(call, &code, &name));
  if (code != 0) fprintf(stderr, "UnaryCall: %d %s\n", code, name);
  CHECK(code == 0);
  CHECK(buf_eq(reply, "{\"serverId\":\"demo\"}"));
  polyrpc_buffer_destroy(reply);
  polyrpc_call_destroy(call);
  /* A symbol the server does not know. */
  polyrpc_descriptor_pool_destroy(fetched);
  CHECK_OK(polyrpc_descriptor_pool_create(&fetched));
  CHECK_ERR(polyrpc_descriptor_pool_add_from_reflection(fetched, ch, "no.Such", NULL, 5000),
            POLYRPC_ERROR_NOT_FOUND);
  polyrpc_descriptor_pool_destroy(fetched);
  polyrpc_channel_destroy(ch);
  server_stop(s);
}

static void test_reflection_without_pool(void) {
  /* Services are listed, and the built-in ones described; the registered one is not. */
  server_t *s = server_start(0);
  polyrpc_channel_t *ch = test_channel(s->port);
  polyrpc_descriptor_pool_t *fetched = NULL;
  CHECK_OK(polyrpc_descriptor_pool_create(&fetched));
  CHECK_OK(polyrpc_descriptor_pool_add_from_reflection(fetched, ch, "grpc.health.v1.Health", NULL,
                                                       5000));
  CHECK_OK(polyrpc_descriptor_pool_find_method(fetched, "grpc.health.v1.Health/Check", NULL, NULL,
                                               NULL, NULL));
  CHECK_ERR(polyrpc_descriptor_pool_add_from_reflection(fetched, ch, "grpc.testing.TestService",
                                                        NULL, 5000),
            POLYRPC_ERROR_NOT_FOUND);
  polyrpc_descriptor_pool_destroy(fetched);
  polyrpc_channel_destroy(ch);
  server_stop(s);
}

static int contains(const polyrpc_buffer_t *b, const char *s) {
  const uint8_t *d;
  size_t n;
  CHECK_OK(polyrpc_buffer_data(b, &d, &n));
  CHECK(d[n] == '\0');
  return strstr((const char *)d, s) != NULL;
}

static void test_describe(void) {
  polyrpc_descriptor_pool_t *pool = testing_pool();
  polyrpc_buffer_t *text = NULL;
  const char *kind = NULL;
  CHECK_OK(polyrpc_descriptor_pool_describe(pool, "grpc.testing.TestService", &kind, &text));
  CHECK(strcmp(kind, "service") == 0);
  CHECK(contains(text, "service TestService {"));
  CHECK(contains(text, "rpc FullDuplexCall(stream .grpc.testing.StreamingOutputCallRequest)"));
  polyrpc_buffer_destroy(text);
  CHECK_OK(polyrpc_descriptor_pool_describe(pool, "grpc.testing.TestService.UnaryCall", &kind,
                                            &text));
  CHECK(strcmp(kind, "method") == 0);
  polyrpc_buffer_destroy(text);
  CHECK_OK(polyrpc_descriptor_pool_describe(pool, ".grpc.testing.SimpleRequest", &kind, &text));
  CHECK(strcmp(kind, "message") == 0);
  /* protoc's json_name is printed only where it is not the default. */
  CHECK(contains(text, "int32 response_size = 2;"));
  polyrpc_buffer_destroy(text);
  CHECK_OK(polyrpc_descriptor_pool_describe(pool, "grpc.testing.PayloadType", &kind, &text));
  CHECK(strcmp(kind, "enum") == 0);
  polyrpc_buffer_destroy(text);
  CHECK_OK(polyrpc_descriptor_pool_describe(pool, "grpc/testing/empty.proto", NULL, &text));
  CHECK(contains(text, "message Empty"));
  polyrpc_buffer_destroy(text);
  CHECK_ERR(polyrpc_descriptor_pool_describe(pool, "no.Such", &kind, &text),
            POLYRPC_ERROR_NOT_FOUND);
  CHECK(text == NULL);
  CHECK_ERR(polyrpc_descriptor_pool_describe(pool, NULL, &kind, &text),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_descriptor_pool_describe(pool, "x", &kind, NULL),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_descriptor_pool_destroy(pool);
  CHECK_ERR(polyrpc_descriptor_pool_describe(NULL, "x", &kind, &text),
            POLYRPC_ERROR_INVALID_ARGUMENT);
}

static void test_misuse(void) {
  polyrpc_server_t *server = NULL;
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_descriptor_pool_t *pool = NULL;
  int port = 0;
  CHECK_ERR(polyrpc_server_enable_health(NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_server_enable_reflection(NULL, NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_server_set_health_status(NULL, "", 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_server_create(NULL, &server));
  CHECK_ERR(polyrpc_server_set_health_status(server, "", POLYRPC_HEALTH_SERVING),
            POLYRPC_ERROR_WRONG_STATE);
  CHECK_ERR(polyrpc_server_enable_reflection(server, (const polyrpc_descriptor_pool_t *)server),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_server_enable_health(server));
  CHECK_ERR(polyrpc_server_set_health_status(server, NULL, 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_server_set_health_status(server, "", 4), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_server_set_health_status(server, "", -1), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_server_set_health_status(server, "a", POLYRPC_HEALTH_SERVING)); /* before start */
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(server, "127.0.0.1:0", creds, &port));
  polyrpc_server_credentials_destroy(creds);
  CHECK_OK(polyrpc_server_start(server));
  CHECK_ERR(polyrpc_server_enable_health(server), POLYRPC_ERROR_WRONG_STATE);
  CHECK_OK(polyrpc_descriptor_pool_create(&pool));
  CHECK_ERR(polyrpc_server_enable_reflection(server, pool), POLYRPC_ERROR_WRONG_STATE);
  polyrpc_descriptor_pool_destroy(pool);
  CHECK_ERR(polyrpc_server_enable_reflection(server, pool), POLYRPC_ERROR_CLOSED);
  polyrpc_server_destroy(server);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"health_check", test_health_check},
      {"health_watch", test_health_watch},
      {"reflection_round_trip", test_reflection_round_trip},
      {"reflection_without_pool", test_reflection_without_pool},
      {"describe", test_describe},
      {"misuse", test_misuse},
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
