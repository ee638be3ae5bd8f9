/* polyrpc_c_interop_server: grpc.testing.TestService on the polyrpc C API, in C99.
 *
 * Usage: polyrpc_c_interop_server --port=N [--use_tls=true] [--cert_dir=DIR]
 * Behaviour: gRPC's doc/interop-test-descriptions.md, plus polyrpc's test hooks
 * (conformance/cases.json): request metadata "x-polyrpc-echo-deadline: 1" returns the remaining
 * deadline in trailing metadata "x-polyrpc-time-remaining-ms"; "x-polyrpc-close-connection: 1"
 * on StreamingOutputCall drops the connection after the first response.
 * Every incoming call gets its own thread and uses blocking operations (cq == NULL). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interop_common.h"
#include "interop_pb.h"
#include "polyrpc/polyrpc.h"

#define SERVICE "/grpc.testing.TestService/"

static polyrpc_server_t *g_server;

static void die(const char *what, polyrpc_error_t err) {
  fprintf(stderr, "%s: %s: %s\n", what, polyrpc_error_name(err), polyrpc_last_error());
  exit(1);
}

/* Hands encoded bytes to a buffer without copying them. */
static polyrpc_buffer_t *take_buffer(pb_out_t *o) {
  polyrpc_buffer_t *b = NULL;
  polyrpc_error_t err = polyrpc_buffer_create_wrap(o->data, o->len, free, o->data, &b);
  if (err != POLYRPC_OK) die("polyrpc_buffer_create_wrap", err);
  o->data = NULL;
  o->len = o->cap = 0;
  return b;
}

typedef struct served {
  polyrpc_call_t *call;
  polyrpc_metadata_t *initial;
  polyrpc_metadata_t *trailing;
  int initial_sent;
  int close_connection;
} served_t;

static int md_is(const polyrpc_metadata_t *md, const char *key, const char *want) {
  const uint8_t *v;
  size_t len;
  return polyrpc_metadata_find(md, key, &v, &len) == POLYRPC_OK && len == strlen(want) &&
         memcmp(v, want, len) == 0;
}

static void echo_entry(const polyrpc_metadata_t *from, const char *key, polyrpc_metadata_t *to) {
  size_t i, n = polyrpc_metadata_count(from);
  for (i = 0; i < n; i++) {
    const char *k;
    const uint8_t *v;
    size_t len;
    if (polyrpc_metadata_get(from, i, &k, &v, &len) == POLYRPC_OK && strcmp(k, key) == 0) {
      (void)polyrpc_metadata_add(to, key, v, len);
    }
  }
}

static void send_initial(served_t *s) {
  if (s->initial_sent) return;
  s->initial_sent = 1;
  (void)polyrpc_call_send_initial_metadata(s->call, s->initial, NULL, NULL);
}

static void finish(served_t *s, int code, const char *message) {
  send_initial(s);
  (void)polyrpc_call_send_status(s->call, code, message, s->trailing, NULL, NULL);
}

static void finish_echo_status(served_t *s, const pb_echo_status_t *st) {
  char msg[4096];
  size_t n = st->message_len < sizeof(msg) - 1 ? st->message_len : sizeof(msg) - 1;
  memcpy(msg, st->message ? (const char *)st->message : "", n);
  msg[n] = '\0';
  finish(s, st->code, msg);
}

/* Receives one message; NULL at the end of the stream. */
static polyrpc_buffer_t *recv_buffer(served_t *s, int *compressed) {
  polyrpc_buffer_t *b = NULL;
  if (polyrpc_call_recv_message(s->call, NULL, NULL) != POLYRPC_OK) return NULL;
  if (polyrpc_call_take_message(s->call, &b, compressed) != POLYRPC_OK) return NULL;
  return b;
}

static int send_payload_message(served_t *s, pb_out_t *o, uint32_t flags) {
  polyrpc_buffer_t *b = take_buffer(o);
  polyrpc_error_t err;
  send_initial(s);
  err = polyrpc_call_send_message(s->call, b, flags, NULL, NULL);
  polyrpc_buffer_destroy(b);
  return err == POLYRPC_OK;
}

/* Sleeps unless the call ends first; 0 when the call is gone. */
static int sleep_us(served_t *s, long us) {
  struct timespec ts;
  while (us > 0) {
    long step = us > 10000 ? 10000 : us;
    int cancelled = 0;
    if (polyrpc_call_is_cancelled(s->call, &cancelled) == POLYRPC_OK && cancelled) return 0;
    ts.tv_sec = 0;
    ts.tv_nsec = step * 1000;
    nanosleep(&ts, NULL);
    us -= step;
  }
  return 1;
}

