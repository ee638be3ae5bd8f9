/* polyrpc_c_interop_client: the interop test cases on the polyrpc C API, in C99, with the
 * grpc.testing messages of protobuf-c (protoc-c output, generated at build time).
 *
 * Usage: polyrpc_c_interop_client --test_case=NAME [--server_host=localhost] [--server_port=N]
 *   [--server_host_override=foo.test.google.fr] [--use_tls=false] [--use_test_ca=false]
 *   [--cert_dir=DIR]
 * Cases: conformance/cases.json (gRPC's interop-test-descriptions.md plus polyrpc's own).
 * Exit codes: 0 pass, 1 fail (one-line reason on stderr), 2 unsupported case or bad flags. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/messages.pb-c.h"
#include "interop_common.h"
#include "polyrpc/polyrpc.h"

#define SERVICE "/grpc.testing.TestService/"

static const char *g_host = "localhost";
static int g_port = 0;
static const char *g_host_override = "";
static int g_use_tls = 0;
static int g_use_test_ca = 0;
static const char *g_cert_dir = NULL;
static polyrpc_channel_t *g_channel;

static void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "FAIL: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  exit(1);
}

static void check_api(polyrpc_error_t err, const char *what) {
  if (err != POLYRPC_OK) {
    fail("%s: %s: %s", what, polyrpc_error_name(err), polyrpc_last_error());
  }
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- channels ---- */

static polyrpc_channel_t *make_channel(int64_t max_receive) {
  char target[512];
  polyrpc_channel_credentials_t *creds = NULL;
  polyrpc_options_t *opts = NULL;
  polyrpc_channel_t *ch = NULL;
  if (strchr(g_host, ':')) {
    snprintf(target, sizeof(target), "[%s]:%d", g_host, g_port); /* IPv6 literal */
  } else {
    snprintf(target, sizeof(target), "%s:%d", g_host, g_port);
  }
  check_api(polyrpc_options_create(&opts), "polyrpc_options_create");
  if (max_receive > 0) {
    check_api(polyrpc_options_set_int(opts, "grpc.max_receive_message_length", max_receive),
              "max_receive_message_length");
  }
  if (g_use_tls) {
    char *ca = NULL;
    if (g_use_test_ca) {
      ca = read_file_in(g_cert_dir, "ca.pem");
      if (ca == NULL) fail("cannot read %s/ca.pem", g_cert_dir);
    }
    check_api(polyrpc_channel_credentials_create_tls(ca, NULL, NULL, &creds), "tls credentials");
    free(ca);
    if (g_host_override && *g_host_override) {
      check_api(polyrpc_options_set_string(opts, "grpc.ssl_target_name_override", g_host_override),
                "ssl_target_name_override");
    }
  } else {
    check_api(polyrpc_channel_credentials_create_insecure(&creds), "insecure credentials");
  }
  check_api(polyrpc_channel_create(target, creds, opts, &ch), "polyrpc_channel_create");
  polyrpc_channel_credentials_destroy(creds);
  polyrpc_options_destroy(opts);
  return ch;
}

/* ---- calls ---- */

typedef struct call_opts {
  int64_t timeout_ms; /* < 0: none */
  polyrpc_metadata_t *md;
  const char *compression;
  const char *encoding_label;
} call_opts_t;

static polyrpc_call_t *new_call(polyrpc_channel_t *ch, const char *method, const call_opts_t *o) {
  polyrpc_call_t *call = NULL;
  check_api(polyrpc_call_create(ch, method, o ? o->timeout_ms : -1, o ? o->md : NULL, 0, &call),
            "polyrpc_call_create");
  if (o && o->compression) {
    check_api(polyrpc_call_set_compression(call, o->compression), "polyrpc_call_set_compression");
  }
  if (o && o->encoding_label) {
    check_api(polyrpc_call_set_encoding_label_for_testing(call, o->encoding_label),
              "polyrpc_call_set_encoding_label_for_testing");
  }
  return call;
}

/* ---- messages ---- */

/* Payload bodies are zeros; one read-only block serves every request (the client is
 * single-threaded and packs each message right after building it). */
#define MAX_ZEROS ((size_t)8 << 20)
static const uint8_t *zeros(size_t n) {
  static uint8_t *block;
  if (n > MAX_ZEROS) fail("payload of %zu bytes is over the test's %zu", n, MAX_ZEROS);
  if (block == NULL && (block = alloc_zeros(MAX_ZEROS)) == NULL) fail("out of memory");
  return block;
}

static void set_payload(Grpc__Testing__Payload *p, size_t size) {
  grpc__testing__payload__init(p);
  p->body.data = (uint8_t *)zeros(size);
  p->body.len = size;
}

static void set_bool(Grpc__Testing__BoolValue **field, Grpc__Testing__BoolValue *storage,
                     int value) {
  grpc__testing__bool_value__init(storage);
  storage->value = value ? 1 : 0;
  *field = storage;
}

/* A SimpleRequest and the sub-messages it points to, built in place: never copy one (its
 * pointers would still point into the original). */
