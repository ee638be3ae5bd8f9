/* What garbage-collected, GVL-bound and threadless hosts need of the C API (since 0.2), tested
 * against a loopback server: waking a thread blocked in polyrpc_cq_next from another thread,
 * every tag back exactly once when a queue goes away with operations pending, take-style
 * requests for server calls, and stream ends, timeouts and finished calls as results rather
 * than errors. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "test_util.h"

static int g_port;
static test_server_t *g_server;

static polyrpc_call_t *new_call(polyrpc_channel_t *ch, const char *method, int64_t timeout_ms) {
  polyrpc_call_t *call = NULL;
  CHECK_OK(polyrpc_call_create(ch, method, timeout_ms, NULL, 0, &call));
  return call;
}

static polyrpc_event_t next_event(polyrpc_cq_t *cq, int timeout_ms) {
  polyrpc_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.struct_size = sizeof ev;
  CHECK_OK(polyrpc_cq_next(cq, timeout_ms, &ev));
  return ev;
}

/* ---- waking a blocked polyrpc_cq_next ---- */

struct waiter {
  polyrpc_cq_t *cq;
  polyrpc_event_type_t type;
  long long returned_at;
};

static void *wait_next(void *p) {
  struct waiter *w = (struct waiter *)p;
  polyrpc_event_t ev = next_event(w->cq, -1);
  w->type = ev.type;
  w->returned_at = now_ms();
  return NULL;
}

static void test_wake_blocked_next(void) {
  /* The case of issue #14: after polyrpc_cq_shutdown a waiter with a call still pending stayed
   * blocked; only cancelling the call freed it. polyrpc_cq_wake frees it on demand. */
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_cq_t *cq;
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Sleep", -1);
  struct waiter w = {NULL, POLYRPC_EVENT_NONE, 0};
  pthread_t t;
  long long woke_at;
  polyrpc_event_t ev;
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_call_recv_status(call, cq, (void *)7));
  CHECK_OK(polyrpc_cq_shutdown(cq));
  w.cq = cq;
  pthread_create(&t, NULL, wait_next, &w);
  sleep_ms(200);
  CHECK(w.returned_at == 0); /* still blocked: the call is pending */
  woke_at = now_ms();
  CHECK_OK(polyrpc_cq_wake(cq));
  pthread_join(t, NULL);
  CHECK(w.type == POLYRPC_EVENT_WAKEUP);
  CHECK(w.returned_at - woke_at < 1000);
  /* The call's completion still comes, then the queue's end. */
  CHECK_OK(polyrpc_call_cancel(call));
  ev = next_event(cq, 5000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)7 && ev.success == 1);
  CHECK(next_event(cq, 5000).type == POLYRPC_EVENT_SHUTDOWN);
  /* Misuse: a callback queue has no waiters; NULL is an argument error. */
  CHECK_ERR(polyrpc_cq_wake(NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_call_destroy(call);
  polyrpc_cq_destroy(cq);
  polyrpc_channel_destroy(ch);
}

static void test_interruptible_flag(void) {
  polyrpc_cq_t *cq;
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_cq_set_interruptible(cq, 1));
  CHECK_OK(polyrpc_cq_set_interruptible(cq, 0));
  CHECK_ERR(polyrpc_cq_set_interruptible(NULL, 1), POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_cq_destroy(cq);
}

/* ---- every tag back exactly once ---- */

#define kPending 8

struct tag_count {
  pthread_mutex_t mu;
  int seen[kPending];
  int failures;
  int total;
};

static void count_tag(void *tag, int success, void *user_data) {
  struct tag_count *c = (struct tag_count *)user_data;
  intptr_t i = (intptr_t)tag;
  pthread_mutex_lock(&c->mu);
  if (i >= 0 && i < kPending) c->seen[i]++;
  if (!success) c->failures++;
  c->total++;
  pthread_mutex_unlock(&c->mu);
}

static int total_of(struct tag_count *c) {
  int n;
  pthread_mutex_lock(&c->mu);
  n = c->total;
  pthread_mutex_unlock(&c->mu);
  return n;
}

static void test_destroyed_callback_cq_returns_every_tag(void) {
  /* A collector may finalise the queue before the calls that use it: the tags (GC handles,
   * rooted objects) must still come back, once each. */
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *calls[kPending];
  struct tag_count c;
  polyrpc_cq_t *cq;
  intptr_t i;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.mu, NULL);
  CHECK_OK(polyrpc_cq_create_callback(count_tag, &c, NULL, &cq));
  for (i = 0; i < kPending; i++) {
    calls[i] = new_call(ch, "/test.Echo/Sleep", -1);
    CHECK_OK(polyrpc_call_recv_status(calls[i], cq, (void *)i));
  }
  sleep_ms(100);
  CHECK(total_of(&c) == 0);
  polyrpc_cq_destroy(cq);
  /* Every tag came back before destroy returned, with success=0. */
  CHECK(total_of(&c) == kPending);
  CHECK(c.failures == kPending);
  for (i = 0; i < kPending; i++) CHECK(c.seen[i] == 1);
  /* The operations' own completions, when the calls end, are dropped. */
  for (i = 0; i < kPending; i++) polyrpc_call_destroy(calls[i]);
  sleep_ms(200);
  CHECK(total_of(&c) == kPending);
  pthread_mutex_destroy(&c.mu);
  polyrpc_channel_destroy(ch);
}