static void unary_call(served_t *s, int empty) {
  int compressed = 0;
  const uint8_t *data;
  size_t len;
  simple_request_t req;
  simple_response_t resp;
  pb_out_t out = {0};
  uint32_t flags = 0;
  polyrpc_buffer_t *b = recv_buffer(s, &compressed);
  if (b == NULL) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "missing request");
    return;
  }
  if (empty) {
    polyrpc_buffer_destroy(b);
    send_payload_message(s, &out, 0); /* Empty: zero bytes */
    finish(s, 0, NULL);
    return;
  }
  polyrpc_buffer_data(b, &data, &len);
  if (decode_simple_request(data, len, &req) != 0) {
    polyrpc_buffer_destroy(b);
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "malformed SimpleRequest");
    return;
  }
  if (req.expect_compressed.present && req.expect_compressed.value && !compressed) {
    polyrpc_buffer_destroy(b);
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "expected a compressed request");
    return;
  }
  if (req.response_compressed.present) {
    if (req.response_compressed.value) {
      polyrpc_call_set_response_compression(s->call, "gzip");
    } else {
      flags = POLYRPC_WRITE_NO_COMPRESS;
    }
  }
  if (req.response_status.present && req.response_status.code != 0) {
    finish_echo_status(s, &req.response_status);
    polyrpc_buffer_destroy(b);
    return;
  }
  memset(&resp, 0, sizeof(resp));
  resp.has_payload = 1;
  resp.payload_size = (size_t)(req.response_size > 0 ? req.response_size : 0);
  polyrpc_buffer_destroy(b); /* req borrowed from it: not used below */
  encode_simple_response(&resp, &out);
  send_payload_message(s, &out, flags);
  finish(s, 0, NULL);
}

static void streaming_input_call(served_t *s) {
  int32_t total = 0;
  polyrpc_buffer_t *b;
  pb_out_t out = {0};
  int compressed = 0;
  send_initial(s);
  while ((b = recv_buffer(s, &compressed)) != NULL) {
    const uint8_t *data;
    size_t len;
    streaming_input_request_t req;
    polyrpc_buffer_data(b, &data, &len);
    if (decode_streaming_input_request(data, len, &req) != 0) {
      polyrpc_buffer_destroy(b);
      finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "malformed StreamingInputCallRequest");
      return;
    }
    if (req.expect_compressed.present && req.expect_compressed.value && !compressed) {
      polyrpc_buffer_destroy(b);
      finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "expected a compressed request");
      return;
    }
    total += (int32_t)req.payload_size;
    polyrpc_buffer_destroy(b);
  }
  encode_streaming_input_response(total, &out);
  send_payload_message(s, &out, 0);
  finish(s, 0, NULL);
}

/* Sends the responses a StreamingOutputCallRequest asks for; 0 if the call is gone. */
static int send_responses(served_t *s, const streaming_output_request_t *req, int any_compressed) {
  size_t i;
  for (i = 0; i < req->n_params; i++) {
    const response_parameters_t *p = &req->params[i];
    pb_out_t out = {0};
    uint32_t flags = 0;
    if (p->interval_us > 0 && !sleep_us(s, p->interval_us)) return 0;
    if (any_compressed && !(p->compressed.present && p->compressed.value)) {
      flags = POLYRPC_WRITE_NO_COMPRESS;
    }
    encode_streaming_output_response((size_t)(p->size > 0 ? p->size : 0), &out);
    if (!send_payload_message(s, &out, flags)) return 0;
    if (s->close_connection) {
      /* The server_closes_connection hook: drop the connection, no trailers. */
      polyrpc_call_close_connection_for_testing(s->call);
      /* Wait until the call is over (connection lost), so that releasing it below does not
       * cancel it first: an RST_STREAM would reach the client before the connection drops. */
      polyrpc_call_recv_close(s->call, NULL, NULL);
      return 0;
    }
  }
  return 1;
}

static int decode_output_request(served_t *s, polyrpc_buffer_t *b,
                                 streaming_output_request_t *req) {
  const uint8_t *data;
  size_t len;
  polyrpc_buffer_data(b, &data, &len);
  if (decode_streaming_output_request(data, len, req) != 0) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "malformed StreamingOutputCallRequest");
    return 0;
  }
  return 1;
}