typedef struct simple_req {
  Grpc__Testing__SimpleRequest msg;
  Grpc__Testing__Payload payload;
  Grpc__Testing__BoolValue response_compressed, expect_compressed;
  Grpc__Testing__EchoStatus response_status;
} simple_req_t;

/* payload_size < 0: no payload field at all. */
static void simple_req_init(simple_req_t *r, int32_t response_size, long payload_size) {
  memset(r, 0, sizeof(*r));
  grpc__testing__simple_request__init(&r->msg);
  r->msg.response_size = response_size;
  if (payload_size >= 0) {
    set_payload(&r->payload, (size_t)payload_size);
    r->msg.payload = &r->payload;
  }
}

static void simple_req_echo_status(simple_req_t *r, int32_t code, const char *message) {
  grpc__testing__echo_status__init(&r->response_status);
  r->response_status.code = code;
  r->response_status.message = (char *)message;
  r->msg.response_status = &r->response_status;
}

#define MAX_PARAMS 16
/* A StreamingOutputCallRequest and what it points to, built in place like simple_req_t. */
typedef struct output_req {
  Grpc__Testing__StreamingOutputCallRequest msg;
  Grpc__Testing__ResponseParameters params[MAX_PARAMS];
  Grpc__Testing__ResponseParameters *param_list[MAX_PARAMS];
  Grpc__Testing__BoolValue compressed[MAX_PARAMS];
  Grpc__Testing__Payload payload;
  Grpc__Testing__EchoStatus response_status;
} output_req_t;

/* n responses of sizes[i] bytes (sizes may be NULL when n is 0); a request payload of
 * payload_size zeros unless 0. */
static void output_req_init(output_req_t *r, const int *sizes, size_t n, size_t payload_size) {
  size_t i;
  if (n > MAX_PARAMS) fail("%zu response parameters, at most %d", n, MAX_PARAMS);
  memset(r, 0, sizeof(*r));
  grpc__testing__streaming_output_call_request__init(&r->msg);
  for (i = 0; i < n; i++) {
    grpc__testing__response_parameters__init(&r->params[i]);
    r->params[i].size = sizes[i];
    r->param_list[i] = &r->params[i];
  }
  r->msg.n_response_parameters = n;
  r->msg.response_parameters = n ? r->param_list : NULL;
  if (payload_size) {
    set_payload(&r->payload, payload_size);
    r->msg.payload = &r->payload;
  }
}

/* ---- call helpers ---- */

/* Packs m and sends it (blocking, no copy of the packed bytes); returns the send's result. */
static polyrpc_error_t send_msg(polyrpc_call_t *call, const ProtobufCMessage *m, uint32_t flags) {
  polyrpc_buffer_t *b = NULL;
  polyrpc_error_t err;
  check_api(pack_message(m, &b), "pack_message");
  err = polyrpc_call_send_message(call, b, flags, NULL, NULL);
  polyrpc_buffer_destroy(b);
  return err;
}

/* Receives one message (NULL at the end of the stream). */
static polyrpc_buffer_t *recv_msg(polyrpc_call_t *call, int *compressed) {
  polyrpc_buffer_t *b = NULL;
  if (polyrpc_call_recv_message(call, NULL, NULL) != POLYRPC_OK) return NULL;
  check_api(polyrpc_call_take_message(call, &b, compressed), "polyrpc_call_take_message");
  return b;
}

static int finish(polyrpc_call_t *call, const char **message) {
  int code = -1;
  check_api(polyrpc_call_recv_status(call, NULL, NULL), "polyrpc_call_recv_status");
  check_api(polyrpc_call_status(call, &code, message), "polyrpc_call_status");
  return code;
}

static void expect_code(polyrpc_call_t *call, int want, const char *what) {
  const char *message = "";
  int code = finish(call, &message);
  if (code != want) {
    fail("%s: status %s (%d) \"%s\", want %s", what, polyrpc_status_code_name(code), code, message,
         polyrpc_status_code_name(want));
  }
}

/* The payload (NULL: absent, as an empty one) must be want zero bytes. */
static void check_zero_payload(const Grpc__Testing__Payload *p, size_t want, const char *what) {
  size_t i, got = p ? p->body.len : 0;
  if (got != want) fail("%s: payload of %zu bytes, want %zu", what, got, want);
  for (i = 0; i < got; i++) {
    if (p->body.data[i] != 0) fail("%s: payload byte %zu is %d, want 0", what, i, p->body.data[i]);
  }
}