static void test_cancel_pending_drains_a_queue(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *calls[kPending];
  int seen[kPending];
  polyrpc_cq_t *cq;
  polyrpc_event_t ev;
  long long start;
  intptr_t i;
  memset(seen, 0, sizeof seen);
  CHECK_OK(polyrpc_cq_create(&cq));
  for (i = 0; i < kPending; i++) {
    calls[i] = new_call(ch, "/test.Echo/Sleep", -1);
    CHECK_OK(polyrpc_call_recv_status(calls[i], cq, (void *)i));
  }
  start = now_ms();
  CHECK_OK(polyrpc_cq_shutdown(cq));
  CHECK_OK(polyrpc_cq_cancel_pending(cq));
  for (;;) {
    ev = next_event(cq, 5000);
    if (ev.type != POLYRPC_EVENT_COMPLETE) break;
    CHECK(ev.success == 0);
    seen[(intptr_t)ev.tag]++;
  }
  /* SHUTDOWN came at once: nothing waited for the network. */
  CHECK(ev.type == POLYRPC_EVENT_SHUTDOWN);
  CHECK(now_ms() - start < 2000);
  for (i = 0; i < kPending; i++) CHECK(seen[i] == 1);
  for (i = 0; i < kPending; i++) {
    CHECK_OK(polyrpc_call_cancel(calls[i]));
    polyrpc_call_destroy(calls[i]);
  }
  sleep_ms(100);
  CHECK(next_event(cq, 0).type == POLYRPC_EVENT_SHUTDOWN); /* nothing more was queued */
  polyrpc_cq_destroy(cq);
  polyrpc_channel_destroy(ch);
}

/* ---- take-style server requests ---- */

struct client_call {
  polyrpc_channel_t *ch;
  const char *method;
  const char *request;
  int code;
  char reply[64];
};

static void *unary_client(void *p) {
  struct client_call *c = (struct client_call *)p;
  polyrpc_call_t *call = new_call(c->ch, c->method, 10000);
  polyrpc_buffer_t *req = buf_str(c->request), *resp = NULL;
  const uint8_t *data;
  size_t len;
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK_OK(polyrpc_call_status(call, &c->code, NULL));
  c->reply[0] = '\0';
  if (resp != NULL) {
    CHECK_OK(polyrpc_buffer_data(resp, &data, &len));
    if (len >= sizeof c->reply) len = sizeof c->reply - 1;
    memcpy(c->reply, data, len);
    c->reply[len] = '\0';
  }
  polyrpc_buffer_destroy(resp);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  return NULL;
}

/* Serves one unary call: echoes the request with a prefix. */
static void serve_echo(polyrpc_call_t *call, const char *prefix) {
  polyrpc_buffer_t *msg = NULL, *out;
  const uint8_t *data;
  size_t len;
  char text[64];
  int written = -1;
  CHECK_OK(polyrpc_call_read(call, &msg));
  CHECK(msg != NULL);
  CHECK_OK(polyrpc_buffer_data(msg, &data, &len));
  snprintf(text, sizeof text, "%s%.*s", prefix, (int)len, (const char *)data);
  out = buf_str(text);
  CHECK_OK(polyrpc_call_write(call, out, 0, &written));
  CHECK(written == 1);
  CHECK_OK(polyrpc_call_send_status(call, 0, NULL, NULL, NULL, NULL));
  polyrpc_buffer_destroy(out);
  polyrpc_buffer_destroy(msg);
}

