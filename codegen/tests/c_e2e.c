/* codegen_c_e2e's program: protoc-gen-polyrpc's lang=c stubs for grpc.testing.TestService (on
 * protoc-c's messages), used from both sides.
 *
 *   codegen_c_e2e --client --port=N   every client stub kind against a TestService server on
 *                                     127.0.0.1:N (real gRPC's grpc++ interop server, or --serve)
 *   codegen_c_e2e --serve --port=N    a TestService server on 127.0.0.1:N built on the generated
 *                                     server helpers (register, dispatch, typed handlers), until
 *                                     SIGTERM; gRPC's own interop client runs its cases against it
 * Exit status: 0 when every check passed, 1 otherwise (each failure printed). Driven by
 * codegen/tests/e2e_c.py. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/testing/test.polyrpc-c.h"

#define TS(name) grpc__testing__test_service_client__##name
#define TSS(name) grpc__testing__test_service_server__##name

static int g_failures;

#define CHECK(cond, ...)                                              \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fprintf(stderr, "\n");                                          \
      g_failures++;                                                   \
    }                                                                 \
  } while (0)

static uint8_t g_zeros[1 << 20]; /* payload bodies: the interop cases ask for up to 314159 */

static void set_payload(Grpc__Testing__Payload *p, size_t n) {
  grpc__testing__payload__init(p);
  p->body.data = g_zeros;
  p->body.len = n;
}

static size_t payload_len(const Grpc__Testing__Payload *p) { return p ? p->body.len : 0; }

/* ---- client ---- */

static void client_unary(polyrpc_channel_t *ch) {
  Grpc__Testing__Empty empty = GRPC__TESTING__EMPTY__INIT;
  Grpc__Testing__Empty *empty_reply = NULL;
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__SimpleResponse *resp = NULL;
  Grpc__Testing__Payload payload;
  Grpc__Testing__EchoStatus echo = GRPC__TESTING__ECHO_STATUS__INIT;
  Grpc__Testing__BoolValue expect = GRPC__TESTING__BOOL_VALUE__INIT;
  PolyrpcCallOptions opts;
  polyrpc_metadata_t *md = NULL;
  polyrpc_call_t *call = NULL;
  const char *message = NULL;
  const uint8_t *v;
  size_t len;
  int code = -1;
  polyrpc_error_t err;

  err = TS(empty_call)(ch, &empty, &empty_reply, NULL, &code, NULL);
  CHECK(err == POLYRPC_OK && code == 0 && empty_reply != NULL, "EmptyCall: err %d code %d", err,
        code);
  if (empty_reply) grpc__testing__empty__free_unpacked(empty_reply, NULL);

  /* Payload sizes, metadata echoed both ways, the finished call handed back. */
  req.response_size = 31415;
  set_payload(&payload, 27182);
  req.payload = &payload;
  polyrpc_metadata_create(&md);
  polyrpc_metadata_add(md, "x-grpc-test-echo-initial", (const uint8_t *)"c-stub", 6);
  polyrpc_metadata_add(md, "x-grpc-test-echo-trailing-bin", (const uint8_t *)"\x01\x02", 2);
  memset(&opts, 0, sizeof(opts));
  opts.metadata = md;
  opts.timeout_ms = 10000;
  err = TS(unary_call)(ch, &req, &resp, &opts, &code, &call);
  CHECK(err == POLYRPC_OK && code == 0, "UnaryCall: err %d code %d", err, code);
  CHECK(resp != NULL && payload_len(resp->payload) == 31415, "UnaryCall: payload %zu",
        resp ? payload_len(resp->payload) : 0);
  CHECK(call != NULL &&
            polyrpc_metadata_find(polyrpc_call_initial_metadata(call), "x-grpc-test-echo-initial",
                                  &v, &len) == 0 &&
            len == 6 && memcmp(v, "c-stub", 6) == 0,
        "UnaryCall: initial metadata not echoed");
  CHECK(call != NULL &&
            polyrpc_metadata_find(polyrpc_call_trailing_metadata(call),
                                  "x-grpc-test-echo-trailing-bin", &v, &len) == 0 &&
            len == 2 && memcmp(v, "\x01\x02", 2) == 0,
        "UnaryCall: trailing metadata not echoed");
  polyrpc_call_destroy(call);
  call = NULL;
  if (resp) grpc__testing__simple_response__free_unpacked(resp, NULL);
  resp = NULL;
  polyrpc_metadata_destroy(md);

  /* A status of the server's choosing: no response, the code and the message. */
  req.payload = NULL;
  req.response_size = 1;
  echo.code = 2;
  echo.message = "c stub status";
  req.response_status = &echo;
  err = TS(unary_call)(ch, &req, &resp, NULL, &code, &call);
  CHECK(err == POLYRPC_OK && code == 2 && resp == NULL, "status: err %d code %d", err, code);
  CHECK(call != NULL && polyrpc_call_status(call, NULL, &message) == 0 &&
            strcmp(message, "c stub status") == 0,
        "status: message \"%s\"", message ? message : "(none)");
  polyrpc_call_destroy(call);
  call = NULL;
  req.response_status = NULL;

  /* A compressed request, which the server checks (expect_compressed). */
  memset(&opts, 0, sizeof(opts));
  opts.compression = "gzip";
  expect.value = 1;
  req.expect_compressed = &expect;
  set_payload(&payload, 1000);
  req.payload = &payload;
  err = TS(unary_call)(ch, &req, &resp, &opts, &code, NULL);
  CHECK(err == POLYRPC_OK && code == 0 && resp != NULL, "compressed: err %d code %d", err, code);
  if (resp) grpc__testing__simple_response__free_unpacked(resp, NULL);
  resp = NULL;
  req.expect_compressed = NULL;

  /* Unimplemented method: a status, not an error. */
  err = TS(unimplemented_call)(ch, &empty, &empty_reply, NULL, &code, NULL);
  CHECK(err == POLYRPC_OK && code == POLYRPC_STATUS_UNIMPLEMENTED && empty_reply == NULL,
        "UnimplementedCall: err %d code %d", err, code);

  /* Misuse is an API error. */
  err = TS(unary_call)(ch, NULL, &resp, NULL, &code, NULL);
  CHECK(err == POLYRPC_ERROR_INVALID_ARGUMENT, "NULL request: err %d", err);
  err = TS(unary_call)(ch, &req, NULL, NULL, &code, NULL);
  CHECK(err == POLYRPC_ERROR_INVALID_ARGUMENT, "NULL response: err %d", err);
}

