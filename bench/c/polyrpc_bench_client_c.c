/* Unary client loop on the C ABI (libpolyrpc), for bench/run's "C ABI within 5% of C++" figure.
 * Same loop as polyrpc_bench_client --scenario=unary: --threads threads share one channel and
 * make blocking unary calls (polyrpc_call_unary). The messages are protobuf-c's (protoc-c's
 * grpc.testing code, generated at build time): the SimpleRequest is packed once per thread, and
 * every SimpleResponse is unpacked and its payload checked, as the C++ loop parses its responses.
 *
 *   polyrpc_bench_client_c --target=127.0.0.1:PORT --threads=4 --duration=2 --warmup=0.3
 * Prints one JSON line like the C++ client loops. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grpc/testing/messages.pb-c.h"
#include "polyrpc/polyrpc.h"

static const char kMethod[] = "/grpc.testing.TestService/UnaryCall";
static polyrpc_channel_t *g_channel;
static int g_req_size = 100, g_resp_size = 100;
static volatile int g_measuring, g_stop;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* SimpleRequest{response_size: resp, payload: Payload{body: req bytes of 'x'}}, packed into a
 * malloc'ed block (*len bytes). */
static uint8_t *pack_request(size_t *len) {
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
  uint8_t *body = malloc((size_t)g_req_size + 1), *out;
  memset(body, 'x', (size_t)g_req_size);
  payload.body.data = body;
  payload.body.len = (size_t)g_req_size;
  req.response_size = g_resp_size;
  req.payload = &payload;
  *len = grpc__testing__simple_request__get_packed_size(&req);
  out = malloc(*len + 1);
  grpc__testing__simple_request__pack(&req, out);
  free(body);
  return out;
}

/* SimpleResponse must hold payload.body of exactly g_resp_size bytes. */
static int check_response(const uint8_t *p, size_t len) {
  Grpc__Testing__SimpleResponse *r = grpc__testing__simple_response__unpack(NULL, len, p);
  int ok = r != NULL && r->payload != NULL && r->payload->body.len == (size_t)g_resp_size;
  if (r != NULL) grpc__testing__simple_response__free_unpacked(r, NULL);
  return ok ? 0 : -1;
}

typedef struct {
  double *lat;
  size_t n, cap;
  long ops, errors;
} thread_result_t;

static void *worker(void *arg) {
  thread_result_t *r = arg;
  size_t req_len = 0;
  uint8_t *req = pack_request(&req_len);
  while (!g_stop) {
    int measuring = g_measuring;
    double t0 = now_s();
    polyrpc_buffer_t *in = NULL, *out = NULL;
    polyrpc_call_t *call = NULL;
    int code = -1, ok = 0;
    if (polyrpc_buffer_create_copy(req, req_len, &in) == POLYRPC_OK &&
        polyrpc_call_create(g_channel, kMethod, -1, NULL, 0, &call) == POLYRPC_OK &&
        polyrpc_call_unary(call, in, &out) == POLYRPC_OK &&
        polyrpc_call_status(call, &code, NULL) == POLYRPC_OK && code == 0 && out) {
      const uint8_t *data = NULL;
      size_t len = 0;
      ok = polyrpc_buffer_data(out, &data, &len) == POLYRPC_OK && check_response(data, len) == 0;
    }
    polyrpc_buffer_destroy(out);
    polyrpc_buffer_destroy(in);
    polyrpc_call_destroy(call);
    if (!measuring) continue;
    if (!ok) {
      if (++r->errors > 100) break;
      continue;
    }
    if (r->n == r->cap)
      r->lat = realloc(r->lat, (r->cap = r->cap ? r->cap * 2 : 65536) * sizeof(double));
    r->lat[r->n++] = (now_s() - t0) * 1e6;
    r->ops++;
  }
  free(req);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const char *target = "127.0.0.1:50051";
  int threads = 1;
  double duration = 2.0, warmup = 0.3;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strncmp(a, "--target=", 9) == 0)
      target = a + 9;
    else if (strncmp(a, "--threads=", 10) == 0)
      threads = atoi(a + 10);
    else if (strncmp(a, "--duration=", 11) == 0)
      duration = atof(a + 11);
    else if (strncmp(a, "--warmup=", 9) == 0)
      warmup = atof(a + 9);
    else if (strncmp(a, "--req_size=", 11) == 0)
      g_req_size = atoi(a + 11);
    else if (strncmp(a, "--resp_size=", 12) == 0)
      g_resp_size = atoi(a + 12);
    else if (strcmp(a, "--scenario=unary") == 0) {
    } else {
      fprintf(stderr, "unknown flag %s (only --scenario=unary is implemented)\n", a);
      return 2;
    }
  }
  polyrpc_channel_credentials_t *creds = NULL;
  if (polyrpc_channel_credentials_create_insecure(&creds) != POLYRPC_OK ||
      polyrpc_channel_create(target, creds, NULL, &g_channel) != POLYRPC_OK) {
    fprintf(stderr, "channel: %s\n", polyrpc_last_error());
    return 1;
  }
  polyrpc_channel_credentials_destroy(creds);
  polyrpc_connectivity_state_t st = POLYRPC_CHANNEL_IDLE;
  double give_up = now_s() + 10;
  while (polyrpc_channel_get_state(g_channel, 1, &st) == POLYRPC_OK &&
         st != POLYRPC_CHANNEL_READY && now_s() < give_up) {
    polyrpc_channel_wait_for_state_change(g_channel, st, 1000);
  }
  if (st != POLYRPC_CHANNEL_READY) {
    fprintf(stderr, "could not connect to %s\n", target);
    return 1;
  }
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  thread_result_t *res = calloc((size_t)threads, sizeof *res);
  for (int t = 0; t < threads; ++t) pthread_create(&tids[t], NULL, worker, &res[t]);
  usleep((useconds_t)(warmup * 1e6));
  double t0 = now_s();
  g_measuring = 1;
  usleep((useconds_t)(duration * 1e6));
  g_measuring = 0;
  double secs = now_s() - t0;
  g_stop = 1;
  size_t total = 0;
  long ops = 0, errors = 0;
  for (int t = 0; t < threads; ++t) {
    pthread_join(tids[t], NULL);
    total += res[t].n;
    ops += res[t].ops;
    errors += res[t].errors;
  }
  double *all = malloc((total ? total : 1) * sizeof *all);
  size_t k = 0;
  for (int t = 0; t < threads; ++t) {
    memcpy(all + k, res[t].lat, res[t].n * sizeof *all);
    k += res[t].n;
    free(res[t].lat);
  }
  qsort(all, total, sizeof *all, cmp_double);
  printf(
      "{\"ops\":%ld,\"secs\":%.4f,\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%ld}\n",
      ops, secs, ops / secs, total ? all[total / 2] : 0.0,
      total ? all[(size_t)(total * 0.99)] : 0.0, errors);
  fflush(stdout);
  free(all);
  free(res);
  free(tids);
  polyrpc_channel_destroy(g_channel);
  return errors == 0 && ops > 0 ? 0 : 1;
}