static void test_request_call_v2(void) {
  polyrpc_server_t *server;
  polyrpc_server_credentials_t *creds;
  polyrpc_channel_t *ch;
  polyrpc_cq_t *cq;
  polyrpc_call_t *call = NULL, *again = (polyrpc_call_t *)1;
  polyrpc_event_t ev;
  struct client_call c1, c2, c3;
  pthread_t t1, t2, t3;
  int port = 0;

  CHECK_OK(polyrpc_server_create(NULL, &server));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(server, "127.0.0.1:0", creds, &port));
  polyrpc_server_credentials_destroy(creds);
  CHECK_OK(polyrpc_server_register_method(server, "/t.S/M"));
  CHECK_ERR(polyrpc_server_request_call_v2(server, NULL, (void *)1), POLYRPC_ERROR_WRONG_STATE);
  CHECK_OK(polyrpc_server_start(server));
  ch = test_channel(port);
  CHECK_OK(polyrpc_cq_create(&cq));

  /* Asynchronous: the completion leaves the call under its tag; nothing is written later. */
  CHECK_OK(polyrpc_server_request_call_v2(server, cq, (void *)1));
  CHECK_ERR(polyrpc_server_request_call_v2(server, cq, (void *)1), POLYRPC_ERROR_BUSY);
  CHECK_ERR(polyrpc_server_take_call(server, (void *)1, &again), POLYRPC_ERROR_NOT_FOUND);
  CHECK(again == NULL);
  c1.ch = ch;
  c1.method = "/t.S/M";
  c1.request = "one";
  pthread_create(&t1, NULL, unary_client, &c1);
  ev = next_event(cq, 10000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)1 && ev.success == 1);
  CHECK_OK(polyrpc_server_take_call(server, (void *)1, &call));
  CHECK(call != NULL);
  CHECK(strcmp(polyrpc_call_method(call), "/t.S/M") == 0);
  CHECK_ERR(polyrpc_server_take_call(server, (void *)1, &again), POLYRPC_ERROR_NOT_FOUND);
  serve_echo(call, "async:");
  polyrpc_call_destroy(call);
  pthread_join(t1, NULL);
  CHECK(c1.code == 0 && strcmp(c1.reply, "async:one") == 0);

  /* Blocking: returns once the call is there to take. The tag is free again once taken. */
  c2 = c1;
  c2.request = "two";
  pthread_create(&t2, NULL, unary_client, &c2);
  CHECK_OK(polyrpc_server_request_call_v2(server, NULL, (void *)1));
  CHECK_OK(polyrpc_server_take_call(server, (void *)1, &call));
  serve_echo(call, "blocking:");
  polyrpc_call_destroy(call);
  pthread_join(t2, NULL);
  CHECK(c2.code == 0 && strcmp(c2.reply, "blocking:two") == 0);

  /* A call received and never taken is cancelled with the server: its client is not left
   * waiting for the deadline. */
  CHECK_OK(polyrpc_server_request_call_v2(server, cq, (void *)3));
  c3 = c1;
  c3.request = "three";
  pthread_create(&t3, NULL, unary_client, &c3);
  ev = next_event(cq, 10000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)3 && ev.success == 1);
  polyrpc_server_destroy(server);
  pthread_join(t3, NULL);
  CHECK(c3.code == POLYRPC_STATUS_CANCELLED || c3.code == POLYRPC_STATUS_UNAVAILABLE);
  polyrpc_cq_destroy(cq);
  polyrpc_channel_destroy(ch);
}

static void test_request_call_v2_ends_at_shutdown(void) {
  polyrpc_server_t *server;
  polyrpc_server_credentials_t *creds;
  polyrpc_cq_t *cq;
  polyrpc_call_t *none = (polyrpc_call_t *)1;
  polyrpc_event_t ev;
  int port = 0;
  CHECK_OK(polyrpc_server_create(NULL, &server));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(server, "127.0.0.1:0", creds, &port));
  polyrpc_server_credentials_destroy(creds);
  CHECK_OK(polyrpc_server_start(server));
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_server_request_call_v2(server, cq, (void *)5));
  CHECK_OK(polyrpc_server_shutdown(server, 1000));
  ev = next_event(cq, 5000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)5 && ev.success == 0);
  CHECK_ERR(polyrpc_server_take_call(server, (void *)5, &none), POLYRPC_ERROR_NOT_FOUND);
  CHECK_ERR(polyrpc_server_request_call_v2(server, cq, (void *)6), POLYRPC_ERROR_CLOSED);
  polyrpc_server_destroy(server);
  polyrpc_cq_destroy(cq);
}

