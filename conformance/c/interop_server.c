/* polyrpc_c_interop_server: grpc.testing.TestService on the polyrpc C API, in C99, with the
 * grpc.testing messages of protobuf-c (protoc-c output, generated at build time).
 *
 * Usage: polyrpc_c_interop_server --port=N [--use_tls=true] [--cert_dir=DIR] [--bind=ADDRESS]
 *                                 [--server_id=ID]
 * Listens on 127.0.0.1 unless --bind names another address ("::" or "0.0.0.0": every
 * interface). Answers fill_server_id with server_id and the machine's hostname, as grpc-go's
 * interop server does.
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
#include <unistd.h>

#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/messages.pb-c.h"
#include "interop_common.h"
#include "polyrpc/polyrpc.h"

#define SERVICE "/grpc.testing.TestService/"

static polyrpc_server_t *g_server;

static void die(const char *what, polyrpc_error_t err) {
  fprintf(stderr, "%s: %s: %s\n", what, polyrpc_error_name(err), polyrpc_last_error());
  exit(1);
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

static void finish_echo_status(served_t *s, const Grpc__Testing__EchoStatus *st) {
  finish(s, st->code, st->message ? st->message : "");
}

/* Receives one message; NULL at the end of the stream. */
static polyrpc_buffer_t *recv_buffer(served_t *s, int *compressed) {
  polyrpc_buffer_t *b = NULL;
  if (polyrpc_call_recv_message(s->call, NULL, NULL) != POLYRPC_OK) return NULL;
  if (polyrpc_call_take_message(s->call, &b, compressed) != POLYRPC_OK) return NULL;
  return b;
}

/* Packs m and sends it (after the initial metadata); 0 if the call is gone. */
static int send_message(served_t *s, const ProtobufCMessage *m, uint32_t flags) {
  polyrpc_buffer_t *b = NULL;
  polyrpc_error_t err = pack_message(m, &b);
  if (err != POLYRPC_OK) die("pack_message", err);
  send_initial(s);
  err = polyrpc_call_send_message(s->call, b, flags, NULL, NULL);
  polyrpc_buffer_destroy(b);
  return err == POLYRPC_OK;
}

/* A Payload of size zero bytes; free its body with free(). */
static void zero_payload(Grpc__Testing__Payload *p, int32_t size) {
  size_t n = (size_t)(size > 0 ? size : 0);
  grpc__testing__payload__init(p);
  p->body.data = alloc_zeros(n);
  if (p->body.data == NULL) abort();
  p->body.len = n;
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

static void empty_call(served_t *s) {
  Grpc__Testing__Empty reply = GRPC__TESTING__EMPTY__INIT;
  polyrpc_buffer_t *b = recv_buffer(s, NULL);
  int missing = b == NULL;
  ProtobufCMessage *req = unpack_message(&grpc__testing__empty__descriptor, b);
  polyrpc_buffer_destroy(b);
  if (req == NULL) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, missing ? "missing request" : "malformed Empty");
    return;
  }
  protobuf_c_message_free_unpacked(req, NULL);
  send_message(s, &reply.base, 0);
  finish(s, 0, NULL);
}

static const char *g_server_id = "polyrpc-c";
static char g_hostname[256];

static void unary_call(served_t *s) {
  int compressed = 0;
  Grpc__Testing__SimpleRequest *req;
  Grpc__Testing__SimpleResponse resp = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
  Grpc__Testing__Payload payload;
  uint32_t flags = 0;
  polyrpc_buffer_t *b = recv_buffer(s, &compressed);
  if (b == NULL) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "missing request");
    return;
  }
  req =
      (Grpc__Testing__SimpleRequest *)unpack_message(&grpc__testing__simple_request__descriptor, b);
  polyrpc_buffer_destroy(b);
  if (req == NULL) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "malformed SimpleRequest");
    return;
  }
  if (req->expect_compressed && req->expect_compressed->value && !compressed) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "expected a compressed request");
  } else if (req->response_status && req->response_status->code != 0) {
    finish_echo_status(s, req->response_status);
  } else {
    if (req->response_compressed) {
      if (req->response_compressed->value) {
        polyrpc_call_set_response_compression(s->call, "gzip");
      } else {
        flags = POLYRPC_WRITE_NO_COMPRESS;
      }
    }
    zero_payload(&payload, req->response_size);
    resp.payload = &payload;
    if (req->fill_server_id) {
      resp.server_id = (char *)g_server_id;
      resp.hostname = g_hostname;
    }
    send_message(s, &resp.base, flags);
    free(payload.body.data);
    finish(s, 0, NULL);
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void streaming_input_call(served_t *s) {
  Grpc__Testing__StreamingInputCallResponse resp =
      GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
  polyrpc_buffer_t *b;
  int compressed = 0;
  send_initial(s);
  while ((b = recv_buffer(s, &compressed)) != NULL) {
    Grpc__Testing__StreamingInputCallRequest *req =
        (Grpc__Testing__StreamingInputCallRequest *)unpack_message(
            &grpc__testing__streaming_input_call_request__descriptor, b);
    polyrpc_buffer_destroy(b);
    if (req == NULL) {
      finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "malformed StreamingInputCallRequest");
      return;
    }
    if (req->expect_compressed && req->expect_compressed->value && !compressed) {
      protobuf_c_message_free_unpacked(&req->base, NULL);
      finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "expected a compressed request");
      return;
    }
    resp.aggregated_payload_size += req->payload ? (int32_t)req->payload->body.len : 0;
    protobuf_c_message_free_unpacked(&req->base, NULL);
  }
  send_message(s, &resp.base, 0);
  finish(s, 0, NULL);
}