static void check_simple_response(const polyrpc_buffer_t *b, size_t want, const char *what) {
  Grpc__Testing__SimpleResponse *r = (Grpc__Testing__SimpleResponse *)unpack_message(
      &grpc__testing__simple_response__descriptor, b);
  if (r == NULL) fail("%s: malformed SimpleResponse", what);
  check_zero_payload(r->payload, want, what);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int32_t aggregated_size(const polyrpc_buffer_t *b, const char *what) {
  int32_t total;
  Grpc__Testing__StreamingInputCallResponse *r =
      (Grpc__Testing__StreamingInputCallResponse *)unpack_message(
          &grpc__testing__streaming_input_call_response__descriptor, b);
  if (r == NULL) fail("%s: malformed StreamingInputCallResponse", what);
  total = r->aggregated_payload_size;
  protobuf_c_message_free_unpacked(&r->base, NULL);
  return total;
}

static void check_output_response(const polyrpc_buffer_t *b, size_t want, const char *what) {
  Grpc__Testing__StreamingOutputCallResponse *r =
      (Grpc__Testing__StreamingOutputCallResponse *)unpack_message(
          &grpc__testing__streaming_output_call_response__descriptor, b);
  if (r == NULL) fail("%s: malformed StreamingOutputCallResponse", what);
  check_zero_payload(r->payload, want, what);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* One UnaryCall; returns the status code; on OK checks the payload size. */
static int unary(polyrpc_channel_t *ch, const simple_req_t *req, const call_opts_t *o,
                 uint32_t flags, int *resp_compressed, polyrpc_call_t **keep_call) {
  polyrpc_call_t *call = new_call(ch, SERVICE "UnaryCall", o);
  polyrpc_buffer_t *resp;
  int code;
  send_msg(call, &req->msg.base, flags | POLYRPC_WRITE_LAST);
  resp = recv_msg(call, resp_compressed);
  code = finish(call, NULL);
  if (code == 0) {
    if (resp == NULL) fail("UnaryCall: OK without a response");
    check_simple_response(resp, (size_t)req->msg.response_size, "UnaryCall");
  }
  polyrpc_buffer_destroy(resp);
  if (keep_call) {
    *keep_call = call;
  } else {
    polyrpc_call_destroy(call);
  }
  return code;
}

static void large_request(simple_req_t *r) { simple_req_init(r, 314159, 271828); }

/* Receives one StreamingOutputCallResponse and checks its size. */
static void recv_output(polyrpc_call_t *call, size_t want, const char *what, int *compressed) {
  polyrpc_buffer_t *b = recv_msg(call, compressed);
  if (b == NULL) fail("%s: stream ended early", what);
  check_output_response(b, want, what);
  polyrpc_buffer_destroy(b);
}

/* ---- gRPC cases ---- */

static void empty_unary(void) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT;
  Grpc__Testing__Empty *reply;
  polyrpc_call_t *call = new_call(g_channel, SERVICE "EmptyCall", NULL);
  polyrpc_buffer_t *resp;
  send_msg(call, &req.base, POLYRPC_WRITE_LAST);
  resp = recv_msg(call, NULL);
  expect_code(call, 0, "EmptyCall");
  if (resp == NULL || polyrpc_buffer_length(resp) != 0) fail("EmptyCall: response is not empty");
  reply = (Grpc__Testing__Empty *)unpack_message(&grpc__testing__empty__descriptor, resp);
  if (reply == NULL) fail("EmptyCall: malformed Empty");
  protobuf_c_message_free_unpacked(&reply->base, NULL);
  polyrpc_buffer_destroy(resp);
  polyrpc_call_destroy(call);
}

static void large_unary(void) {
  simple_req_t req;
  int code;
  large_request(&req);
  code = unary(g_channel, &req, NULL, 0, NULL, NULL);
  if (code != 0) fail("large_unary: status %d", code);
}

/* Sends one StreamingInputCallRequest with size zeros (expect_compressed < 0: unset). */
static polyrpc_error_t send_input(polyrpc_call_t *call, size_t size, int expect_compressed,
                                  uint32_t flags) {
  Grpc__Testing__StreamingInputCallRequest r = GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
  Grpc__Testing__Payload payload;
  Grpc__Testing__BoolValue expect;
  set_payload(&payload, size);
  r.payload = &payload;
  if (expect_compressed >= 0) set_bool(&r.expect_compressed, &expect, expect_compressed);
  return send_msg(call, &r.base, flags);
}

static void client_streaming(void) {
  static const int sizes[] = {27182, 8, 1828, 45904};
  polyrpc_call_t *call = new_call(g_channel, SERVICE "StreamingInputCall", NULL);
  polyrpc_buffer_t *resp;
  size_t i;
  int32_t total;
  for (i = 0; i < 4; i++) check_api(send_input(call, (size_t)sizes[i], -1, 0), "send");
  check_api(polyrpc_call_close_send(call, NULL, NULL), "close_send");
  resp = recv_msg(call, NULL);
  expect_code(call, 0, "StreamingInputCall");
  if (resp == NULL) fail("client_streaming: no response");
  total = aggregated_size(resp, "client_streaming");
  if (total != 74922) fail("client_streaming: aggregated_payload_size %d, want 74922", total);
  polyrpc_buffer_destroy(resp);
  polyrpc_call_destroy(call);
}

static void server_streaming(void) {
  static const int sizes[] = {31415, 9, 2653, 58979};
  output_req_t req;
  polyrpc_call_t *call = new_call(g_channel, SERVICE "StreamingOutputCall", NULL);
  size_t i;
  output_req_init(&req, sizes, 4, 0);
  check_api(send_msg(call, &req.msg.base, POLYRPC_WRITE_LAST), "send");
  for (i = 0; i < 4; i++) recv_output(call, (size_t)sizes[i], "server_streaming", NULL);
  if (recv_msg(call, NULL) != NULL) fail("server_streaming: more than 4 responses");
  expect_code(call, 0, "StreamingOutputCall");
  polyrpc_call_destroy(call);
}

static void ping_pong_rounds(polyrpc_call_t *call, const int *req_sizes, const int *resp_sizes,
                             size_t rounds, const char *what) {
  output_req_t req;
  size_t i;
  for (i = 0; i < rounds; i++) {
    output_req_init(&req, &resp_sizes[i], 1, (size_t)req_sizes[i]);
    check_api(send_msg(call, &req.msg.base, 0), "send");
    recv_output(call, (size_t)resp_sizes[i], what, NULL);
  }
}

static void ping_pong(void) {
  static const int req_sizes[] = {27182, 8, 1828, 45904};
  static const int resp_sizes[] = {31415, 9, 2653, 58979};
  polyrpc_call_t *call = new_call(g_channel, SERVICE "FullDuplexCall", NULL);
  ping_pong_rounds(call, req_sizes, resp_sizes, 4, "ping_pong");
  check_api(polyrpc_call_close_send(call, NULL, NULL), "close_send");
  if (recv_msg(call, NULL) != NULL) fail("ping_pong: unexpected extra response");
  expect_code(call, 0, "FullDuplexCall");
  polyrpc_call_destroy(call);
}

static void empty_stream(void) {
  polyrpc_call_t *call = new_call(g_channel, SERVICE "FullDuplexCall", NULL);
  check_api(polyrpc_call_close_send(call, NULL, NULL), "close_send");
  if (recv_msg(call, NULL) != NULL) fail("empty_stream: got a response");
  expect_code(call, 0, "FullDuplexCall");
  polyrpc_call_destroy(call);
}

static void cancel_after_begin(void) {
  polyrpc_call_t *call = new_call(g_channel, SERVICE "StreamingInputCall", NULL);
  check_api(polyrpc_call_start(call, NULL, NULL), "start");
  check_api(polyrpc_call_cancel(call), "cancel");
  expect_code(call, POLYRPC_STATUS_CANCELLED, "cancel_after_begin");
  polyrpc_call_destroy(call);
}

static void cancel_after_first_response(void) {
  static const int req_sizes[] = {27182};
  static const int resp_sizes[] = {31415};
  polyrpc_call_t *call = new_call(g_channel, SERVICE "FullDuplexCall", NULL);
  ping_pong_rounds(call, req_sizes, resp_sizes, 1, "cancel_after_first_response");
  check_api(polyrpc_call_cancel(call), "cancel");
  expect_code(call, POLYRPC_STATUS_CANCELLED, "cancel_after_first_response");
  polyrpc_call_destroy(call);
}

static void timeout_on_sleeping_server(void) {
  call_opts_t o = {1, NULL, NULL, NULL};
  polyrpc_call_t *call = new_call(g_channel, SERVICE "FullDuplexCall", &o);
  output_req_t req;
  output_req_init(&req, NULL, 0, 27182);
  (void)send_msg(call, &req.msg.base, 0); /* may fail: the deadline may already have passed */
  expect_code(call, POLYRPC_STATUS_DEADLINE_EXCEEDED, "timeout_on_sleeping_server");
  polyrpc_call_destroy(call);
}

static int md_equals(const polyrpc_metadata_t *md, const char *key, const uint8_t *want, size_t n) {
  const uint8_t *v;
  size_t len;
  return polyrpc_metadata_find(md, key, &v, &len) == POLYRPC_OK && len == n &&
         memcmp(v, want, n) == 0;
}

/* The echo checks of custom_metadata and metadata_binary_unicode. */
static void echo_metadata_case(const char *initial, const uint8_t *trailing, size_t trailing_len,
                               int32_t response_size, size_t payload_size, const char *name) {
  polyrpc_metadata_t *md = NULL;
  call_opts_t o = {-1, NULL, NULL, NULL};
  polyrpc_call_t *call;
  simple_req_t req;
  output_req_t sreq;
  int sizes[1];
  check_api(polyrpc_metadata_create(&md), "metadata");
  check_api(polyrpc_metadata_add(md, "x-grpc-test-echo-initial", (const uint8_t *)initial,
                                 strlen(initial)),
            "metadata add");
  check_api(polyrpc_metadata_add(md, "x-grpc-test-echo-trailing-bin", trailing, trailing_len),
            "metadata add");
  o.md = md;

  simple_req_init(&req, response_size, (long)payload_size);
  if (unary(g_channel, &req, &o, 0, NULL, &call) != 0) fail("%s: UnaryCall failed", name);
  if (!md_equals(polyrpc_call_initial_metadata(call), "x-grpc-test-echo-initial",
                 (const uint8_t *)initial, strlen(initial))) {
    fail("%s: UnaryCall initial metadata not echoed", name);
  }
  if (!md_equals(polyrpc_call_trailing_metadata(call), "x-grpc-test-echo-trailing-bin", trailing,
                 trailing_len)) {
    fail("%s: UnaryCall trailing metadata not echoed", name);
  }
  polyrpc_call_destroy(call);

  call = new_call(g_channel, SERVICE "FullDuplexCall", &o);
  sizes[0] = response_size;
  output_req_init(&sreq, sizes, 1, payload_size);
  check_api(send_msg(call, &sreq.msg.base, 0), "send");
  check_api(polyrpc_call_recv_initial_metadata(call, NULL, NULL), "recv_initial_metadata");
  if (!md_equals(polyrpc_call_initial_metadata(call), "x-grpc-test-echo-initial",
                 (const uint8_t *)initial, strlen(initial))) {
    fail("%s: FullDuplexCall initial metadata not echoed", name);
  }
  recv_output(call, (size_t)response_size, name, NULL);
  check_api(polyrpc_call_close_send(call, NULL, NULL), "close_send");
  expect_code(call, 0, name);
  if (!md_equals(polyrpc_call_trailing_metadata(call), "x-grpc-test-echo-trailing-bin", trailing,
                 trailing_len)) {
    fail("%s: FullDuplexCall trailing metadata not echoed", name);
  }
  polyrpc_call_destroy(call);
  polyrpc_metadata_destroy(md);
}

static void custom_metadata(void) {
  static const uint8_t trailing[] = {0xab, 0xab, 0xab};
  echo_metadata_case("test_initial_metadata_value", trailing, 3, 314159, 271828, "custom_metadata");
}

static void status_case(const char *message, const char *name) {
  simple_req_t req;
  output_req_t sreq;
  polyrpc_call_t *call;
  const char *got = NULL;
  int code;
  simple_req_init(&req, 0, -1);
  simple_req_echo_status(&req, 2, message);
  code = unary(g_channel, &req, NULL, 0, NULL, &call);
  polyrpc_call_status(call, NULL, &got);
  if (code != 2 || strcmp(got, message) != 0) {
    fail("%s: UnaryCall status %d \"%s\", want 2 \"%s\"", name, code, got, message);
  }
  polyrpc_call_destroy(call);

  output_req_init(&sreq, NULL, 0, 0);
  sreq.response_status = req.response_status;
  sreq.msg.response_status = &sreq.response_status;
  call = new_call(g_channel, SERVICE "FullDuplexCall", NULL);
  check_api(send_msg(call, &sreq.msg.base, 0), "send");
  check_api(polyrpc_call_close_send(call, NULL, NULL), "close_send");
  code = finish(call, &got);
  if (code != 2 || strcmp(got, message) != 0) {
    fail("%s: FullDuplexCall status %d \"%s\", want 2 \"%s\"", name, code, got, message);
  }
  polyrpc_call_destroy(call);
}

static void status_code_and_message(void) {
  status_case("test status message", "status_code_and_message");
}

static void special_status_message(void) {
  status_case(
      "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP "
      "\xf0\x9f\x98\x88\t\n",
      "special_status_message");
}

static void unimplemented(const char *method, const char *name) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT;
  polyrpc_call_t *call = new_call(g_channel, method, NULL);
  (void)send_msg(call, &req.base, POLYRPC_WRITE_LAST);
  expect_code(call, POLYRPC_STATUS_UNIMPLEMENTED, name);
  polyrpc_call_destroy(call);
}