static void client_server_streaming(polyrpc_channel_t *ch) {
  static const int sizes[] = {31415, 9, 2653, 58979};
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  Grpc__Testing__ResponseParameters params[10], *list[10];
  Grpc__Testing__StreamingOutputCallResponse *msg = NULL;
  PolyrpcCallOptions opts;
  polyrpc_call_t *call = NULL;
  int i, n = 0, code = -1;
  polyrpc_error_t err;
  for (i = 0; i < 10; i++) {
    grpc__testing__response_parameters__init(&params[i]);
    list[i] = &params[i];
  }
  for (i = 0; i < 4; i++) params[i].size = sizes[i];
  req.n_response_parameters = 4;
  req.response_parameters = list;
  err = TS(streaming_output_call)(ch, &req, NULL, &call);
  CHECK(err == POLYRPC_OK && call != NULL, "StreamingOutputCall: err %d", err);
  while (call != NULL && (err = TS(streaming_output_call__recv)(call, &msg)) == POLYRPC_OK && msg) {
    CHECK(n < 4 && payload_len(msg->payload) == (size_t)sizes[n], "response %d: %zu bytes", n,
          payload_len(msg->payload));
    n++;
    grpc__testing__streaming_output_call_response__free_unpacked(msg, NULL);
  }
  CHECK(err == POLYRPC_OK && n == 4, "StreamingOutputCall: err %d after %d responses", err, n);
  err = TS(streaming_output_call__finish)(call, &code);
  CHECK(err == POLYRPC_OK && code == 0, "StreamingOutputCall finish: err %d code %d", err, code);
  polyrpc_call_destroy(call);

  /* The deadline of the options cuts a slow stream. */
  for (i = 0; i < 10; i++) {
    params[i].size = 1;
    params[i].interval_us = 100000;
  }
  req.n_response_parameters = 10;
  memset(&opts, 0, sizeof(opts));
  opts.timeout_ms = 300;
  err = TS(streaming_output_call)(ch, &req, &opts, &call);
  n = 0;
  while (err == POLYRPC_OK && (err = TS(streaming_output_call__recv)(call, &msg)) == POLYRPC_OK &&
         msg) {
    n++;
    grpc__testing__streaming_output_call_response__free_unpacked(msg, NULL);
  }
  err = TS(streaming_output_call__finish)(call, &code);
  CHECK(err == POLYRPC_OK && code == POLYRPC_STATUS_DEADLINE_EXCEEDED && n < 10,
        "deadline: err %d code %d after %d responses", err, code, n);
  polyrpc_call_destroy(call);
}

