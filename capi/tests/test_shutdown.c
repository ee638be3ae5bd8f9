/* polyrpc_shutdown(): the library stops its I/O threads with objects still alive, ends what was
 * in flight, reports the old objects as CLOSED, and starts again lazily on the next use. (Mono
 * hung at exit while polyrpc's I/O thread lived: a host's exit hook calls this.) */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>

#include "test_util.h"

/* Threads of this process named polyrpc-io-N. */
static int io_threads(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  CHECK(d != NULL);
  while ((e = readdir(d)) != NULL) {
    char path[300], name[64] = "";
    FILE *f;
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    f = fopen(path, "r");
    if (f == NULL) continue;
    if (fgets(name, sizeof name, f) != NULL && strncmp(name, "polyrpc-io-", 11) == 0) n++;
    fclose(f);
  }
  closedir(d);
  return n;
}

static void unary_ok(int port) {
  polyrpc_channel_t *ch = test_channel(port);
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = buf_str("hi"), *resp = NULL;
  int code = -1;
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Unary", 10000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  CHECK(code == 0 && buf_eq(resp, "hi"));
  polyrpc_buffer_destroy(resp);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

struct reader {
  polyrpc_call_t *call;
  polyrpc_buffer_t *got;
  polyrpc_error_t err;
};

static void *read_one(void *p) {
  struct reader *r = (struct reader *)p;
  r->err = polyrpc_call_read(r->call, &r->got);
  return NULL;
}

static polyrpc_error_t g_from_callback = POLYRPC_OK;
static void shutdown_from_callback(void *tag, int success, void *user_data) {
  (void)tag;
  (void)success;
  (void)user_data;
  __atomic_store_n(&g_from_callback, polyrpc_shutdown(0), __ATOMIC_SEQ_CST);
}

static void test_shutdown_and_restart(void) {
  int port = 0, port2 = 0;
  test_server_t *server = test_server_start(NULL, &port);
  polyrpc_channel_t *ch = test_channel(port);
  polyrpc_call_t *sleeping = NULL, *late = (polyrpc_call_t *)1;
  polyrpc_cq_t *cq, *cb;
  polyrpc_event_t ev;
  struct reader r = {NULL, (polyrpc_buffer_t *)1, POLYRPC_ERROR_INTERNAL};
  pthread_t t;
  long long start;
  int code = -1;

  unary_ok(port);
  CHECK(io_threads() > 0);

  /* A shutdown from inside a completion callback (an I/O thread) is refused. */
  CHECK_OK(polyrpc_cq_create_callback(shutdown_from_callback, NULL, NULL, &cb));
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Unary", 10000, NULL, 0, &late));
  CHECK_OK(polyrpc_call_start(late, cb, NULL));
  /* Set on an I/O thread: read atomically (TSan). */
  for (start = now_ms();
       __atomic_load_n(&g_from_callback, __ATOMIC_SEQ_CST) == POLYRPC_OK && now_ms() - start < 5000;)
    sleep_ms(10);
  CHECK(__atomic_load_n(&g_from_callback, __ATOMIC_SEQ_CST) == POLYRPC_ERROR_WRONG_STATE);
  polyrpc_call_destroy(late);
  polyrpc_cq_destroy(cb);

  /* In flight: a thread blocked reading a call that never answers, and a queued operation. */
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Sleep", -1, NULL, 0, &sleeping));
  CHECK_OK(polyrpc_call_recv_initial_metadata(sleeping, cq, (void *)9));
  r.call = sleeping;
  pthread_create(&t, NULL, read_one, &r);
  sleep_ms(100);

  start = now_ms();
  CHECK_OK(polyrpc_shutdown(1000));
  CHECK(now_ms() - start < 5000);
  CHECK(io_threads() == 0);
  pthread_join(t, NULL);
  CHECK(r.err == POLYRPC_OK && r.got == NULL); /* the blocked read ended: its call is over */
  ev.struct_size = sizeof ev;
  CHECK_OK(polyrpc_cq_next(cq, 5000, &ev)); /* the queued operation completed too */
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)9 && ev.success == 0);
  polyrpc_cq_destroy(cq);

  /* Old objects are dead, and say why. */
  late = (polyrpc_call_t *)1;
  CHECK_ERR(polyrpc_call_create(ch, "/test.Echo/Unary", 1000, NULL, 0, &late), POLYRPC_ERROR_CLOSED);
  CHECK(late == NULL);
  CHECK(strstr(polyrpc_last_error(), "polyrpc_shutdown") != NULL);
  CHECK_ERR(polyrpc_call_status(sleeping, &code, NULL), POLYRPC_ERROR_CLOSED);
  /* Idempotent. */
  CHECK_OK(polyrpc_shutdown(0));
  /* Destroying them is still fine. */
  polyrpc_call_destroy(sleeping);
  polyrpc_channel_destroy(ch);
  test_server_stop(server);
  CHECK(io_threads() == 0);

  /* The library starts again on the next use. */
  server = test_server_start(NULL, &port2);
  unary_ok(port2);
  CHECK(io_threads() > 0);
  test_server_stop(server);
  CHECK_OK(polyrpc_shutdown(-1));
  CHECK(io_threads() == 0);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"shutdown_and_restart", test_shutdown_and_restart},
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
