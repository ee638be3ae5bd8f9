/* TLS and mutual TLS with the test PKI of tools/gen-test-certs.sh. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

static char *g_ca, *g_server_cert, *g_server_key, *g_client_cert, *g_client_key;

/* Makes one unary call over a channel with the given credentials; returns the status code. */
static int unary_over(int port, const polyrpc_channel_credentials_t *creds,
                      const char *name_override) {
  char target[64];
  polyrpc_options_t *opts = NULL;
  polyrpc_channel_t *ch = NULL;
  polyrpc_call_t *call = NULL;
  polyrpc_buffer_t *req = buf_str("secret"), *resp = NULL;
  int code = -1;
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  CHECK_OK(polyrpc_options_create(&opts));
  if (name_override) {
    CHECK_OK(polyrpc_options_set_string(opts, "grpc.ssl_target_name_override", name_override));
  }
  CHECK_OK(polyrpc_channel_create(target, creds, opts, &ch));
  polyrpc_options_destroy(opts);
  CHECK_OK(polyrpc_call_create(ch, "/test.Echo/Unary", 5000, NULL, 0, &call));
  CHECK_OK(polyrpc_call_unary(call, req, &resp));
  CHECK_OK(polyrpc_call_status(call, &code, NULL));
  if (code == 0) CHECK(buf_eq(resp, "secret"));
  polyrpc_buffer_destroy(resp);
  polyrpc_buffer_destroy(req);
  polyrpc_call_destroy(call);
  polyrpc_channel_destroy(ch);
  return code;
}

static void test_tls(void) {
  polyrpc_server_credentials_t *sc = NULL;
  polyrpc_channel_credentials_t *cc = NULL;
  test_server_t *s;
  int port = 0;
  CHECK_OK(polyrpc_server_credentials_create_tls(g_server_cert, g_server_key, NULL, 0, &sc));
  s = test_server_start(sc, &port);
  polyrpc_server_credentials_destroy(sc);

  CHECK_OK(polyrpc_channel_credentials_create_tls(g_ca, NULL, NULL, &cc));
  CHECK(unary_over(port, cc, "foo.test.google.fr") == POLYRPC_STATUS_OK);
  CHECK(unary_over(port, cc, NULL) == POLYRPC_STATUS_OK); /* SAN has 127.0.0.1 */
  /* The certificate is not valid for this name. */
  CHECK(unary_over(port, cc, "wrong.example.com") == POLYRPC_STATUS_UNAVAILABLE);
  polyrpc_channel_credentials_destroy(cc);

  /* The test CA is not among the system roots. */
  CHECK_OK(polyrpc_channel_credentials_create_tls(NULL, NULL, NULL, &cc));
  CHECK(unary_over(port, cc, "foo.test.google.fr") == POLYRPC_STATUS_UNAVAILABLE);
  polyrpc_channel_credentials_destroy(cc);

  /* Plaintext against a TLS port. */
  CHECK_OK(polyrpc_channel_credentials_create_insecure(&cc));
  CHECK(unary_over(port, cc, NULL) == POLYRPC_STATUS_UNAVAILABLE);
  polyrpc_channel_credentials_destroy(cc);
  test_server_stop(s);
}

static void test_mutual_tls(void) {
  polyrpc_server_credentials_t *sc = NULL;
  polyrpc_channel_credentials_t *cc = NULL;
  test_server_t *s;
  int port = 0;
  CHECK_OK(polyrpc_server_credentials_create_tls(g_server_cert, g_server_key, g_ca, 1, &sc));
  s = test_server_start(sc, &port);
  polyrpc_server_credentials_destroy(sc);

  CHECK_OK(polyrpc_channel_credentials_create_tls(g_ca, g_client_cert, g_client_key, &cc));
  CHECK(unary_over(port, cc, "foo.test.google.fr") == POLYRPC_STATUS_OK);
  polyrpc_channel_credentials_destroy(cc);

  /* No client certificate: refused. */
  CHECK_OK(polyrpc_channel_credentials_create_tls(g_ca, NULL, NULL, &cc));
  CHECK(unary_over(port, cc, "foo.test.google.fr") == POLYRPC_STATUS_UNAVAILABLE);
  polyrpc_channel_credentials_destroy(cc);
  test_server_stop(s);
}

int main(int argc, char **argv) {
  static const test_case_t cases[] = {
      {"tls", test_tls},
      {"mutual_tls", test_mutual_tls},
  };
  int rc;
  g_ca = read_cert("ca.pem");
  g_server_cert = read_cert("server.pem");
  g_server_key = read_cert("server.key");
  g_client_cert = read_cert("client.pem");
  g_client_key = read_cert("client.key");
  rc = run_tests(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
  free(g_ca);
  free(g_server_cert);
  free(g_server_key);
  free(g_client_cert);
  free(g_client_key);
  return rc;
}