static void client_client_streaming(polyrpc_channel_t *ch) {
  static const int sizes[] = {27182, 8, 1828, 45904};
  Grpc__Testing__StreamingInputCallRequest req = GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
  Grpc__Testing__StreamingInputCallResponse *resp = NULL;
  Grpc__Testing__Payload payload;
  polyrpc_call_t *call = NULL;
  int i, code = -1;
  polyrpc_error_t err = TS(streaming_input_call)(ch, NULL, &call);
  CHECK(err == POLYRPC_OK && call != NULL, "StreamingInputCall: err %d", err);
  req.payload = &payload;
  for (i = 0; i < 4 && err == POLYRPC_OK; i++) {
    set_payload(&payload, (size_t)sizes[i]);
    err = TS(streaming_input_call__send)(call, &req, i == 1 ? POLYRPC_WRITE_NO_COMPRESS : 0);
    CHECK(err == POLYRPC_OK, "send %d: err %d", i, err);
  }
  err = TS(streaming_input_call__finish)(call, &resp, &code);
  CHECK(err == POLYRPC_OK && code == 0 && resp != NULL && resp->aggregated_payload_size == 74922,
        "StreamingInputCall finish: err %d code %d aggregated %d", err, code,
        resp ? resp->aggregated_payload_size : -1);
  if (resp) grpc__testing__streaming_input_call_response__free_unpacked(resp, NULL);
  polyrpc_call_destroy(call);
}

static void client_bidi(polyrpc_channel_t *ch) {
  static const int req_sizes[] = {27182, 8, 1828, 45904};
  static const int resp_sizes[] = {31415, 9, 2653, 58979};
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  Grpc__Testing__ResponseParameters param = GRPC__TESTING__RESPONSE_PARAMETERS__INIT,
                                    *list = &param;
  Grpc__Testing__StreamingOutputCallResponse *msg = NULL;
  Grpc__Testing__Payload payload;
  polyrpc_call_t *call = NULL;
  int i, code = -1;
  polyrpc_error_t err = TS(full_duplex_call)(ch, NULL, &call);
  CHECK(err == POLYRPC_OK && call != NULL, "FullDuplexCall: err %d", err);
  req.n_response_parameters = 1;
  req.response_parameters = &list;
  req.payload = &payload;
  for (i = 0; i < 4 && err == POLYRPC_OK; i++) {
    param.size = resp_sizes[i];
    set_payload(&payload, (size_t)req_sizes[i]);
    err = TS(full_duplex_call__send)(call, &req, 0);
    CHECK(err == POLYRPC_OK, "bidi send %d: err %d", i, err);
    err = TS(full_duplex_call__recv)(call, &msg);
    CHECK(err == POLYRPC_OK && msg && payload_len(msg->payload) == (size_t)resp_sizes[i],
          "bidi round %d: err %d, %zu bytes", i, err, msg ? payload_len(msg->payload) : 0);
    if (msg) grpc__testing__streaming_output_call_response__free_unpacked(msg, NULL);
    msg = NULL;
  }
  err = TS(full_duplex_call__finish)(call, &code);
  CHECK(err == POLYRPC_OK && code == 0, "FullDuplexCall finish: err %d code %d", err, code);
  polyrpc_call_destroy(call);

  /* Cancelled mid-stream: the status says so. */
  err = TS(full_duplex_call)(ch, NULL, &call);
  param.size = 10;
  set_payload(&payload, 10);
  if (err == POLYRPC_OK) err = TS(full_duplex_call__send)(call, &req, 0);
  if (err == POLYRPC_OK) err = TS(full_duplex_call__recv)(call, &msg);
  CHECK(err == POLYRPC_OK && msg != NULL, "bidi before cancel: err %d", err);
  if (msg) grpc__testing__streaming_output_call_response__free_unpacked(msg, NULL);
  polyrpc_call_cancel(call);
  err = TS(full_duplex_call__recv)(call, &msg);
  CHECK(err == POLYRPC_OK && msg == NULL, "recv after cancel: err %d", err);
  err = TS(full_duplex_call__finish)(call, &code);
  CHECK(err == POLYRPC_OK && code == POLYRPC_STATUS_CANCELLED, "cancel: err %d code %d", err, code);
  polyrpc_call_destroy(call);
}