/* Sends the responses a StreamingOutputCallRequest asks for; 0 if the call is gone. */
static int send_responses(served_t *s, const Grpc__Testing__StreamingOutputCallRequest *req,
                          int any_compressed) {
  size_t i;
  for (i = 0; i < req->n_response_parameters; i++) {
    const Grpc__Testing__ResponseParameters *p = req->response_parameters[i];
    Grpc__Testing__StreamingOutputCallResponse resp =
        GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
    Grpc__Testing__Payload payload;
    uint32_t flags = 0;
    int sent;
    if (p->interval_us > 0 && !sleep_us(s, p->interval_us)) return 0;
    if (any_compressed && !(p->compressed && p->compressed->value)) {
      flags = POLYRPC_WRITE_NO_COMPRESS;
    }
    zero_payload(&payload, p->size);
    resp.payload = &payload;
    sent = send_message(s, &resp.base, flags);
    free(payload.body.data);
    if (!sent) return 0;
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

/* Unpacks (and releases) b; NULL after answering INVALID_ARGUMENT if it is malformed. */
static Grpc__Testing__StreamingOutputCallRequest *output_request(served_t *s, polyrpc_buffer_t *b) {
  Grpc__Testing__StreamingOutputCallRequest *req =
      (Grpc__Testing__StreamingOutputCallRequest *)unpack_message(
          &grpc__testing__streaming_output_call_request__descriptor, b);
  polyrpc_buffer_destroy(b);
  if (req == NULL)
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "malformed StreamingOutputCallRequest");
  return req;
}

static void streaming_output_call(served_t *s) {
  polyrpc_buffer_t *b = recv_buffer(s, NULL);
  Grpc__Testing__StreamingOutputCallRequest *req;
  size_t i;
  int any_compressed = 0;
  if (b == NULL) {
    finish(s, POLYRPC_STATUS_INVALID_ARGUMENT, "missing request");
    return;
  }
  if ((req = output_request(s, b)) == NULL) return;
  for (i = 0; i < req->n_response_parameters; i++) {
    const Grpc__Testing__BoolValue *c = req->response_parameters[i]->compressed;
    if (c && c->value) any_compressed = 1;
  }
  if (any_compressed) polyrpc_call_set_response_compression(s->call, "gzip");
  if (send_responses(s, req, any_compressed)) {
    if (req->response_status && req->response_status->code != 0) {
      finish_echo_status(s, req->response_status);
    } else {
      finish(s, 0, NULL);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void full_duplex_call(served_t *s) {
  polyrpc_buffer_t *b;
  send_initial(s);
  while ((b = recv_buffer(s, NULL)) != NULL) {
    Grpc__Testing__StreamingOutputCallRequest *req = output_request(s, b);
    int go_on;
    if (req == NULL) return;
    if (req->response_status && req->response_status->code != 0) {
      finish_echo_status(s, req->response_status);
      go_on = 0;
    } else {
      go_on = send_responses(s, req, 0);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (!go_on) return;
  }
  finish(s, 0, NULL);
}

static void half_duplex_call(served_t *s) {
  polyrpc_buffer_t *bufs[256];
  size_t n = 0, i;
  int ok = 1;
  while (n < 256 && (bufs[n] = recv_buffer(s, NULL)) != NULL) n++;
  for (i = 0; i < n; i++) {
    Grpc__Testing__StreamingOutputCallRequest *req;
    if (!ok) {
      polyrpc_buffer_destroy(bufs[i]);
      continue;
    }
    req = output_request(s, bufs[i]); /* releases bufs[i] */
    ok = req != NULL && send_responses(s, req, 0);
    if (req) protobuf_c_message_free_unpacked(&req->base, NULL);
  }
  if (ok) finish(s, 0, NULL);
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
    empty_call(&s);
  } else if (strcmp(method, SERVICE "UnaryCall") == 0 ||
             strcmp(method, SERVICE "CacheableUnaryCall") == 0) {
    unary_call(&s);
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
  const char *bind = "127.0.0.1";
  flag_t flags[5];
  polyrpc_server_credentials_t *creds = NULL;
  polyrpc_error_t err;
  char address[128];
  static const char *const methods[] = {SERVICE "EmptyCall",           SERVICE "UnaryCall",
                                        SERVICE "CacheableUnaryCall",  SERVICE "StreamingInputCall",
                                        SERVICE "StreamingOutputCall", SERVICE "FullDuplexCall",
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
  flags[3].name = "bind";
  flags[3].type = FLAG_STRING;
  flags[3].value = &bind;
  flags[4].name = "server_id";
  flags[4].type = FLAG_STRING;
  flags[4].value = &g_server_id;
  parse_flags(argc, argv, flags, 5);
  if (gethostname(g_hostname, sizeof(g_hostname) - 1) != 0) g_hostname[0] = '\0';
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
  if ((err = polyrpc_server_create(NULL, &g_server)) != POLYRPC_OK)
    die("polyrpc_server_create", err);
  snprintf(address, sizeof(address), strchr(bind, ':') != NULL ? "[%s]:%d" : "%s:%d", bind, port);
  err = polyrpc_server_add_listener(g_server, address, creds, &bound);
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
