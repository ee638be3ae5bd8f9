/* Calls over loopback, client and server both written against the C API: the four call
 * types, the three I/O styles (blocking, queue cq, callback cq), metadata both ways, status
 * codes, deadlines, cancellation, compression and the misuse errors of calls and servers. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>

#include "test_util.h"

static int g_port;
static test_server_t *g_server;

static polyrpc_call_t *new_call(polyrpc_channel_t *ch, const char *method, int64_t timeout_ms,
                                const polyrpc_metadata_t *md) {
  polyrpc_call_t *call = NULL;
  CHECK_OK(polyrpc_call_create(ch, method, timeout_ms, md, 0, &call));
  return call;
}

static void check_status(polyrpc_call_t *call, int want_code, const char *want_message) {
  int code = -1;
  const char *message = NULL;
  CHECK_OK(polyrpc_call_status(call, &code, &message));
  if (code != want_code || (want_message && strcmp(message, want_message) != 0)) {
    fprintf(stderr, "status %d \"%s\", want %d \"%s\"\n", code, message, want_code,
            want_message ? want_message : "*");
    exit(1);
  }
}

static int md_has(const polyrpc_metadata_t *md, const char *key, const uint8_t *want, size_t n) {
  const uint8_t *v;
  size_t len;
  return polyrpc_metadata_find(md, key, &v, &len) == POLYRPC_OK && len == n &&
         memcmp(v, want, n) == 0;
}

/* ---- unary ---- */