/* The pack/unpack helpers around completion-queue operations. */
static void client_cq(polyrpc_channel_t *ch) {
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__SimpleResponse *resp = NULL;
  polyrpc_buffer_t *out = NULL, *in = NULL;
  polyrpc_call_t *call = NULL;
  polyrpc_cq_t *cq = NULL;
  int pending = 3, code = -1, got = 0, spins = 0;
  req.response_size = 777;
  polyrpc_cq_create(&cq);
  polyrpc_call_create(ch, GRPC__TESTING__TEST_SERVICE__UNARY_CALL__PATH, 10000, NULL, 0, &call);
  CHECK(TS(unary_call__pack_request)(&req, &out) == POLYRPC_OK, "pack_request");
  polyrpc_call_send_message(call, out, POLYRPC_WRITE_LAST, cq, (void *)1);
  polyrpc_call_recv_message(call, cq, (void *)2);
  polyrpc_call_recv_status(call, cq, (void *)3);
  polyrpc_buffer_destroy(out);
  while (pending > 0 && spins++ < 100) {
    polyrpc_event_t ev;
    ev.struct_size = sizeof(ev);
    if (polyrpc_cq_next(cq, 100, &ev) != POLYRPC_OK || ev.type != POLYRPC_EVENT_COMPLETE) continue;
    pending--;
    if (ev.tag == (void *)2 && ev.success) {
      polyrpc_call_take_message(call, &in, NULL);
      got = TS(unary_call__unpack_response)(in, &resp) == POLYRPC_OK;
    }
  }
  polyrpc_call_status(call, &code, NULL);
  CHECK(pending == 0 && code == 0 && got && resp && payload_len(resp->payload) == 777,
        "cq unary: pending %d code %d", pending, code);
  if (resp) grpc__testing__simple_response__free_unpacked(resp, NULL);
  /* Bytes that are no SimpleResponse. */
  polyrpc_buffer_destroy(in);
  polyrpc_buffer_create_copy((const uint8_t *)"\xff\xff\xff", 3, &in);
  resp = NULL;
  CHECK(
      TS(unary_call__unpack_response)(in, &resp) == POLYRPC_ERROR_INVALID_ARGUMENT && resp == NULL,
      "unpack of bad bytes");
  polyrpc_buffer_destroy(in);
  polyrpc_call_destroy(call);
  polyrpc_cq_destroy(cq);
}

static int run_client(int port) {
  char target[64];
  polyrpc_channel_credentials_t *creds = NULL;
  polyrpc_channel_t *ch = NULL;
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  if (polyrpc_channel_credentials_create_insecure(&creds) != POLYRPC_OK ||
      polyrpc_channel_create(target, creds, NULL, &ch) != POLYRPC_OK) {
    fprintf(stderr, "channel: %s\n", polyrpc_last_error());
    return 1;
  }
  polyrpc_channel_credentials_destroy(creds);
  client_unary(ch);
  client_server_streaming(ch);
  client_client_streaming(ch);
  client_bidi(ch);
  client_cq(ch);
  polyrpc_channel_destroy(ch);
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed against 127.0.0.1:%d\n", g_failures, port);
    return 1;
  }
  printf("ok: client stubs against 127.0.0.1:%d\n", port);
  return 0;
}

/* ---- server: grpc.testing.TestService on the generated helpers ---- */

static void echo_entry(polyrpc_call_t *call, const char *key, polyrpc_metadata_t *to) {
  const uint8_t *v;
  size_t len;
  if (polyrpc_metadata_find(polyrpc_call_request_metadata(call), key, &v, &len) == POLYRPC_OK) {
    polyrpc_metadata_add(to, key, v, len);
  }
}

/* The echo metadata of custom_metadata: initial metadata now, trailing metadata kept for the
 * status. */
static polyrpc_metadata_t *echo_metadata(polyrpc_call_t *call) {
  polyrpc_metadata_t *initial = NULL, *trailing = NULL;
  polyrpc_metadata_create(&initial);
  polyrpc_metadata_create(&trailing);
  echo_entry(call, "x-grpc-test-echo-initial", initial);
  echo_entry(call, "x-grpc-test-echo-trailing-bin", trailing);
  polyrpc_call_send_initial_metadata(call, initial, NULL, NULL);
  polyrpc_metadata_destroy(initial);
  return trailing;
}