static void unimplemented_method(void) {
  unimplemented(SERVICE "UnimplementedCall", "unimplemented_method");
}

static void unimplemented_service(void) {
  unimplemented("/grpc.testing.UnimplementedService/UnimplementedCall", "unimplemented_service");
}

static void client_compressed_unary(void) {
  simple_req_t req;
  call_opts_t gz = {-1, NULL, "gzip", NULL};
  int code;
  large_request(&req);
  /* Probe: the server must refuse an uncompressed request that claims to be compressed. */
  set_bool(&req.msg.expect_compressed, &req.expect_compressed, 1);
  code = unary(g_channel, &req, NULL, 0, NULL, NULL);
  if (code != POLYRPC_STATUS_INVALID_ARGUMENT) {
    fail("client_compressed_unary: probe got %d, want INVALID_ARGUMENT", code);
  }
  code = unary(g_channel, &req, &gz, 0, NULL, NULL);
  if (code != 0) fail("client_compressed_unary: compressed request got %d", code);
  req.expect_compressed.value = 0;
  code = unary(g_channel, &req, &gz, POLYRPC_WRITE_NO_COMPRESS, NULL, NULL);
  if (code != 0) fail("client_compressed_unary: uncompressed request got %d", code);
}

static void server_compressed_unary(void) {
  simple_req_t req;
  int compressed = -1, code;
  large_request(&req);
  set_bool(&req.msg.response_compressed, &req.response_compressed, 1);
  code = unary(g_channel, &req, NULL, 0, &compressed, NULL);
  if (code != 0 || compressed != 1) {
    fail("server_compressed_unary: status %d, compressed %d; want 0, 1", code, compressed);
  }
  req.response_compressed.value = 0;
  code = unary(g_channel, &req, NULL, 0, &compressed, NULL);
  if (code != 0 || compressed != 0) {
    fail("server_compressed_unary: status %d, compressed %d; want 0, 0", code, compressed);
  }
}