static void streaming_output_call(served_t *s) {
  /* On the heap: the request holds up to PB_MAX_RESPONSE_PARAMETERS parameters. */
  streaming_output_request_t *req =
      (streaming_output_request_t *)malloc(sizeof(streaming_output_request_t));
  polyrpc_buffer_t *b = recv_buffer(s, NULL);
  size_t i;
  int any_compressed = 0;
  if (b == NULL || req == NULL) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "missing request");
    polyrpc_buffer_destroy(b);
    free(req);
    return;
  }
  if (!decode_output_request(s, b, req)) goto out;
  for (i = 0; i < req->n_params; i++) {
    if (req->params[i].compressed.present && req->params[i].compressed.value) any_compressed = 1;
  }
  if (any_compressed) polyrpc_call_set_response_compression(s->call, "gzip");
  if (!send_responses(s, req, any_compressed)) goto out;
  if (req->response_status.present && req->response_status.code != 0) {
    finish_echo_status(s, &req->response_status);
  } else {
    finish(s, 0, NULL);
  }
out:
  polyrpc_buffer_destroy(b);
  free(req);
}

static void full_duplex_call(served_t *s) {
  polyrpc_buffer_t *b;
  streaming_output_request_t *req =
      (streaming_output_request_t *)malloc(sizeof(streaming_output_request_t));
  if (req == NULL) abort();
  send_initial(s);
  while ((b = recv_buffer(s, NULL)) != NULL) {
    if (!decode_output_request(s, b, req)) {
      polyrpc_buffer_destroy(b);
      free(req);
      return;
    }
    if (req->response_status.present && req->response_status.code != 0) {
      finish_echo_status(s, &req->response_status);
      polyrpc_buffer_destroy(b);
      free(req);
      return;
    }
    if (!send_responses(s, req, 0)) {
      polyrpc_buffer_destroy(b);
      free(req);
      return;
    }
    polyrpc_buffer_destroy(b);
  }
  finish(s, 0, NULL);
  free(req);
}

static void half_duplex_call(served_t *s) {
  polyrpc_buffer_t *bufs[256];
  size_t n = 0, i;
  int ok = 1;
  streaming_output_request_t *req =
      (streaming_output_request_t *)malloc(sizeof(streaming_output_request_t));
  if (req == NULL) abort();
  while (n < 256 && (bufs[n] = recv_buffer(s, NULL)) != NULL) n++;
  for (i = 0; i < n && ok; i++) {
    ok = decode_output_request(s, bufs[i], req) && send_responses(s, req, 0);
  }
  if (ok) finish(s, 0, NULL);
  for (i = 0; i < n; i++) polyrpc_buffer_destroy(bufs[i]);
  free(req);
}

static void *serve(void *arg) {
  served_t s;
  const char *method;
  const polyrpc_metadata_t *req_md;
  memset(&s, 0, sizeof(s));
  s.call = (polyrpc_call_t *)arg;
  method = polyrpc_call_method(s.call);
  req_md = polyrpc_call_request_metadata(s.call);
  if (polyrpc_metadata_create(&s.initial) != POLYRPC_OK ||
      polyrpc_metadata_create(&s.trailing) != POLYRPC_OK) {
    abort();
  }
  echo_entry(req_md, "x-grpc-test-echo-initial", s.initial);
  echo_entry(req_md, "x-grpc-test-echo-trailing-bin", s.trailing);
  if (md_is(req_md, "x-polyrpc-echo-deadline", "1")) {
    int64_t ms = -1;
    char text[32];
    polyrpc_call_time_remaining_ms(s.call, &ms);
    snprintf(text, sizeof(text), "%lld", (long long)ms);
    polyrpc_metadata_add(s.trailing, "x-polyrpc-time-remaining-ms", (const uint8_t *)text,
                         strlen(text));
  }
  s.close_connection = md_is(req_md, "x-polyrpc-close-connection", "1");

  if (strcmp(method, SERVICE "EmptyCall") == 0) {
    unary_call(&s, 1);
  } else if (strcmp(method, SERVICE "UnaryCall") == 0 ||
             strcmp(method, SERVICE "CacheableUnaryCall") == 0) {
    unary_call(&s, 0);
  } else if (strcmp(method, SERVICE "StreamingInputCall") == 0) {
    streaming_input_call(&s);
  } else if (strcmp(method, SERVICE "StreamingOutputCall") == 0) {
    streaming_output_call(&s);
  } else if (strcmp(method, SERVICE "FullDuplexCall") == 0) {
    full_duplex_call(&s);
  } else if (strcmp(method, SERVICE "HalfDuplexCall") == 0) {
    half_duplex_call(&s);
  } else {
    finish(&s, POLYRPC_STATUS_UNIMPLEMENTED, "");
  }
  polyrpc_metadata_destroy(s.initial);
  polyrpc_metadata_destroy(s.trailing);
  polyrpc_call_destroy(s.call);
  return NULL;
}