static int sleep_us(polyrpc_call_t *call, long us) {
  while (us > 0) {
    struct timespec ts = {0, 10000000};
    int cancelled = 0;
    if (polyrpc_call_is_cancelled(call, &cancelled) == POLYRPC_OK && cancelled) return 0;
    nanosleep(&ts, NULL);
    us -= 10000;
  }
  return 1;
}

static polyrpc_error_t serve_empty(polyrpc_call_t *call, const Grpc__Testing__Empty *request,
                                   void *user_data) {
  Grpc__Testing__Empty reply = GRPC__TESTING__EMPTY__INIT;
  return TSS(empty_call__reply)(call, &reply);
}

/* Unary with everything the interop cases ask: payload size, echoed status, echoed metadata
 * (trailing metadata needs the status sent by hand: __pack_response and the C ABI). */
static polyrpc_error_t serve_unary(polyrpc_call_t *call,
                                   const Grpc__Testing__SimpleRequest *request, void *user_data) {
  Grpc__Testing__SimpleResponse resp = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
  Grpc__Testing__Payload payload;
  polyrpc_metadata_t *trailing = echo_metadata(call);
  polyrpc_buffer_t *buf = NULL;
  polyrpc_error_t err;
  if (request->response_status && request->response_status->code != 0) {
    err = polyrpc_call_send_status(call, request->response_status->code,
                                   request->response_status->message, trailing, NULL, NULL);
  } else {
    set_payload(&payload, (size_t)(request->response_size > 0 ? request->response_size : 0));
    resp.payload = &payload;
    err = TSS(unary_call__pack_response)(&resp, &buf);
    if (err == POLYRPC_OK) err = polyrpc_call_send_message(call, buf, 0, NULL, NULL);
    if (err == POLYRPC_OK) err = polyrpc_call_send_status(call, 0, NULL, trailing, NULL, NULL);
    polyrpc_buffer_destroy(buf);
  }
  polyrpc_metadata_destroy(trailing);
  return err;
}

/* The responses a StreamingOutputCallRequest asks for, through the generated helper of the
 * server-streaming method or of the bidi one. */
static polyrpc_error_t send_responses(polyrpc_call_t *call,
                                      const Grpc__Testing__StreamingOutputCallRequest *request,
                                      int bidi) {
  size_t i;
  for (i = 0; i < request->n_response_parameters; i++) {
    const Grpc__Testing__ResponseParameters *p = request->response_parameters[i];
    Grpc__Testing__StreamingOutputCallResponse resp =
        GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
    Grpc__Testing__Payload payload;
    polyrpc_error_t err;
    if (p->interval_us > 0 && !sleep_us(call, p->interval_us)) return POLYRPC_ERROR_CLOSED;
    set_payload(&payload, (size_t)(p->size > 0 ? p->size : 0));
    resp.payload = &payload;
    err = bidi ? TSS(full_duplex_call__send)(call, &resp, 0)
               : TSS(streaming_output_call__send)(call, &resp, 0);
    if (err != POLYRPC_OK) return err;
  }
  return POLYRPC_OK;
}

static polyrpc_error_t serve_streaming_output(
    polyrpc_call_t *call, const Grpc__Testing__StreamingOutputCallRequest *request,
    void *user_data) {
  polyrpc_error_t err = send_responses(call, request, 0);
  if (err != POLYRPC_OK) return err;
  return polyrpc_call_send_status(call, 0, NULL, NULL, NULL, NULL);
}

static polyrpc_error_t serve_streaming_input(polyrpc_call_t *call, void *user_data) {
  Grpc__Testing__StreamingInputCallResponse resp =
      GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
  Grpc__Testing__StreamingInputCallRequest *req = NULL;
  polyrpc_error_t err;
  while ((err = TSS(streaming_input_call__recv)(call, &req)) == POLYRPC_OK && req != NULL) {
    resp.aggregated_payload_size += (int32_t)payload_len(req->payload);
    grpc__testing__streaming_input_call_request__free_unpacked(req, NULL);
  }
  if (err != POLYRPC_OK) return err;
  return TSS(streaming_input_call__reply)(call, &resp);
}