static void client_compressed_streaming(void) {
  call_opts_t gz = {-1, NULL, "gzip", NULL};
  polyrpc_call_t *call;
  polyrpc_buffer_t *resp;
  int32_t total;
  /* Probe. */
  call = new_call(g_channel, SERVICE "StreamingInputCall", NULL);
  (void)send_input(call, 27182, 1, 0);
  (void)polyrpc_call_close_send(call, NULL, NULL);
  expect_code(call, POLYRPC_STATUS_INVALID_ARGUMENT, "client_compressed_streaming probe");
  polyrpc_call_destroy(call);

  call = new_call(g_channel, SERVICE "StreamingInputCall", &gz);
  check_api(send_input(call, 27182, 1, 0), "send");
  check_api(send_input(call, 45904, 0, POLYRPC_WRITE_NO_COMPRESS), "send");
  check_api(polyrpc_call_close_send(call, NULL, NULL), "close_send");
  resp = recv_msg(call, NULL);
  expect_code(call, 0, "client_compressed_streaming");
  if (resp == NULL) fail("client_compressed_streaming: no response");
  total = aggregated_size(resp, "client_compressed_streaming");
  if (total != 73086) fail("client_compressed_streaming: aggregated %d, want 73086", total);
  polyrpc_buffer_destroy(resp);
  polyrpc_call_destroy(call);
}