/* Waits for SIGTERM/SIGINT (blocked in every thread) and shuts the server down gracefully. */
static void *signal_waiter(void *arg) {
  sigset_t *set = (sigset_t *)arg;
  int sig = 0;
  sigwait(set, &sig);
  polyrpc_server_shutdown(g_server, 1000);
  return NULL;
}

int main(int argc, char **argv) {
  int port = 0, use_tls = 0, bound = 0;
  const char *cert_dir = default_cert_dir();
  flag_t flags[3];
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_error_t err;
  char address[64];
  static const char *const methods[] = {
      SERVICE "EmptyCall",          SERVICE "UnaryCall",      SERVICE "CacheableUnaryCall",
      SERVICE "StreamingInputCall", SERVICE "StreamingOutputCall", SERVICE "FullDuplexCall",
      SERVICE "HalfDuplexCall"};
  size_t i;
  sigset_t set;
  pthread_t sig_thread;
  pthread_attr_t detached;

  flags[0].name = "port";
  flags[0].type = FLAG_INT;
  flags[0].value = &port;
  flags[1].name = "use_tls";
  flags[1].type = FLAG_BOOL;
  flags[1].value = &use_tls;
  flags[2].name = "cert_dir";
  flags[2].type = FLAG_STRING;
  flags[2].value = &cert_dir;
  parse_flags(argc, argv, flags, 3);
  if (port <= 0) {
    fprintf(stderr, "--port=N is required\n");
    return 2;
  }

  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread, I/O threads included */

  if (use_tls) {
    char *cert = read_file_in(cert_dir, "server.pem");
    char *key = read_file_in(cert_dir, "server.key");
    if (cert == NULL || key == NULL) {
      fprintf(stderr, "cannot read server.pem/server.key in %s\n", cert_dir);
      return 1;
    }
    err = polyrpc_server_credentials_create_tls(cert, key, NULL, 0, &creds);
    free(cert);
    free(key);
  } else {
    err = polyrpc_server_credentials_create_insecure(&creds);
  }
  if (err != POLYRPC_OK) die("server credentials", err);
  if ((err = polyrpc_server_create(NULL, &g_server)) != POLYRPC_OK) die("polyrpc_server_create", err);
  snprintf(address, sizeof(address), "[::]:%d", port);
  err = polyrpc_server_add_listener(g_server, address, creds, &bound);
  if (err != POLYRPC_OK) {
    /* No IPv6 on this machine: IPv4 only. */
    snprintf(address, sizeof(address), "0.0.0.0:%d", port);
    err = polyrpc_server_add_listener(g_server, address, creds, &bound);
  }
  if (err != POLYRPC_OK) die("polyrpc_server_add_listener", err);
  polyrpc_server_credentials_destroy(creds);
  for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    if ((err = polyrpc_server_register_method(g_server, methods[i])) != POLYRPC_OK) {
      die("polyrpc_server_register_method", err);
    }
  }
  if ((err = polyrpc_server_start(g_server)) != POLYRPC_OK) die("polyrpc_server_start", err);
  fprintf(stderr, "polyrpc C interop server listening on %s (tls=%d)\n", address, use_tls);
  pthread_create(&sig_thread, NULL, signal_waiter, &set);

  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  for (;;) {
    polyrpc_call_t *call = NULL;
    pthread_t t;
    /* Blocking: returns CLOSED once the signal thread shut the server down. */
    if (polyrpc_server_request_call(g_server, &call, NULL, NULL) != POLYRPC_OK) break;
    if (pthread_create(&t, &detached, serve, call) != 0) {
      polyrpc_call_cancel(call);
      polyrpc_call_destroy(call);
    }
  }
  pthread_join(sig_thread, NULL);
  polyrpc_server_destroy(g_server);
  return 0;
}