static void test_shutdown_async_lets_the_same_thread_serve(void) {
  /* A single-threaded host (PHP) shuts the server down while it still serves a call itself:
   * the shutdown must not block it, and reports on the queue once done. */
  polyrpc_server_t *server;
  polyrpc_server_credentials_t *creds;
  polyrpc_channel_t *ch;
  polyrpc_cq_t *cq;
  polyrpc_call_t *call = NULL;
  polyrpc_event_t ev;
  struct client_call c;
  pthread_t t;
  int port = 0, saw_request_end = 0, saw_done = 0;
  long long start;
  CHECK_OK(polyrpc_server_create(NULL, &server));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(server, "127.0.0.1:0", creds, &port));
  polyrpc_server_credentials_destroy(creds);
  CHECK_OK(polyrpc_server_register_method(server, "/t.S/M"));
  CHECK_OK(polyrpc_server_start(server));
  CHECK_OK(polyrpc_cq_create(&cq));
  ch = test_channel(port);
  CHECK_OK(polyrpc_server_request_call_v2(server, cq, (void *)1));
  c.ch = ch;
  c.method = "/t.S/M";
  c.request = "late";
  pthread_create(&t, NULL, unary_client, &c);
  ev = next_event(cq, 10000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)1 && ev.success == 1);
  CHECK_OK(polyrpc_server_take_call(server, (void *)1, &call));
  CHECK_OK(polyrpc_server_request_call_v2(server, cq, (void *)2));
  start = now_ms();
  CHECK_OK(polyrpc_server_shutdown_async(server, 5000, cq, (void *)99));
  CHECK(now_ms() - start < 500); /* did not wait for the call in flight */
  serve_echo(call, "bye:");      /* this thread serves it meanwhile */
  polyrpc_call_destroy(call);
  while (!saw_done) {
    ev = next_event(cq, 10000);
    CHECK(ev.type == POLYRPC_EVENT_COMPLETE);
    if (ev.tag == (void *)2) {
      CHECK(ev.success == 0); /* the pending request ended with the shutdown */
      saw_request_end = 1;
    } else {
      CHECK(ev.tag == (void *)99 && ev.success == 1);
      saw_done = 1;
    }
  }
  CHECK(saw_request_end);
  pthread_join(t, NULL);
  CHECK(c.code == 0 && strcmp(c.reply, "bye:late") == 0);
  CHECK_ERR(polyrpc_server_shutdown_async(server, 0, NULL, NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_server_destroy(server);
  polyrpc_cq_destroy(cq);
  polyrpc_channel_destroy(ch);
}

/* ---- results, not errors ---- */

static void test_read_until_end_of_stream(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/ServerStream", 10000);
  polyrpc_buffer_t *req = buf_str("3"), *msg;
  int written = 0, n = 0, code = -1;
  char want[2];
  CHECK_OK(polyrpc_call_write(call, req, POLYRPC_WRITE_LAST, &written));
  CHECK(written == 1);
  for (;;) {
    msg = (polyrpc_buffer_t *)1;
    CHECK_OK(polyrpc_call_read(call, &msg));
    if (msg == NULL) break; /* the end of the stream is a result */
    want[0] = (char)('0' + n);
    want[1] = '\0';
    CHECK(buf_eq(msg, want));
    polyrpc_buffer_destroy(msg);
    n++;
  }
  CHECK(n == 3);
  /* Reading past the end is the same result again. */
  msg = (polyrpc_buffer_t *)1;
  CHECK_OK(polyrpc_call_read(call, &msg));
  CHECK(msg == NULL);
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  CHECK(code == 0);
  /* Misuse is still an error. */
  CHECK_ERR(polyrpc_call_read(call, NULL), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_call_write(call, req, 1u << 7, &written), POLYRPC_ERROR_INVALID_ARGUMENT);
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

static void test_cancel_ends_a_blocked_read_and_write_reports_it(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Sleep", -1);
  polyrpc_buffer_t *msg = buf_str("x");
  struct reader r = {NULL, (polyrpc_buffer_t *)1, POLYRPC_ERROR_INTERNAL};
  pthread_t t;
  int written = -1, code = -1;
  long long start;
  CHECK_OK(polyrpc_call_start(call, NULL, NULL));
  r.call = call;
  pthread_create(&t, NULL, read_one, &r);
  sleep_ms(100);
  start = now_ms();
  CHECK_OK(polyrpc_call_cancel(call)); /* what Ruby's unblocking function does */
  pthread_join(t, NULL);
  CHECK(now_ms() - start < 1000);
  CHECK(r.err == POLYRPC_OK && r.got == NULL);
  CHECK_OK(polyrpc_call_write(call, msg, 0, &written));
  CHECK(written == 0); /* the call is over: a result */
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  CHECK(code == POLYRPC_STATUS_CANCELLED);
  polyrpc_buffer_destroy(msg);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

static void test_state_waits_are_results(void) {
  polyrpc_channel_t *ch = test_channel(g_port), *lost;
  polyrpc_connectivity_state_t st = POLYRPC_CHANNEL_SHUTDOWN;
  polyrpc_cq_t *cq;
  polyrpc_event_t ev;
  long long start = now_ms();
  CHECK_OK(polyrpc_cq_create(&cq));
  /* A timeout is a result: the state did not change. */
  CHECK_OK(polyrpc_channel_wait_for_state_change_v2(ch, POLYRPC_CHANNEL_IDLE, 100, &st));
  CHECK(st == POLYRPC_CHANNEL_IDLE);
  CHECK(now_ms() - start >= 90);
  /* Asynchronously: a watch ends with success=0 at its timeout... */
  CHECK_OK(polyrpc_channel_watch_state(ch, POLYRPC_CHANNEL_IDLE, 50, cq, (void *)1));
  ev = next_event(cq, 5000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)1 && ev.success == 0);
  /* ...and with success=1 when the state changes (connecting, then ready). */
  CHECK_OK(polyrpc_channel_watch_state(ch, POLYRPC_CHANNEL_IDLE, 5000, cq, (void *)2));
  CHECK_OK(polyrpc_channel_get_state(ch, 1, &st));
  ev = next_event(cq, 5000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)2 && ev.success == 1);
  CHECK_OK(polyrpc_channel_wait_for_state_change_v2(ch, POLYRPC_CHANNEL_CONNECTING, 5000, &st));
  CHECK_OK(polyrpc_channel_get_state(ch, 0, &st));
  CHECK(st == POLYRPC_CHANNEL_READY);
  /* A watch on a channel that goes away first ends with success=0: its tag comes back. */
  lost = test_channel(g_port);
  CHECK_OK(polyrpc_channel_watch_state(lost, POLYRPC_CHANNEL_IDLE, -1, cq, (void *)3));
  polyrpc_channel_destroy(lost);
  ev = next_event(cq, 5000);
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)3 && ev.success == 0);
  CHECK_ERR(polyrpc_channel_watch_state(ch, POLYRPC_CHANNEL_IDLE, 10, NULL, NULL),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_channel_wait_for_state_change_v2(ch, POLYRPC_CHANNEL_IDLE, 10, NULL),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_cq_destroy(cq);
  polyrpc_channel_destroy(ch);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"wake_blocked_next", test_wake_blocked_next},
      {"interruptible_flag", test_interruptible_flag},
      {"destroyed_callback_cq_returns_every_tag", test_destroyed_callback_cq_returns_every_tag},
      {"cancel_pending_drains_a_queue", test_cancel_pending_drains_a_queue},
      {"request_call_v2", test_request_call_v2},
      {"request_call_v2_ends_at_shutdown", test_request_call_v2_ends_at_shutdown},
      {"shutdown_async_lets_the_same_thread_serve", test_shutdown_async_lets_the_same_thread_serve},
      {"read_until_end_of_stream", test_read_until_end_of_stream},
      {"cancel_ends_a_blocked_read_and_write_reports_it",
       test_cancel_ends_a_blocked_read_and_write_reports_it},
      {"state_waits_are_results", test_state_waits_are_results},
  };
  int rc;
  g_server = test_server_start(NULL, &g_port);
  rc = run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
  test_server_stop(g_server);
  return rc;
}