static void server_compressed_streaming(void) {
  static const int sizes[] = {31415, 92653};
  output_req_t req;
  polyrpc_call_t *call = new_call(g_channel, SERVICE "StreamingOutputCall", NULL);
  int c1 = -1, c2 = -1;
  output_req_init(&req, sizes, 2, 0);
  set_bool(&req.params[0].compressed, &req.compressed[0], 1);
  set_bool(&req.params[1].compressed, &req.compressed[1], 0);
  check_api(send_msg(call, &req.msg.base, POLYRPC_WRITE_LAST), "send");
  recv_output(call, 31415, "server_compressed_streaming", &c1);
  recv_output(call, 92653, "server_compressed_streaming", &c2);
  expect_code(call, 0, "server_compressed_streaming");
  if (c1 != 1 || c2 != 0) {
    fail("server_compressed_streaming: compressed flags %d, %d; want 1, 0", c1, c2);
  }
  polyrpc_call_destroy(call);
}

/* ---- polyrpc cases ---- */

static void metadata_binary_unicode(void) {
  static const char initial[] = "polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}";
  static const char unicode[] =
      "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
      "\xf0\x9f\x9a\x80";
  uint8_t trailing[256 + sizeof(unicode)];
  int i;
  for (i = 0; i < 256; i++) trailing[i] = (uint8_t)i;
  memcpy(trailing + 256, unicode, sizeof(unicode) - 1);
  echo_metadata_case(initial, trailing, 256 + sizeof(unicode) - 1, 1, 1, "metadata_binary_unicode");
}

static void large_message_4mib(void) {
  simple_req_t req;
  int code;
  simple_req_init(&req, 4194240, 4194240);
  code = unary(g_channel, &req, NULL, 0, NULL, NULL);
  if (code != 0) fail("large_message_4mib: status %d", code);
}

/* 100 unary calls and 8 server streams in flight at once on one channel, driven by one
 * completion queue. */
static void concurrent_streams(void) {
  enum { kUnary = 100, kStreams = 8, kOps = 3 };
  polyrpc_call_t *calls[kUnary + kStreams];
  polyrpc_cq_t *cq = NULL;
  int pending = 0, i, received[kUnary + kStreams];
  long long start = now_ms();
  check_api(polyrpc_cq_create(&cq), "polyrpc_cq_create");
  memset(received, 0, sizeof(received));
  for (i = 0; i < kUnary + kStreams; i++) {
    polyrpc_buffer_t *b = NULL;
    if (i < kUnary) {
      simple_req_t req;
      simple_req_init(&req, i + 1, 1);
      calls[i] = new_call(g_channel, SERVICE "UnaryCall", NULL);
      check_api(pack_message(&req.msg.base, &b), "pack_message");
    } else {
      static const int sizes[] = {10, 10, 10, 10, 10};
      output_req_t req;
      output_req_init(&req, sizes, 5, 0);
      calls[i] = new_call(g_channel, SERVICE "StreamingOutputCall", NULL);
      check_api(pack_message(&req.msg.base, &b), "pack_message");
    }
    /* tag = call index * kOps + op (0 send, 1 recv, 2 status) */
    check_api(polyrpc_call_send_message(calls[i], b, POLYRPC_WRITE_LAST, cq,
                                        (void *)(intptr_t)(i * kOps + 0)),
              "send");
    check_api(polyrpc_call_recv_message(calls[i], cq, (void *)(intptr_t)(i * kOps + 1)), "recv");
    check_api(polyrpc_call_recv_status(calls[i], cq, (void *)(intptr_t)(i * kOps + 2)), "status");
    pending += 3;
    polyrpc_buffer_destroy(b);
  }
  while (pending > 0) {
    polyrpc_event_t ev;
    intptr_t tag;
    int idx, op;
    ev.struct_size = sizeof(ev);
    check_api(polyrpc_cq_next(cq, 1000, &ev), "polyrpc_cq_next");
    if (ev.type != POLYRPC_EVENT_COMPLETE) {
      if (now_ms() - start > 30000) fail("concurrent_streams: timed out, %d pending", pending);
      continue;
    }
    pending--;
    tag = (intptr_t)ev.tag;
    idx = (int)(tag / kOps);
    op = (int)(tag % kOps);
    if (op == 1 && ev.success) {
      polyrpc_buffer_t *m = NULL;
      check_api(polyrpc_call_take_message(calls[idx], &m, NULL), "take");
      if (idx < kUnary) {
        check_simple_response(m, (size_t)idx + 1, "concurrent unary");
      } else {
        check_output_response(m, 10, "concurrent stream");
        /* Next message of the stream. */
        check_api(polyrpc_call_recv_message(calls[idx], cq, (void *)(intptr_t)(idx * kOps + 1)),
                  "recv");
        pending++;
      }
      received[idx]++;
      polyrpc_buffer_destroy(m);
    }
  }
  for (i = 0; i < kUnary + kStreams; i++) {
    int code = -1;
    check_api(polyrpc_call_status(calls[i], &code, NULL), "status");
    if (code != 0) fail("concurrent_streams: call %d ended with %d", i, code);
    if (received[i] != (i < kUnary ? 1 : 5)) {
      fail("concurrent_streams: call %d received %d messages", i, received[i]);
    }
    polyrpc_call_destroy(calls[i]);
  }
  polyrpc_cq_destroy(cq);
}

