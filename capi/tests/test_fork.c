/* fork(): the parent's objects are closed in the child; new ones work (docs/c-api.md). */
#define _POSIX_C_SOURCE 200809L
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static int unary_ok(polyrpc_channel_t *ch) {
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = buf_str("fork"), *resp = NULL;
  int code = -1;
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Unary", 5000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  CHECK(code != 0 || buf_eq(resp, "fork"));
  polyrpc_buffer_destroy(resp);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  return code == 0;
}

static void child(int port, polyrpc_channel_t *parent_ch, polyrpc_call_t *parent_call) {
  polyrpc_call_t *call = NULL;
  polyrpc_connectivity_state_t st;
  polyrpc_channel_t *ch;
  /* The parent's objects are closed here, detected, not undefined behaviour. */
  CHECK_ERR(polyrpc_call_create(parent_ch, "/test.Echo/Unary", 1000, NULL, 0, &call),
            POLYRPC_ERROR_CLOSED);
  CHECK(strstr(polyrpc_last_error(), "fork") != NULL);
  CHECK_ERR(polyrpc_channel_get_state(parent_ch, 0, &st), POLYRPC_ERROR_CLOSED);
  CHECK_ERR(polyrpc_call_cancel(parent_call), POLYRPC_ERROR_CLOSED);
  /* Releasing them is allowed (their core objects are kept, not torn down). */
  polyrpc_call_destroy(parent_call);
  polyrpc_channel_destroy(parent_ch);
  /* A new channel in the child works. */
  ch = test_channel(port);
  CHECK(unary_ok(ch));
  /* A child's exit hook may stop the library: it ends the child's own objects only (the parent's
   * server, listener and channel are copies whose I/O threads do not exist here; touching them
   * hung the Ruby gem's at_exit), and does so promptly. */
  {
    long long t0 = now_ms();
    CHECK_OK(polyrpc_shutdown(1000));
    CHECK(now_ms() - t0 < 1500);
  }
  polyrpc_channel_destroy(ch);
}

static void test_fork(void) {
  int port = 0, status = 0;
  test_server_t *s = test_server_start(NULL, &port);
  polyrpc_channel_t *ch = test_channel(port);
  polyrpc_call_t *pending = NULL;
  pid_t pid;
  CHECK(unary_ok(ch)); /* the parent's runtime is up and running */
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Bidi", 10000, NULL, 0, &pending));
  CHECK_OK(polyrpc_call_start(pending, NULL, NULL));
  fflush(NULL);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    child(port, ch, pending);
    /* _exit: the parent's objects' destructors must not run in the child. */
    _exit(0);
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* The parent is unaffected. */
  CHECK(unary_ok(ch));
  polyrpc_call_destroy(pending);
  polyrpc_channel_destroy(ch);
  test_server_stop(s);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {{"fork", test_fork}};
  return run_tests(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