static void test_unary_blocking(void) {
  static const uint8_t bin[] = {0, 1, 0xfe, 0xff, 'x'};
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_metadata_t *md = NULL;
  polyrpc_call_t *call;
  polyrpc_buffer_t *req = buf_str("hello"), *resp = NULL;
  const char *peer;

  CHECK_OK(polyrpc_metadata_create(&md));
  CHECK_OK(polyrpc_metadata_add(md, "x-echo-initial", (const uint8_t *)"hi there", 8));
  CHECK_OK(polyrpc_metadata_add(md, "x-echo-trailing-bin", bin, sizeof(bin)));
  call = new_call(ch, "/test.Echo/Unary", 5000, md);
  polyrpc_metadata_destroy(md); /* copied by the call */

  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  check_status(call, 0, "");
  CHECK(buf_eq(resp, "hello"));
  CHECK(md_has(polyrpc_call_initial_metadata(call), "x-echo-initial", (const uint8_t *)"hi there",
               8));
  CHECK(md_has(polyrpc_call_trailing_metadata(call), "x-echo-trailing-bin", bin, sizeof(bin)));
  peer = polyrpc_call_peer(call);
  CHECK(peer != NULL && strstr(peer, "127.0.0.1") != NULL);
  CHECK(polyrpc_call_method(call) == NULL); /* client call */
  /* A second unary on the same call is misuse; *response is NULL on failure. */
  {
    polyrpc_buffer_t *again = (polyrpc_buffer_t *)1;
    CHECK_ERR(polyrpc_call_unary(call, req, &again), POLYRPC_ERROR_WRONG_STATE);
    CHECK(again == NULL);
  }
  polyrpc_buffer_destroy(resp);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

static void test_unary_ops_blocking(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Unary", -1, NULL);
  polyrpc_buffer_t *req = buf_str("ops"), *resp = NULL;
  int compressed = -1;
  CHECK_ERR(polyrpc_call_status(call, NULL, NULL), POLYRPC_ERROR_WRONG_STATE);
  CHECK_OK(polyrpc_call_start(call, NULL, NULL));
  /* Empty until received; a call's metadata is read-only and freed with the call. */
  CHECK(polyrpc_metadata_count(polyrpc_call_initial_metadata(call)) == 0);
  CHECK_ERR(polyrpc_metadata_add((polyrpc_metadata_t *)polyrpc_call_initial_metadata(call), "x-a",
                                 (const uint8_t *)"b", 1),
            POLYRPC_ERROR_WRONG_STATE);
  polyrpc_metadata_destroy((polyrpc_metadata_t *)polyrpc_call_trailing_metadata(call));
  CHECK(strstr(polyrpc_last_error(), "freed with the call") != NULL);
  CHECK_OK(polyrpc_call_send_message(call, req, POLYRPC_WRITE_LAST, NULL, NULL));
  CHECK_OK(polyrpc_call_recv_initial_metadata(call, NULL, NULL));
  CHECK_OK(polyrpc_call_recv_message(call, NULL, NULL));
  CHECK_OK(polyrpc_call_take_message(call, &resp, &compressed));
  CHECK(buf_eq(resp, "ops") && compressed == 0);
  polyrpc_buffer_destroy(resp);
  /* Nothing left to take; the next receive hits the end of the stream. */
  CHECK_OK(polyrpc_call_take_message(call, &resp, NULL));
  CHECK(resp == NULL);
  CHECK_ERR(polyrpc_call_recv_message(call, NULL, NULL), POLYRPC_ERROR_CLOSED);
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  check_status(call, 0, "");
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

static void unary_status(polyrpc_channel_t *ch, const char *request, int want_code,
                         const char *want_message) {
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Unary", 5000, NULL);
  polyrpc_buffer_t *req = buf_str(request), *resp = (polyrpc_buffer_t *)1;
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK(resp == NULL);
  check_status(call, want_code, want_message);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
}

static void test_status_codes(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  unary_status(ch, "status 5 not here", POLYRPC_STATUS_NOT_FOUND, "not here");
  unary_status(ch, "status 9 precondition", POLYRPC_STATUS_FAILED_PRECONDITION, "precondition");
  /* Non-ASCII and control characters survive grpc-message percent-encoding. */
  unary_status(ch, "status 2 \t\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 100%", POLYRPC_STATUS_UNKNOWN,
               "\t\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 100%");
  {
    polyrpc_call_t *call = new_call(ch, "/test.Echo/NoSuchMethod", 5000, NULL);
    polyrpc_buffer_t *req = buf_str("x"), *resp = NULL;
    CHECK_OK(polyrpc_call_unary(call, req, &resp));
    CHECK(resp == NULL);
    check_status(call, POLYRPC_STATUS_UNIMPLEMENTED, NULL);
    polyrpc_buffer_destroy(req);
    polyrpc_call_destroy(call);
  }
  polyrpc_channel_destroy(ch);
}

/* ---- client streaming on a queue cq, driven through its fd ---- */

static void wait_fd(int fd) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  CHECK(poll(&p, 1, 5000) == 1);
}

/* Waits on the fd and drains the cq until the event with tag arrives; returns its success. */
static int next_tag(polyrpc_cq_t *cq, int fd, intptr_t want, int *seen) {
  for (;;) {
    polyrpc_event_t ev;
    ev.struct_size = sizeof(ev);
    wait_fd(fd);
    for (;;) {
      CHECK_OK(polyrpc_cq_next(cq, 0, &ev));
      if (ev.type == POLYRPC_EVENT_NONE) break;
      CHECK(ev.type == POLYRPC_EVENT_COMPLETE);
      seen[(intptr_t)ev.tag] = ev.success ? 1 : 2;
      if ((intptr_t)ev.tag == want) return ev.success;
    }
  }
}

static void test_client_streaming_queue(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/ClientStream", 5000, NULL);
  polyrpc_cq_t *cq = NULL;
  polyrpc_buffer_t *m1 = buf_str("abc"), *m2 = buf_str("defgh"), *resp = NULL;
  int fd, i, seen[16] = {0};
  polyrpc_event_t ev;
  ev.struct_size = sizeof(ev);

  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_cq_fd(cq, &fd));
  CHECK_OK(polyrpc_call_recv_status(call, cq, (void *)1));
  for (i = 0; i < 3; i++) {
    CHECK_OK(polyrpc_call_send_message(call, i == 1 ? m2 : m1, 0, cq, (void *)2));
    /* One send at a time. */
    CHECK_ERR(polyrpc_call_send_message(call, m1, 0, cq, (void *)3), POLYRPC_ERROR_BUSY);
    CHECK(next_tag(cq, fd, 2, seen) == 1);
  }
  CHECK_OK(polyrpc_call_close_send(call, cq, (void *)4));
  CHECK_OK(polyrpc_call_recv_message(call, cq, (void *)5));
  CHECK(next_tag(cq, fd, 5, seen) == 1);
  CHECK_OK(polyrpc_call_take_message(call, &resp, NULL));
  CHECK(buf_eq(resp, "11")); /* 3 + 5 + 3 bytes */
  polyrpc_buffer_destroy(resp);
  if (!seen[1]) CHECK(next_tag(cq, fd, 1, seen) == 1);
  if (!seen[4]) CHECK(next_tag(cq, fd, 4, seen) == 1);
  check_status(call, 0, "");
  CHECK(seen[3] == 0); /* the refused send produced no completion */

  /* Drained: the fd is no longer readable; after shutdown, SHUTDOWN. */
  CHECK_OK(polyrpc_cq_next(cq, 0, &ev));
  CHECK(ev.type == POLYRPC_EVENT_NONE);
  CHECK_OK(polyrpc_cq_shutdown(cq));
  CHECK_ERR(polyrpc_call_recv_message(call, cq, (void *)6), POLYRPC_ERROR_CLOSED);
  CHECK_OK(polyrpc_cq_next(cq, 1000, &ev));
  CHECK(ev.type == POLYRPC_EVENT_SHUTDOWN);
  polyrpc_cq_destroy(cq);
  polyrpc_buffer_destroy(m1);
  polyrpc_buffer_destroy(m2);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

/* ---- server streaming on a callback cq ---- */

typedef struct cb_ctx {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  polyrpc_cq_t *cq;
  polyrpc_call_t *call;
  int received;
  int order_ok;
  int status_done;
  int recv_ended;
  int freed;
} cb_ctx_t;

static void on_cb(void *tag, int success, void *user_data) {
  cb_ctx_t *c = (cb_ctx_t *)user_data;
  intptr_t t = (intptr_t)tag;
  if (t == 1 && success) {
    polyrpc_buffer_t *m = NULL;
    char want[16];
    CHECK_OK(polyrpc_call_take_message(c->call, &m, NULL));
    snprintf(want, sizeof(want), "%d", c->received);
    if (!buf_eq(m, want)) c->order_ok = 0;
    polyrpc_buffer_destroy(m);
    c->received++;
    /* Chain the next receive from inside the callback: no internal lock is held here. */
    CHECK_OK(polyrpc_call_recv_message(c->call, c->cq, (void *)1));
    return;
  }
  pthread_mutex_lock(&c->mu);
  if (t == 1) c->recv_ended = 1;
  if (t == 2) c->status_done = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void on_cb_free(void *user_data) {
  cb_ctx_t *c = (cb_ctx_t *)user_data;
  pthread_mutex_lock(&c->mu);
  c->freed = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void test_server_streaming_cb(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_buffer_t *req = buf_str("20");
  cb_ctx_t c;
  memset(&c, 0, sizeof(c));
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  c.order_ok = 1;
  c.call = new_call(ch, "/test.Echo/ServerStream", 5000, NULL);
  CHECK_OK(polyrpc_cq_create_callback(on_cb, &c, on_cb_free, &c.cq));
  CHECK_OK(polyrpc_call_send_message(c.call, req, POLYRPC_WRITE_LAST, c.cq, (void *)3));
  CHECK_OK(polyrpc_call_recv_message(c.call, c.cq, (void *)1));
  CHECK_OK(polyrpc_call_recv_status(c.call, c.cq, (void *)2));
  pthread_mutex_lock(&c.mu);
  while (!(c.status_done && c.recv_ended)) pthread_cond_wait(&c.cv, &c.mu);
  pthread_mutex_unlock(&c.mu);
  CHECK(c.received == 20 && c.order_ok);
  check_status(c.call, 0, "");
  polyrpc_cq_destroy(c.cq);
  /* user_data_free runs once no callback can run any more (maybe on an I/O thread). */
  pthread_mutex_lock(&c.mu);
  while (!c.freed) pthread_cond_wait(&c.cv, &c.mu);
  pthread_mutex_unlock(&c.mu);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(c.call);
  polyrpc_channel_destroy(ch);
}

/* ---- bidi, blocking ---- */

static void test_bidi_blocking(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Bidi", 5000, NULL);
  int i;
  for (i = 0; i < 5; i++) {
    char text[16];
    polyrpc_buffer_t *m, *r = NULL;
    snprintf(text, sizeof(text), "ping%d", i);
    m = buf_str(text);
    CHECK_OK(polyrpc_call_send_message(call, m, 0, NULL, NULL));
    CHECK_OK(polyrpc_call_recv_message(call, NULL, NULL));
    CHECK_OK(polyrpc_call_take_message(call, &r, NULL));
    CHECK(buf_eq(r, text));
    polyrpc_buffer_destroy(r);
    polyrpc_buffer_destroy(m);
  }
  CHECK_OK(polyrpc_call_close_send(call, NULL, NULL));
  CHECK_ERR(polyrpc_call_recv_message(call, NULL, NULL), POLYRPC_ERROR_CLOSED);
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  check_status(call, 0, "");
  /* Server-side operations on a client call are misuse. */
  CHECK_ERR(polyrpc_call_send_status(call, 0, NULL, NULL, NULL, NULL), POLYRPC_ERROR_WRONG_STATE);
  CHECK_ERR(polyrpc_call_set_response_compression(call, "gzip"), POLYRPC_ERROR_WRONG_STATE);
  /* Setters after the first operation are misuse too. */
  CHECK_ERR(polyrpc_call_set_compression(call, "gzip"), POLYRPC_ERROR_WRONG_STATE);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

/* ---- deadlines and cancellation ---- */

static void test_deadline(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Sleep", 200, NULL);
  long long start = now_ms();
  int before = test_server_cancelled_sleeps(g_server);
  int64_t left = -5;
  CHECK_OK(polyrpc_call_time_remaining_ms(call, &left));
  CHECK(left > 0 && left <= 200);
  CHECK_OK(polyrpc_call_start(call, NULL, NULL));
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  check_status(call, POLYRPC_STATUS_DEADLINE_EXCEEDED, NULL);
  CHECK(now_ms() - start >= 150 && now_ms() - start < 3000);
  /* The server learns it too. */
  while (test_server_cancelled_sleeps(g_server) == before && now_ms() - start < 5000) {
    sleep_ms(10);
  }
  CHECK(test_server_cancelled_sleeps(g_server) > before);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

static void *cancel_later(void *arg) {
  sleep_ms(200);
  CHECK_OK(polyrpc_call_cancel((polyrpc_call_t *)arg));
  return NULL;
}

static void test_cancel_blocking_recv(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Sleep", 10000, NULL);
  pthread_t t;
  long long start = now_ms();
  CHECK_OK(polyrpc_call_start(call, NULL, NULL));
  CHECK(pthread_create(&t, NULL, cancel_later, call) == 0);
  /* Blocks until the other thread cancels. */
  CHECK_ERR(polyrpc_call_recv_message(call, NULL, NULL), POLYRPC_ERROR_CLOSED);
  CHECK(now_ms() - start >= 150 && now_ms() - start < 5000);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  check_status(call, POLYRPC_STATUS_CANCELLED, NULL);
  CHECK_OK(polyrpc_call_cancel(call)); /* no-op once over */
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
}

static void test_destroy_with_pending(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Sleep", 10000, NULL);
  polyrpc_cq_t *cq = NULL;
  polyrpc_event_t ev;
  ev.struct_size = sizeof(ev);
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_call_recv_message(call, cq, (void *)7));
  CHECK_OK(polyrpc_cq_next(cq, 100, &ev));
  CHECK(ev.type == POLYRPC_EVENT_NONE); /* still pending */
  /* Destroying the call cancels it; the pending operation is still delivered, success=0. */
  polyrpc_call_destroy(call);
  CHECK_OK(polyrpc_cq_next(cq, 5000, &ev));
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)7 && ev.success == 0);
  CHECK_ERR(polyrpc_call_cancel(call), POLYRPC_ERROR_CLOSED);
  polyrpc_cq_destroy(cq);
  polyrpc_channel_destroy(ch);
}

/* ---- compression ---- */

static void test_compression(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_metadata_t *md = NULL;
  polyrpc_call_t *call;
  polyrpc_buffer_t *req, *resp = NULL;
  char *big = (char *)malloc(10001);
  int compressed = -1;
  CHECK(big != NULL);
  memset(big, 'z', 10000);
  big[10000] = '\0';
  req = buf_str(big);
  CHECK_OK(polyrpc_metadata_create(&md));
  CHECK_OK(polyrpc_metadata_add(md, "x-compress-response", (const uint8_t *)"1", 1));
  call = new_call(ch, "/test.Echo/Unary", 5000, md);
  CHECK_ERR(polyrpc_call_set_compression(call, "brotli"), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_call_set_compression(call, "gzip"));
  CHECK_OK(polyrpc_call_send_message(call, req, POLYRPC_WRITE_LAST, NULL, NULL));
  CHECK_OK(polyrpc_call_recv_message(call, NULL, NULL));
  CHECK_OK(polyrpc_call_take_message(call, &resp, &compressed));
  CHECK(buf_eq(resp, big));
  CHECK(compressed == 1);
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  check_status(call, 0, "");
  CHECK(md_has(polyrpc_call_trailing_metadata(call), "x-request-compressed",
               (const uint8_t *)"1", 1));
  polyrpc_buffer_destroy(resp);
  polyrpc_buffer_destroy(req);
  polyrpc_metadata_destroy(md);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
  free(big);
}

/* ---- servers ---- */

static void test_server_request_and_shutdown(void) {
  polyrpc_server_t *s = NULL;
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_cq_t *cq = NULL;
  polyrpc_call_t *incoming = (polyrpc_call_t *)1, *incoming2 = NULL;
  polyrpc_event_t ev;
  int port = 0;
  ev.struct_size = sizeof(ev);
  CHECK_OK(polyrpc_server_create(NULL, &s));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_ERR(polyrpc_server_request_call(s, &incoming, NULL, NULL), POLYRPC_ERROR_WRONG_STATE);
  CHECK_OK(polyrpc_server_add_listener(s, "127.0.0.1:0", creds, &port));
  CHECK(port > 0);
  CHECK_ERR(polyrpc_server_add_listener(s, "127.0.0.1:0", NULL, &port),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_server_register_method(s, "NoSlash"), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_OK(polyrpc_server_enable_generic(s));
  CHECK_OK(polyrpc_server_start(s));
  CHECK_ERR(polyrpc_server_start(s), POLYRPC_ERROR_WRONG_STATE);
  CHECK_ERR(polyrpc_server_register_method(s, "/a.B/C"), POLYRPC_ERROR_WRONG_STATE);

  /* The generic handler delivers any method; the call carries method and metadata. */
  CHECK_OK(polyrpc_cq_create(&cq));
  CHECK_OK(polyrpc_server_request_call(s, &incoming, cq, (void *)1));
  {
    polyrpc_channel_t *ch = test_channel(port);
    polyrpc_metadata_t *md = NULL;
    polyrpc_call_t *call;
    polyrpc_buffer_t *req = buf_str("generic"), *got = NULL;
    int64_t left = 0;
    CHECK_OK(polyrpc_metadata_create(&md));
    CHECK_OK(polyrpc_metadata_add(md, "x-who", (const uint8_t *)"me", 2));
    call = new_call(ch, "/any.Service/Thing", 3000, md);
    CHECK_OK(polyrpc_call_send_message(call, req, POLYRPC_WRITE_LAST, NULL, NULL));
    CHECK_OK(polyrpc_cq_next(cq, 5000, &ev));
    CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)1 && ev.success == 1);
    CHECK(incoming != NULL);
    CHECK(strcmp(polyrpc_call_method(incoming), "/any.Service/Thing") == 0);
    CHECK(polyrpc_call_authority(incoming) != NULL);
    CHECK(md_has(polyrpc_call_request_metadata(incoming), "x-who", (const uint8_t *)"me", 2));
    CHECK_OK(polyrpc_call_time_remaining_ms(incoming, &left));
    CHECK(left > 0 && left <= 3000);
    CHECK_OK(polyrpc_call_recv_message(incoming, NULL, NULL));
    CHECK_OK(polyrpc_call_take_message(incoming, &got, NULL));
    CHECK(buf_eq(got, "generic"));
    /* Client-only operations on a server call are misuse. */
    CHECK_ERR(polyrpc_call_close_send(incoming, NULL, NULL), POLYRPC_ERROR_WRONG_STATE);
    CHECK_ERR(polyrpc_call_send_status(incoming, 17, NULL, NULL, NULL, NULL),
              POLYRPC_ERROR_INVALID_ARGUMENT);
    CHECK_OK(polyrpc_call_send_status(incoming, POLYRPC_STATUS_ALREADY_EXISTS, "dup", NULL, NULL,
                                      NULL));
    CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
    check_status(call, POLYRPC_STATUS_ALREADY_EXISTS, "dup");
    CHECK_OK(polyrpc_call_recv_close(incoming, NULL, NULL));
    {
      int cancelled = -1;
      CHECK_OK(polyrpc_call_is_cancelled(incoming, &cancelled));
      CHECK(cancelled == 0);
    }
    polyrpc_buffer_destroy(got);
    polyrpc_buffer_destroy(req);
    polyrpc_metadata_destroy(md);
    polyrpc_call_destroy(call);
    polyrpc_call_destroy(incoming);
    polyrpc_channel_destroy(ch);
  }

  /* A pending request completes with success=0 at shutdown; later requests are refused. */
  CHECK_OK(polyrpc_server_request_call(s, &incoming2, cq, (void *)2));
  CHECK_OK(polyrpc_server_shutdown(s, 1000));
  CHECK_OK(polyrpc_cq_next(cq, 5000, &ev));
  CHECK(ev.type == POLYRPC_EVENT_COMPLETE && ev.tag == (void *)2 && ev.success == 0);
  CHECK(incoming2 == NULL);
  CHECK_ERR(polyrpc_server_request_call(s, &incoming2, cq, (void *)3), POLYRPC_ERROR_CLOSED);
  CHECK_OK(polyrpc_server_shutdown(s, 0)); /* idempotent */
  CHECK_OK(polyrpc_cq_shutdown(cq));
  CHECK_OK(polyrpc_cq_next(cq, 1000, &ev));
  CHECK(ev.type == POLYRPC_EVENT_SHUTDOWN); /* the refused request left nothing pending */
  polyrpc_cq_destroy(cq);
  polyrpc_server_credentials_destroy(creds);
  polyrpc_server_destroy(s);
}

static void test_listener_errors(void) {
  polyrpc_server_t *s = NULL;
  polyrpc_server_credentials_t *creds = NULL;
  int port = 0;
  CHECK_OK(polyrpc_server_create(NULL, &s));
  CHECK_OK(polyrpc_server_credentials_create_insecure(&creds));
  CHECK_OK(polyrpc_server_add_listener(s, "127.0.0.1:0", creds, &port));
  {
    /* The same port twice cannot be bound. */
    char addr[64];
    polyrpc_server_t *s2 = NULL;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    CHECK_OK(polyrpc_server_create(NULL, &s2));
    CHECK_ERR(polyrpc_server_add_listener(s2, addr, creds, NULL), POLYRPC_ERROR_IO);
    polyrpc_server_destroy(s2);
  }
  polyrpc_server_credentials_destroy(creds);
  polyrpc_server_destroy(s); /* never started: fine */
}

static void test_channel_state_and_close(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_connectivity_state_t st;
  polyrpc_call_t *call;
  polyrpc_buffer_t *req = buf_str("x"), *resp = NULL;
  polyrpc_channel_credentials_t *creds = NULL;
  polyrpc_channel_t *bad = NULL;

  CHECK_OK(polyrpc_channel_get_state(ch, 0, &st));
  CHECK(st == POLYRPC_CHANNEL_IDLE);
  CHECK_OK(polyrpc_channel_get_state(ch, 1, &st));
  while (st != POLYRPC_CHANNEL_READY) {
    CHECK_OK(polyrpc_channel_wait_for_state_change(ch, st, 5000));
    CHECK_OK(polyrpc_channel_get_state(ch, 0, &st));
    CHECK(st == POLYRPC_CHANNEL_CONNECTING || st == POLYRPC_CHANNEL_READY);
  }
  CHECK_ERR(polyrpc_channel_wait_for_state_change(ch, POLYRPC_CHANNEL_READY, 50),
            POLYRPC_ERROR_TIMEOUT);
  CHECK_OK(polyrpc_channel_close(ch));
  CHECK_OK(polyrpc_channel_get_state(ch, 0, &st));
  CHECK(st == POLYRPC_CHANNEL_SHUTDOWN);
  call = new_call(ch, "/test.Echo/Unary", 5000, NULL);
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  check_status(call, POLYRPC_STATUS_UNAVAILABLE, NULL);
  polyrpc_call_destroy(call);
  polyrpc_buffer_destroy(req);
  polyrpc_channel_destroy(ch);

  CHECK_OK(polyrpc_channel_credentials_create_insecure(&creds));
  CHECK_ERR(polyrpc_channel_create("", creds, NULL, &bad), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_channel_create("unix:", creds, NULL, &bad), POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  /* A malformed target is INVALID_ARGUMENT whatever words it holds: the error quotes it, and
   * fuzz/capi_input found "ipv6:::[...ssl..." reported as a TLS error. */
  CHECK_ERR(polyrpc_channel_create("ipv6:::[grpc.ssl_target_name_override", creds, NULL, &bad),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK_ERR(polyrpc_channel_create("ipv6:[tls]:1", creds, NULL, &bad),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  polyrpc_channel_credentials_destroy(creds);
  CHECK_OK(polyrpc_channel_credentials_create_tls(NULL, NULL, NULL, &creds)); /* system roots */
  CHECK_ERR(polyrpc_channel_create("ipv6:[tls]:1", creds, NULL, &bad),
            POLYRPC_ERROR_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  polyrpc_channel_credentials_destroy(creds);
}

static void test_channel_destroy_with_call_in_flight(void) {
  polyrpc_channel_t *ch = test_channel(g_port);
  polyrpc_call_t *call = new_call(ch, "/test.Echo/Bidi", 5000, NULL);
  polyrpc_buffer_t *m = buf_str("still here"), *r = NULL;
  CHECK_OK(polyrpc_call_start(call, NULL, NULL));
  /* The call keeps the channel alive. */
  polyrpc_channel_destroy(ch);
  CHECK_OK(polyrpc_call_send_message(call, m, POLYRPC_WRITE_LAST, NULL, NULL));
  CHECK_OK(polyrpc_call_recv_message(call, NULL, NULL));
  CHECK_OK(polyrpc_call_take_message(call, &r, NULL));
  CHECK(buf_eq(r, "still here"));
  CHECK_OK(polyrpc_call_recv_status(call, NULL, NULL));
  check_status(call, 0, "");
  polyrpc_buffer_destroy(r);
  polyrpc_buffer_destroy(m);
  polyrpc_call_destroy(call);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"unary_blocking", test_unary_blocking},
      {"unary_ops_blocking", test_unary_ops_blocking},
      {"status_codes", test_status_codes},
      {"client_streaming_queue", test_client_streaming_queue},
      {"server_streaming_callback", test_server_streaming_cb},
      {"bidi_blocking", test_bidi_blocking},
      {"deadline", test_deadline},
      {"cancel_blocking_recv", test_cancel_blocking_recv},
      {"destroy_with_pending", test_destroy_with_pending},
      {"compression", test_compression},
      {"server_request_and_shutdown", test_server_request_and_shutdown},
      {"listener_errors", test_listener_errors},
      {"channel_state_and_close", test_channel_state_and_close},
      {"channel_destroy_with_call_in_flight", test_channel_destroy_with_call_in_flight},
  };
  int rc;
  g_server = test_server_start(NULL, &g_port);
  rc = run_tests(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
  test_server_stop(g_server);
  return rc;
}