static void deadline_propagation(void) {
  polyrpc_metadata_t *md = NULL;
  call_opts_t o = {5000, NULL, NULL, NULL};
  simple_req_t req;
  polyrpc_call_t *call;
  const uint8_t *v;
  size_t len;
  char text[32];
  long ms;
  check_api(polyrpc_metadata_create(&md), "metadata");
  check_api(polyrpc_metadata_add(md, "x-polyrpc-echo-deadline", (const uint8_t *)"1", 1), "add");
  o.md = md;
  simple_req_init(&req, 0, -1);
  if (unary(g_channel, &req, &o, 0, NULL, &call) != 0) fail("deadline_propagation: (a) failed");
  if (polyrpc_metadata_find(polyrpc_call_trailing_metadata(call), "x-polyrpc-time-remaining-ms", &v,
                            &len) != POLYRPC_OK) {
    fail("deadline_propagation: (a) no x-polyrpc-time-remaining-ms trailer");
  }
  snprintf(text, sizeof(text), "%.*s", (int)len, (const char *)v);
  ms = atol(text);
  if (ms <= 0 || ms > 5000) fail("deadline_propagation: (a) remaining %ld ms", ms);
  polyrpc_call_destroy(call);
  polyrpc_metadata_destroy(md);

  {
    static const int sizes[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    output_req_t sreq;
    call_opts_t o2 = {1000, NULL, NULL, NULL};
    int i, n = 0, code;
    long long start = now_ms();
    output_req_init(&sreq, sizes, 10, 0);
    for (i = 0; i < 10; i++) sreq.params[i].interval_us = 200000;
    call = new_call(g_channel, SERVICE "StreamingOutputCall", &o2);
    (void)send_msg(call, &sreq.msg.base, POLYRPC_WRITE_LAST);
    for (;;) {
      polyrpc_buffer_t *b = recv_msg(call, NULL);
      if (b == NULL) break;
      n++;
      polyrpc_buffer_destroy(b);
    }
    code = finish(call, NULL);
    if (code != POLYRPC_STATUS_DEADLINE_EXCEEDED || n < 1 || n >= 10 || now_ms() - start > 3000) {
      fail("deadline_propagation: (b) status %d after %d responses in %lld ms", code, n,
           now_ms() - start);
    }
    polyrpc_call_destroy(call);
  }
}

static void max_message_size(void) {
  polyrpc_channel_t *small = make_channel(1 << 20);
  simple_req_t req;
  int code;
  simple_req_init(&req, 2097152, -1);
  code = unary(small, &req, NULL, 0, NULL, NULL);
  if (code != POLYRPC_STATUS_RESOURCE_EXHAUSTED) {
    fail("max_message_size: (a) status %d, want RESOURCE_EXHAUSTED", code);
  }
  polyrpc_channel_destroy(small);
  simple_req_init(&req, 0, 5242880);
  code = unary(g_channel, &req, NULL, 0, NULL, NULL);
  if (code != POLYRPC_STATUS_RESOURCE_EXHAUSTED) {
    fail("max_message_size: (b) status %d, want RESOURCE_EXHAUSTED", code);
  }
  simple_req_init(&req, 10, -1);
  code = unary(g_channel, &req, NULL, 0, NULL, NULL);
  if (code != 0) fail("max_message_size: (c) status %d", code);
}

static void compression_unsupported(void) {
  call_opts_t o = {-1, NULL, "gzip", "x-polyrpc-unknown"};
  simple_req_t req;
  int code;
  simple_req_init(&req, 1, -1);
  code = unary(g_channel, &req, &o, 0, NULL, NULL);
  if (code != POLYRPC_STATUS_UNIMPLEMENTED) {
    fail("compression_unsupported: status %d, want UNIMPLEMENTED", code);
  }
}

static void cancel_mid_bidi(void) {
  static const int req_sizes[] = {27182, 8};
  static const int resp_sizes[] = {31415, 9};
  polyrpc_call_t *call = new_call(g_channel, SERVICE "FullDuplexCall", NULL);
  simple_req_t req;
  ping_pong_rounds(call, req_sizes, resp_sizes, 2, "cancel_mid_bidi");
  check_api(polyrpc_call_cancel(call), "cancel");
  expect_code(call, POLYRPC_STATUS_CANCELLED, "cancel_mid_bidi");
  polyrpc_call_destroy(call);
  simple_req_init(&req, 1, -1);
  if (unary(g_channel, &req, NULL, 0, NULL, NULL) != 0) {
    fail("cancel_mid_bidi: the following UnaryCall failed");
  }
}

static void server_closes_connection(void) {
  static const int sizes[] = {10, 10, 10, 10};
  polyrpc_metadata_t *md = NULL;
  call_opts_t o = {-1, NULL, NULL, NULL};
  output_req_t sreq;
  polyrpc_call_t *call;
  simple_req_t req;
  long long start = now_ms();
  int i, code;
  check_api(polyrpc_metadata_create(&md), "metadata");
  check_api(polyrpc_metadata_add(md, "x-polyrpc-close-connection", (const uint8_t *)"1", 1), "add");
  o.md = md;
  output_req_init(&sreq, sizes, 4, 0);
  for (i = 0; i < 4; i++) sreq.params[i].interval_us = 100000;
  call = new_call(g_channel, SERVICE "StreamingOutputCall", &o);
  (void)send_msg(call, &sreq.msg.base, POLYRPC_WRITE_LAST);
  recv_output(call, 10, "server_closes_connection", NULL);
  while (recv_msg(call, NULL) != NULL) {
  }
  code = finish(call, NULL);
  if (code != POLYRPC_STATUS_UNAVAILABLE || now_ms() - start > 5000) {
    fail("server_closes_connection: status %d after %lld ms, want UNAVAILABLE", code,
         now_ms() - start);
  }
  polyrpc_call_destroy(call);
  polyrpc_metadata_destroy(md);
  simple_req_init(&req, 1, -1);
  if (unary(g_channel, &req, NULL, 0, NULL, NULL) != 0) {
    fail("server_closes_connection: the following UnaryCall failed");
  }
}

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case_t;

static const test_case_t kCases[] = {
    {"empty_unary", empty_unary},
    {"large_unary", large_unary},
    {"client_streaming", client_streaming},
    {"server_streaming", server_streaming},
    {"ping_pong", ping_pong},
    {"empty_stream", empty_stream},
    {"cancel_after_begin", cancel_after_begin},
    {"cancel_after_first_response", cancel_after_first_response},
    {"timeout_on_sleeping_server", timeout_on_sleeping_server},
    {"custom_metadata", custom_metadata},
    {"status_code_and_message", status_code_and_message},
    {"special_status_message", special_status_message},
    {"unimplemented_method", unimplemented_method},
    {"unimplemented_service", unimplemented_service},
    {"client_compressed_unary", client_compressed_unary},
    {"server_compressed_unary", server_compressed_unary},
    {"client_compressed_streaming", client_compressed_streaming},
    {"server_compressed_streaming", server_compressed_streaming},
    {"metadata_binary_unicode", metadata_binary_unicode},
    {"large_message_4mib", large_message_4mib},
    {"concurrent_streams", concurrent_streams},
    {"deadline_propagation", deadline_propagation},
    {"max_message_size", max_message_size},
    {"compression_unsupported", compression_unsupported},
    {"cancel_mid_bidi", cancel_mid_bidi},
    {"server_closes_connection", server_closes_connection},
};

int main(int argc, char **argv) {
  const char *test_case = "";
  flag_t flags[7];
  size_t i;
  const test_case_t *tc = NULL;
  g_cert_dir = default_cert_dir();
  flags[0].name = "server_host", flags[0].type = FLAG_STRING, flags[0].value = &g_host;
  flags[1].name = "server_port", flags[1].type = FLAG_INT, flags[1].value = &g_port;
  flags[2].name = "server_host_override", flags[2].type = FLAG_STRING,
  flags[2].value = &g_host_override;
  flags[3].name = "test_case", flags[3].type = FLAG_STRING, flags[3].value = &test_case;
  flags[4].name = "use_tls", flags[4].type = FLAG_BOOL, flags[4].value = &g_use_tls;
  flags[5].name = "use_test_ca", flags[5].type = FLAG_BOOL, flags[5].value = &g_use_test_ca;
  flags[6].name = "cert_dir", flags[6].type = FLAG_STRING, flags[6].value = &g_cert_dir;
  parse_flags(argc, argv, flags, 7);
  for (i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    if (strcmp(kCases[i].name, test_case) == 0) tc = &kCases[i];
  }
  if (tc == NULL) {
    fprintf(stderr, "unsupported test case: \"%s\"\n", test_case);
    return 2;
  }
  if (g_port <= 0) {
    fprintf(stderr, "--server_port=N is required\n");
    return 2;
  }
  g_channel = make_channel(0);
  tc->fn();
  polyrpc_channel_destroy(g_channel);
  fprintf(stderr, "PASS: %s\n", test_case);
  return 0;
}
