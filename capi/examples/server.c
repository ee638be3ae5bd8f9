/* A complete polyrpc server in C: serves "/example.Greeter/SayHello", which answers a request
 * carrying a name with "hello, <name>". Messages are raw bytes here; a real service would put
 * protobuf (or anything else) in them.
 *
 * Usage: example_server [PORT [MAX_CALLS]]  (PORT 0 picks a free port; MAX_CALLS 0 = forever)
 * It prints "listening on port N" once ready.
 *
 * Style: blocking. One thread asks for calls with polyrpc_server_request_call(cq = NULL) and
 * handles each with blocking operations. A busier server would hand calls to worker threads or
 * drive them from a completion queue (see docs/c-api.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <polyrpc/polyrpc.h>

static int check(polyrpc_error_t err, const char *what) {
  if (err != POLYRPC_OK) {
    /* The message belongs to this thread and is valid until its next polyrpc call. */
    fprintf(stderr, "%s: %s (%s)\n", what, polyrpc_last_error(), polyrpc_error_name(err));
    exit(1);
  }
  return 0;
}

static void handle(polyrpc_call_t *call) {
  polyrpc_buffer_t *request = NULL, *reply = NULL;
  const uint8_t *name;
  size_t name_len;
  char text[256];

  /* Blocking receive: POLYRPC_OK with a message, POLYRPC_ERROR_CLOSED if the client sent none. */
  if (polyrpc_call_recv_message(call, NULL, NULL) != POLYRPC_OK) {
    polyrpc_call_send_status(call, POLYRPC_STATUS_INVALID_ARGUMENT, "no request", NULL, NULL,
                             NULL);
    return;
  }
  check(polyrpc_call_take_message(call, &request, NULL), "take_message");
  /* The received bytes are borrowed in place, without a copy, until the buffer is destroyed. */
  check(polyrpc_buffer_data(request, &name, &name_len), "buffer_data");
  snprintf(text, sizeof(text), "hello, %.*s", (int)name_len, (const char *)name);
  polyrpc_buffer_destroy(request);

  check(polyrpc_buffer_create_copy((const uint8_t *)text, strlen(text), &reply), "buffer");
  /* The call takes its own reference to the buffer; ours is released right away. */
  if (polyrpc_call_send_message(call, reply, 0, NULL, NULL) == POLYRPC_OK) {
    polyrpc_call_send_status(call, POLYRPC_STATUS_OK, NULL, NULL, NULL, NULL);
  }
  polyrpc_buffer_destroy(reply);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 50051;
  int max_calls = argc > 2 ? atoi(argv[2]) : 0;
  int served = 0;
  char address[64];
  polyrpc_server_t *server = NULL;
  polyrpc_server_credentials_t *creds = NULL;

  check(polyrpc_server_create(NULL, &server), "server_create");
  check(polyrpc_server_credentials_create_insecure(&creds), "credentials");
  snprintf(address, sizeof(address), "127.0.0.1:%d", port);
  check(polyrpc_server_add_listener(server, address, creds, &port), "add_listener");
  polyrpc_server_credentials_destroy(creds); /* the server keeps its own copy */
  check(polyrpc_server_register_method(server, "/example.Greeter/SayHello"), "register_method");
  check(polyrpc_server_start(server), "start");
  printf("listening on port %d\n", port);
  fflush(stdout);

  while (max_calls == 0 || served < max_calls) {
    polyrpc_call_t *call = NULL;
    /* Blocks until a call arrives; POLYRPC_ERROR_CLOSED once the server is shut down. */
    if (polyrpc_server_request_call(server, &call, NULL, NULL) != POLYRPC_OK) break;
    handle(call);
    polyrpc_call_destroy(call);
    served++;
  }
  check(polyrpc_server_shutdown(server, 1000), "shutdown");
  polyrpc_server_destroy(server);
  return 0;
}