static polyrpc_error_t serve_full_duplex(polyrpc_call_t *call, void *user_data) {
  Grpc__Testing__StreamingOutputCallRequest *req = NULL;
  polyrpc_metadata_t *trailing = echo_metadata(call);
  polyrpc_error_t err;
  while ((err = TSS(full_duplex_call__recv)(call, &req)) == POLYRPC_OK && req != NULL) {
    if (req->response_status && req->response_status->code != 0) {
      err = polyrpc_call_send_status(call, req->response_status->code,
                                     req->response_status->message, trailing, NULL, NULL);
      grpc__testing__streaming_output_call_request__free_unpacked(req, NULL);
      polyrpc_metadata_destroy(trailing);
      return err;
    }
    err = send_responses(call, req, 1);
    grpc__testing__streaming_output_call_request__free_unpacked(req, NULL);
    if (err != POLYRPC_OK) break;
  }
  if (err == POLYRPC_OK) err = polyrpc_call_send_status(call, 0, NULL, trailing, NULL, NULL);
  polyrpc_metadata_destroy(trailing);
  return err;
}

/* The members left out (CacheableUnaryCall, HalfDuplexCall, UnimplementedCall) are NULL:
 * dispatch answers UNIMPLEMENTED for them. */
static const Grpc__Testing__TestService_Handlers kHandlers = {
    .empty_call = serve_empty,
    .unary_call = serve_unary,
    .streaming_output_call = serve_streaming_output,
    .streaming_input_call = serve_streaming_input,
    .full_duplex_call = serve_full_duplex,
};

static void *serve_call(void *arg) {
  polyrpc_call_t *call = (polyrpc_call_t *)arg;
  polyrpc_error_t err = TSS(dispatch)(&kHandlers, call, NULL);
  if (err == POLYRPC_ERROR_NOT_FOUND) {
    /* Another service (the server is generic): what gRPC answers. */
    polyrpc_call_send_status(call, POLYRPC_STATUS_UNIMPLEMENTED, "", NULL, NULL, NULL);
  }
  polyrpc_call_destroy(call);
  return NULL;
}

static polyrpc_server_t *g_server;

static void *signal_waiter(void *arg) {
  int sig = 0;
  sigwait((sigset_t *)arg, &sig);
  polyrpc_server_shutdown(g_server, 1000);
  return NULL;
}

static int run_server(int port) {
  char address[64];
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_error_t err;
  sigset_t set;
  pthread_t sig_thread;
  pthread_attr_t detached;
  int bound = 0;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  snprintf(address, sizeof(address), "127.0.0.1:%d", port);
  if ((err = polyrpc_server_credentials_create_insecure(&creds)) != POLYRPC_OK ||
      (err = polyrpc_server_create(NULL, &g_server)) != POLYRPC_OK ||
      (err = polyrpc_server_add_listener(g_server, address, creds, &bound)) != POLYRPC_OK ||
      (err = TSS(register)(g_server)) != POLYRPC_OK ||
      /* Other services' calls reach dispatch too, which answers NOT_FOUND for them. */
      (err = polyrpc_server_enable_generic(g_server)) != POLYRPC_OK ||
      (err = polyrpc_server_start(g_server)) != POLYRPC_OK) {
    fprintf(stderr, "server: %s: %s\n", polyrpc_error_name(err), polyrpc_last_error());
    return 1;
  }
  polyrpc_server_credentials_destroy(creds);
  fprintf(stderr, "codegen_c_e2e serving on %s\n", address);
  pthread_create(&sig_thread, NULL, signal_waiter, &set);
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  for (;;) {
    polyrpc_call_t *call = NULL;
    pthread_t t;
    if (polyrpc_server_request_call(g_server, &call, NULL, NULL) != POLYRPC_OK) break;
    if (pthread_create(&t, &detached, serve_call, call) != 0) polyrpc_call_destroy(call);
  }
  pthread_join(sig_thread, NULL);
  polyrpc_server_destroy(g_server);
  return 0;
}

int main(int argc, char **argv) {
  int i, port = 0, client = 0, serve = 0;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--client") == 0) {
      client = 1;
    } else if (strcmp(argv[i], "--serve") == 0) {
      serve = 1;
    } else if (strncmp(argv[i], "--port=", 7) == 0) {
      port = atoi(argv[i] + 7);
    } else {
      fprintf(stderr, "usage: %s --client|--serve --port=N\n", argv[0]);
      return 2;
    }
  }
  if (client == serve || port <= 0) {
    fprintf(stderr, "usage: %s --client|--serve --port=N\n", argv[0]);
    return 2;
  }
  return client ? run_client(port) : run_server(port);
}
