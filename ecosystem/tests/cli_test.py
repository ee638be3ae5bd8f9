#!/usr/bin/env python3
"""The polyrpc command-line tool (BUILD/cli/polyrpc) against a polyrpc server
(polyrpc_demo_server, plaintext and TLS) and a real gRPC server (grpc++ 1.51 with its reflection
plugin, which serves v1alpha only: capi_dynamic_test_server): list, describe, the four kinds of
call with JSON lines, metadata, deadlines, exit statuses, --proto/-I and --protoset, bench.

Usage: cli_test.py. Environment (set by ctest): POLYRPC_CLI, POLYRPC_DEMO_SERVER,
POLYRPC_GRPCXX_SERVER, POLYRPC_BUILD_DIR."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from services_test import BUILD, CERTS, DemoServer  # noqa: E402

CLI = os.environ.get("POLYRPC_CLI", os.path.join(BUILD, "cli/polyrpc"))
GRPCXX = os.environ.get("POLYRPC_GRPCXX_SERVER",
                        os.path.join(BUILD, "capi/tests/capi_dynamic_test_server"))
PROTO_ROOT = "/usr/share/grpc-proto"


def cli(*args, stdin=None, timeout=60):
    return subprocess.run([CLI] + list(args), input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class GrpcxxServer:
    def __init__(self):
        self.proc = subprocess.Popen([GRPCXX], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        self.address = "127.0.0.1:%d" % int(line.split()[-1])

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.demo = DemoServer()
        cls.tls = DemoServer(tls=True, server_id="tls")
        cls.grpcxx = GrpcxxServer()

    @classmethod
    def tearDownClass(cls):
        cls.demo.stop()
        cls.tls.stop()
        cls.grpcxx.stop()

    def ok(self, *args, stdin=None):
        r = cli(*args, stdin=stdin)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_list(self):
        self.assertEqual(self.ok("list", self.demo.address).split(),
                         ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection",
                          "grpc.testing.TestService"])
        methods = self.ok("list", self.demo.address, "grpc.testing.TestService").split()
        self.assertIn("grpc.testing.TestService.FullDuplexCall", methods)
        # grpc++: v1alpha only (the tool falls back).
        self.assertIn("grpc.testing.TestService", self.ok("list", self.grpcxx.address).split())

    def test_describe(self):
        out = self.ok("describe", self.demo.address, "grpc.testing.TestService")
        self.assertIn("grpc.testing.TestService is a service:", out)
        self.assertIn("rpc StreamingInputCall(stream .grpc.testing.StreamingInputCallRequest) "
                      "returns (.grpc.testing.StreamingInputCallResponse);", out)
        out = self.ok("describe", self.demo.address, "grpc.testing.SimpleRequest")
        self.assertIn("message SimpleRequest {", out)
        out = self.ok("describe", self.grpcxx.address, "grpc.testing.TestService/UnaryCall")
        self.assertIn("is a method:", out)
        out = self.ok("describe", self.demo.address)  # every service
        self.assertIn("grpc.health.v1.Health is a service:", out)
        r = cli("describe", self.demo.address, "no.Such")
        self.assertEqual(r.returncode, 65)
        self.assertIn("no.Such", r.stderr)

    def test_unary(self):
        for server, sid in ((self.demo, "demo"), (self.grpcxx, None)):
            reply = lines(self.ok("call", server.address, "grpc.testing.TestService/UnaryCall",
                                  '{"responseSize": 3}'))
            self.assertEqual(len(reply), 1)
            self.assertEqual(len(reply[0]["payload"]["body"]), 4)  # base64 of 3 bytes
            if sid:
                self.assertEqual(reply[0]["serverId"], sid)
        # The request from stdin, the method in grpcurl's spelling, proto names on output.
        out = self.ok("--proto-names", "call", self.demo.address,
                      "grpc.testing.TestService.UnaryCall", "-", stdin='{"response_size": 1}\n')
        self.assertEqual(lines(out)[0]["server_id"], "demo")

    def test_streams_as_json_lines(self):
        for server in (self.demo, self.grpcxx):
            out = self.ok("call", server.address, "grpc.testing.TestService/StreamingOutputCall",
                          '{"responseParameters": [{"size": 1}, {"size": 2}, {"size": 3}]}')
            self.assertEqual(len(lines(out)), 3)
            out = self.ok("call", server.address, "grpc.testing.TestService/StreamingInputCall",
                          stdin='{"payload": {"body": "AAAA"}}\n{"payload": {"body": "AA=="}}\n')
            self.assertEqual(lines(out), [{"aggregatedPayloadSize": 4}])
            out = self.ok("call", server.address, "grpc.testing.TestService/FullDuplexCall",
                          stdin='{"responseParameters": [{"size": 1}]}\n'
                                '{"responseParameters": [{"size": 2}, {"size": 2}]}\n')
            self.assertEqual(len(lines(out)), 3)

    def test_exit_status_is_the_grpc_status(self):
        for server in (self.demo, self.grpcxx):
            r = cli("call", server.address, "grpc.testing.TestService/UnaryCall",
                    '{"responseStatus": {"code": 7, "message": "nope"}}')
            self.assertEqual(r.returncode, 7, r.stderr)
            self.assertIn("PERMISSION_DENIED", r.stderr)
            self.assertIn("nope", r.stderr)
        r = cli("call", self.demo.address, "grpc.testing.TestService/UnimplementedCall", "{}")
        self.assertEqual(r.returncode, 12)
        r = cli("call", "127.0.0.1:1", "grpc.testing.TestService/UnaryCall", "{}")
        self.assertEqual(r.returncode, 14, r.stderr)  # nothing listens: UNAVAILABLE
        r = cli("call", self.demo.address, "grpc.testing.TestService/UnaryCall", '{"nope": 1}')
        self.assertEqual(r.returncode, 65)
        self.assertIn("nope", r.stderr)
        r = cli("frobnicate")
        self.assertEqual(r.returncode, 64)

    def test_deadline(self):
        r = cli("--deadline", "100ms", "call", self.demo.address,
                "grpc.testing.TestService/StreamingOutputCall",
                '{"responseParameters": [{"size": 1, "intervalUs": 2000000}]}')
        self.assertEqual(r.returncode, 4, r.stderr)  # DEADLINE_EXCEEDED

    def test_metadata_and_verbose(self):
        r = cli("-v", "-H", "x-user: someone", "call", self.demo.address,
                "grpc.testing.TestService/EmptyCall", "{}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(lines(r.stdout), [{}])
        self.assertIn("x-server-id: demo", r.stderr)  # the server's initial metadata
        self.assertIn("response trailers", r.stderr)

    def test_tls(self):
        ca = os.path.join(CERTS, "ca.pem")
        out = self.ok("--cacert", ca, "call", self.tls.address,
                      "grpc.testing.TestService/UnaryCall", "{}")
        self.assertEqual(lines(out)[0]["serverId"], "tls")
        self.assertIn("grpc.testing.TestService", self.ok("--cacert", ca, "list",
                                                          self.tls.address))
        # The server's certificate names localhost, not foo.example.
        r = cli("--cacert", ca, "--servername", "foo.example", "list", self.tls.address)
        self.assertNotEqual(r.returncode, 0)
        # Client certificates are sent when given (the server does not ask for them here).
        out = self.ok("--cacert", ca, "--cert", os.path.join(CERTS, "client.pem"),
                      "--key", os.path.join(CERTS, "client.key"), "call", self.tls.address,
                      "grpc.testing.TestService/EmptyCall")
        self.assertEqual(lines(out), [{}])

    def test_proto_files_without_reflection(self):
        base = ["--proto", "grpc/testing/test.proto", "-I", PROTO_ROOT]
        listed = self.ok(*base, "list", self.demo.address).split()
        # From the file, not from the server: services it does not serve are there too.
        self.assertIn("grpc.testing.TestService", listed)
        self.assertIn("grpc.testing.ReconnectService", listed)
        out = self.ok(*base, "call", self.demo.address, "grpc.testing.TestService/UnaryCall",
                      '{"responseSize": 1}')
        self.assertEqual(lines(out)[0]["serverId"], "demo")
        with tempfile.NamedTemporaryFile(suffix=".fds") as f:
            subprocess.run(["protoc", "-I" + PROTO_ROOT, "--include_imports",
                            "--descriptor_set_out=" + f.name, "grpc/testing/test.proto"],
                           check=True)
            out = self.ok("--protoset", f.name, "describe", self.demo.address,
                          "grpc.testing.Payload")
            self.assertIn("bytes body = 2;", out)
        r = cli("--proto", "no/such.proto", "list", self.demo.address)
        self.assertEqual(r.returncode, 65)

    def test_bench(self):
        r = cli("bench", self.demo.address, "grpc.testing.TestService/UnaryCall",
                '{"responseSize": 10}', "-n", "300", "-c", "4", "--connections", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("300 calls in", r.stdout)
        self.assertIn("status: OK=300", r.stdout)
        self.assertIn("latency histogram", r.stdout)
        self.assertIn("p99", r.stdout)
        self.assertRegex(r.stderr, r"\[\s*[0-9.]+s\] 300 calls")  # the progress line
        r = cli("bench", self.demo.address, "grpc.testing.TestService/StreamingOutputCall",
                '{"responseParameters": [{"size": 1}]}', "--duration", "1s", "-c", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("server streaming", r.stdout)
        r = cli("bench", self.demo.address, "grpc.testing.TestService/UnaryCall",
                '{"responseStatus": {"code": 9}}', "-n", "20")
        self.assertEqual(r.returncode, 9)
        self.assertIn("FAILED_PRECONDITION=20", r.stdout)


if __name__ == "__main__":
    for exe in (CLI, GRPCXX):
        if not os.access(exe, os.X_OK):
            print("SKIPPED: %s not built" % exe)
            sys.exit(77)
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.TestLoader().loadTestsFromTestCase(CliTest))
    sys.exit(0 if result.wasSuccessful() else 1)
