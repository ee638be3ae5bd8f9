/* A complete polyrpc client in C: calls "/example.Greeter/SayHello" (see server.c) twice, once
 * with the blocking unary helper and once through a completion queue, the event-loop style.
 *
 * Usage: example_client [TARGET [NAME]]   (default localhost:50051, "world") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <polyrpc/polyrpc.h>

static void check(polyrpc_error_t err, const char *what) {
  if (err != POLYRPC_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, polyrpc_last_error(), polyrpc_error_name(err));
    exit(1);
  }
}

/* Prints the reply of a finished call; returns its gRPC status code. */
static int report(polyrpc_call_t *call, const polyrpc_buffer_t *reply) {
  int code = 0;
  const char *message = NULL;
  check(polyrpc_call_status(call, &code, &message), "status");
  if (code == POLYRPC_STATUS_OK) {
    const uint8_t *data;
    size_t len;
    check(polyrpc_buffer_data(reply, &data, &len), "buffer_data");
    printf("%.*s\n", (int)len, (const char *)data);
  } else {
    fprintf(stderr, "call failed: %s: %s\n", polyrpc_status_code_name(code), message);
  }
  return code;
}

int main(int argc, char **argv) {
  const char *target = argc > 1 ? argv[1] : "localhost:50051";
  const char *name = argc > 2 ? argv[2] : "world";
  polyrpc_channel_credentials_t *creds = NULL;
  polyrpc_channel_t *channel = NULL;
  polyrpc_buffer_t *request = NULL, *reply = NULL;
  polyrpc_call_t *call = NULL;
  polyrpc_cq_t *cq = NULL;
  polyrpc_event_t event;
  int code, pending;

  check(polyrpc_channel_credentials_create_insecure(&creds), "credentials");
  check(polyrpc_channel_create(target, creds, NULL, &channel), "channel_create");
  polyrpc_channel_credentials_destroy(creds);
  /* The request wraps our bytes without copying; name outlives the calls, so no free_fn. */
  check(polyrpc_buffer_create_wrap((const uint8_t *)name, strlen(name), NULL, NULL, &request),
        "buffer");

  /* 1. Blocking: one function sends, half-closes and waits for the reply and the status.
   *    A gRPC error is not an API error: polyrpc_call_unary returns OK and the status says. */
  check(polyrpc_call_create(channel, "/example.Greeter/SayHello", 5000, NULL, 0, &call), "call");
  check(polyrpc_call_unary(call, request, &reply), "unary");
  code = report(call, reply);
  polyrpc_buffer_destroy(reply);
  polyrpc_call_destroy(call);
  if (code != POLYRPC_STATUS_OK) return 1;

  /* 2. Completion queue: start three operations, each completing once with its tag. An event
   *    loop would watch polyrpc_cq_fd() and drain with a zero timeout; here we just wait. */
  check(polyrpc_cq_create(&cq), "cq_create");
  check(polyrpc_call_create(channel, "/example.Greeter/SayHello", 5000, NULL, 0, &call), "call");
  check(polyrpc_call_send_message(call, request, POLYRPC_WRITE_LAST, cq, (void *)"send"), "send");
  check(polyrpc_call_recv_message(call, cq, (void *)"recv"), "recv");
  check(polyrpc_call_recv_status(call, cq, (void *)"status"), "recv_status");
  for (pending = 3; pending > 0; pending--) {
    event.struct_size = sizeof(event);
    check(polyrpc_cq_next(cq, -1, &event), "cq_next");
    if (strcmp((const char *)event.tag, "recv") == 0 && event.success) {
      check(polyrpc_call_take_message(call, &reply, NULL), "take_message");
    }
  }
  code = report(call, reply);
  polyrpc_buffer_destroy(reply);
  polyrpc_call_destroy(call);
  polyrpc_cq_destroy(cq);

  polyrpc_buffer_destroy(request);
  polyrpc_channel_destroy(channel);
  return code == POLYRPC_STATUS_OK ? 0 : 1;
}
