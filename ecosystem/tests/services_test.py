#!/usr/bin/env python3
"""The health service and server reflection of a polyrpc C++ server (polyrpc_demo_server),
seen by the real tools: grpcurl and grpc-health-probe (built from the Go module proxy into
BUILD/tools), and grpcio's own health and reflection clients (grpcio-health-checking,
grpcio-reflection). Plaintext and TLS, on 127.0.0.1.

Usage: services_test.py GROUP   (grpcurl | health_probe | grpcio_clients)
Environment: POLYRPC_DEMO_SERVER, POLYRPC_TOOLS_DIR, POLYRPC_BUILD_DIR (set by ctest).
Exit 77 (skipped) when a tool the group needs is not there, with the reason."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
BUILD = os.environ.get("POLYRPC_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
TOOLS = os.environ.get("POLYRPC_TOOLS_DIR", os.path.join(BUILD, "tools"))
SERVER = os.environ.get("POLYRPC_DEMO_SERVER", os.path.join(BUILD, "ecosystem/polyrpc_demo_server"))
CERTS = os.path.join(BUILD, "certs")


class DemoServer:
    """polyrpc_demo_server in a child process; health changes through its stdin."""

    def __init__(self, tls=False, server_id="demo"):
        self.dir = tempfile.mkdtemp(prefix="polyrpc-eco-")
        port_file = os.path.join(self.dir, "port")
        args = [SERVER, "--port_file=" + port_file, "--id=" + server_id]
        if tls:
            args.append("--tls_dir=" + CERTS)
        self.log = open(os.path.join(self.dir, "server.log"), "w+")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        deadline = time.time() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.log.seek(0)
                raise RuntimeError("demo server did not start: " + self.log.read())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())
        self.address = "127.0.0.1:%d" % self.port

    def health(self, service, status):
        self.proc.stdin.write("health %s %s\n" % (service or '""', status))
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        assert line == "ok", line

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run(args, timeout=30, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def need(path, what):
    if not os.access(path, os.X_OK):
        print("SKIPPED: %s not found at %s (needs a Go toolchain; target ecosystem_go_tools)"
              % (what, path))
        sys.exit(SKIP)


SERVICES = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection", "grpc.testing.TestService"]


class GrpcurlTest(unittest.TestCase):
    """grpcurl list, describe and calls through reflection (grpcurl speaks v1, then v1alpha)."""
    grpcurl = os.path.join(TOOLS, "grpcurl")

    @classmethod
    def setUpClass(cls):
        cls.plain = DemoServer()
        cls.tls = DemoServer(tls=True)

    @classmethod
    def tearDownClass(cls):
        cls.plain.stop()
        cls.tls.stop()

    def grpcurl_ok(self, *after, d=None, tls=False):
        """grpcurl [-plaintext | -cacert CA] [-d D] ADDRESS AFTER..."""
        flags = ["-cacert", os.path.join(CERTS, "ca.pem")] if tls else ["-plaintext"]
        if d is not None:
            flags += ["-d", d]
        server = self.tls if tls else self.plain
        r = run([self.grpcurl] + flags + [server.address] + list(after))
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r.stdout

    def grpcurl_d(self, data, method, tls=False):
        return self.grpcurl_ok(method, d=data, tls=tls)

    def test_list(self):
        out = self.grpcurl_ok("list")
        self.assertEqual(out.split(), SERVICES)

    def test_list_service(self):
        out = self.grpcurl_ok("list", "grpc.testing.TestService")
        methods = out.split()
        for m in ["EmptyCall", "UnaryCall", "StreamingOutputCall", "StreamingInputCall",
                  "FullDuplexCall", "HalfDuplexCall"]:
            self.assertIn("grpc.testing.TestService." + m, methods)

    def test_describe_service_and_message(self):
        out = self.grpcurl_ok("describe", "grpc.testing.TestService")
        self.assertIn("grpc.testing.TestService is a service:", out)
        self.assertIn("rpc UnaryCall ( .grpc.testing.SimpleRequest ) returns "
                      "( .grpc.testing.SimpleResponse );", out)
        self.assertIn("rpc FullDuplexCall ( stream .grpc.testing.StreamingOutputCallRequest )"
                      " returns ( stream .grpc.testing.StreamingOutputCallResponse );", out)
        out = self.grpcurl_ok("describe", "grpc.testing.SimpleRequest")
        self.assertIn("grpc.testing.SimpleRequest is a message:", out)
        self.assertIn("int32 response_size = 2;", out)
        # A nested enum of a message in an imported file, and a method by its full name.
        out = self.grpcurl_ok("describe", "grpc.testing.PayloadType")
        self.assertIn("COMPRESSABLE = 0;", out)
        out = self.grpcurl_ok("describe", "grpc.testing.TestService.UnaryCall")
        self.assertIn("is a method:", out)

    def test_describe_builtin_services(self):
        out = self.grpcurl_ok("describe", "grpc.health.v1.Health")
        self.assertIn("rpc Watch ( .grpc.health.v1.HealthCheckRequest ) returns "
                      "( stream .grpc.health.v1.HealthCheckResponse );", out)
        out = self.grpcurl_ok("describe", "grpc.reflection.v1alpha.ServerReflection")
        self.assertIn("rpc ServerReflectionInfo", out)

    def test_unknown_symbol(self):
        r = run([self.grpcurl, "-plaintext", self.plain.address, "describe", "no.Such"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no.Such", r.stderr)

    def test_unary_call(self):
        out = self.grpcurl_d('{"responseSize": 3, "fillUsername": true}',
                              "grpc.testing.TestService/UnaryCall")
        reply = json.loads(out)
        self.assertEqual(reply["payload"]["body"], "eHh4")  # base64 of "xxx"
        self.assertEqual(reply["server_id"], "demo")
        self.assertEqual(reply["username"], "demo")

    def test_error_status(self):
        r = run([self.grpcurl, "-plaintext", "-d",
                 '{"responseStatus": {"code": 7, "message": "nope"}}', self.plain.address,
                 "grpc.testing.TestService/UnaryCall"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PermissionDenied", r.stderr)
        self.assertIn("nope", r.stderr)

    def test_streaming_calls(self):
        out = self.grpcurl_d('{"responseParameters": [{"size": 1}, {"size": 2}, '
                              '{"size": 3}]}', "grpc.testing.TestService/StreamingOutputCall")
        bodies = [m["payload"]["body"] for m in _json_stream(out)]
        self.assertEqual(bodies, ["eA==", "eHg=", "eHh4"])
        out = self.grpcurl_d('{"payload": {"body": "AAAA"}} {"payload": {"body": "AA=="}}',
                              "grpc.testing.TestService/StreamingInputCall")
        self.assertEqual(json.loads(out)["aggregated_payload_size"], 4)
        out = self.grpcurl_d('{"responseParameters": [{"size": 1}]} '
                              '{"responseParameters": [{"size": 2}]}',
                              "grpc.testing.TestService/FullDuplexCall")
        self.assertEqual(len(_json_stream(out)), 2)

    def test_health_check_call(self):
        out = self.grpcurl_d('{"service": "grpc.testing.TestService"}',
                              "grpc.health.v1.Health/Check")
        self.assertEqual(json.loads(out), {"status": "SERVING"})

    def test_tls(self):
        self.assertEqual(self.grpcurl_ok("list", tls=True).split(), SERVICES)
        out = self.grpcurl_ok("describe", "grpc.testing.TestService", tls=True)
        self.assertIn("rpc StreamingInputCall", out)
        out = self.grpcurl_d('{"responseSize": 1}', "grpc.testing.TestService/UnaryCall",
                              tls=True)
        self.assertEqual(json.loads(out)["payload"]["body"], "eA==")


def _json_stream(text):
    """grpcurl prints one pretty JSON object per message."""
    dec = json.JSONDecoder()
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


class HealthProbeTest(unittest.TestCase):
    """grpc-health-probe's exit codes: 0 SERVING, 3 RPC failed (NOT_FOUND), 4 not SERVING."""
    probe = os.path.join(TOOLS, "grpc-health-probe")

    def setUp(self):
        self.server = DemoServer()

    def tearDown(self):
        self.server.stop()

    def probe_rc(self, *args, address=None):
        r = run([self.probe, "-addr=" + (address or self.server.address)] + list(args))
        return r.returncode, r.stdout + r.stderr

    def test_server_and_service(self):
        rc, out = self.probe_rc()
        self.assertEqual(rc, 0, out)
        self.assertIn("SERVING", out)
        rc, out = self.probe_rc("-service=grpc.testing.TestService")
        self.assertEqual(rc, 0, out)

    def test_status_changes_at_run_time(self):
        self.server.health("grpc.testing.TestService", "NOT_SERVING")
        rc, out = self.probe_rc("-service=grpc.testing.TestService")
        self.assertEqual(rc, 4, out)
        self.assertIn("NOT_SERVING", out)
        self.assertEqual(self.probe_rc()[0], 0)  # the server as a whole is still SERVING
        self.server.health("grpc.testing.TestService", "SERVING")
        self.assertEqual(self.probe_rc("-service=grpc.testing.TestService")[0], 0)
        self.server.health("", "NOT_SERVING")
        self.assertEqual(self.probe_rc()[0], 4)

    def test_unknown_service(self):
        rc, out = self.probe_rc("-service=no.Such")
        self.assertEqual(rc, 3, out)
        self.assertIn("NotFound", out)
        self.server.health("grpc.testing.TestService", "CLEAR")
        self.assertEqual(self.probe_rc("-service=grpc.testing.TestService")[0], 3)

    def test_tls(self):
        tls = DemoServer(tls=True)
        try:
            rc, out = self.probe_rc("-tls", "-tls-ca-cert=" + os.path.join(CERTS, "ca.pem"),
                                    address=tls.address)
            self.assertEqual(rc, 0, out)
        finally:
            tls.stop()


class GrpcioClientsTest(unittest.TestCase):
    """grpcio-health-checking's HealthStub (Check, Watch) and grpcio-reflection's client
    (v1alpha: ProtoReflectionDescriptorDatabase) against the polyrpc C++ server."""

    def setUp(self):
        import grpc
        self.grpc = grpc
        self.server = DemoServer()
        self.channel = grpc.insecure_channel(self.server.address)

    def tearDown(self):
        self.channel.close()
        self.server.stop()

    def test_check(self):
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        stub = health_pb2_grpc.HealthStub(self.channel)
        resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING)
        resp = stub.Check(health_pb2.HealthCheckRequest(service="grpc.testing.TestService"),
                          timeout=5)
        self.assertEqual(resp.status, health_pb2.HealthCheckResponse.SERVING)
        with self.assertRaises(self.grpc.RpcError) as e:
            stub.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=5)
        self.assertEqual(e.exception.code(), self.grpc.StatusCode.NOT_FOUND)

    def test_watch(self):
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        R = health_pb2.HealthCheckResponse
        stub = health_pb2_grpc.HealthStub(self.channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="grpc.testing.TestService"),
                           timeout=20)
        self.assertEqual(next(watch).status, R.SERVING)
        self.server.health("grpc.testing.TestService", "NOT_SERVING")
        self.assertEqual(next(watch).status, R.NOT_SERVING)
        self.server.health("grpc.testing.TestService", "CLEAR")
        self.assertEqual(next(watch).status, R.SERVICE_UNKNOWN)
        self.server.health("grpc.testing.TestService", "SERVING")
        self.assertEqual(next(watch).status, R.SERVING)
        # An unknown service is watched too: SERVICE_UNKNOWN until it gets a status.
        other = stub.Watch(health_pb2.HealthCheckRequest(service="later.Service"), timeout=20)
        self.assertEqual(next(other).status, R.SERVICE_UNKNOWN)
        self.server.health("later.Service", "SERVING")
        self.assertEqual(next(other).status, R.SERVING)
        # At shutdown every watch hears NOT_SERVING, then the stream ends (UNAVAILABLE).
        self.server.stop()
        self.assertEqual(next(watch).status, R.NOT_SERVING)
        with self.assertRaises(self.grpc.RpcError) as e:
            next(watch)
        self.assertEqual(e.exception.code(), self.grpc.StatusCode.UNAVAILABLE)

    def test_reflection_v1alpha(self):
        from google.protobuf.descriptor_pool import DescriptorPool
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import \
            ProtoReflectionDescriptorDatabase
        db = ProtoReflectionDescriptorDatabase(self.channel)
        self.assertEqual(sorted(db.get_services()), SERVICES)
        pool = DescriptorPool(db)
        svc = pool.FindServiceByName("grpc.testing.TestService")
        self.assertIn("UnaryCall", [m.name for m in svc.methods])
        unary = svc.methods_by_name["UnaryCall"]
        self.assertEqual(unary.input_type.full_name, "grpc.testing.SimpleRequest")
        # The import (messages.proto) came with the file.
        self.assertEqual(pool.FindMessageTypeByName("grpc.testing.Payload").fields_by_name[
            "body"].number, 2)
        health = pool.FindServiceByName("grpc.health.v1.Health")
        self.assertEqual([m.name for m in health.methods], ["Check", "Watch"])
        fd = pool.FindFileByName("grpc/testing/empty.proto")
        self.assertIn("Empty", fd.message_types_by_name)
        with self.assertRaises(KeyError):
            pool.FindMessageTypeByName("no.Such")

    def test_reflection_v1_raw(self):
        """The v1 stream with hand-made requests (grpcio-reflection's client speaks v1alpha):
        list_services, a symbol with its imports, a file by name, an error, extensions."""
        from google.protobuf import descriptor_pb2
        from grpc_reflection.v1alpha import reflection_pb2  # same messages as v1
        call = self.channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        reqs = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(
                    file_containing_symbol="grpc.testing.TestService.UnaryCall"),
                reflection_pb2.ServerReflectionRequest(file_by_filename="grpc/testing/test.proto"),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"),
                reflection_pb2.ServerReflectionRequest(
                    all_extension_numbers_of_type="grpc.testing.SimpleRequest")]
        resps = list(call(iter(reqs), timeout=10))
        self.assertEqual(len(resps), 5)
        self.assertEqual([s.name for s in resps[0].list_services_response.service], SERVICES)
        names = [descriptor_pb2.FileDescriptorProto.FromString(b).name
                 for b in resps[1].file_descriptor_response.file_descriptor_proto]
        self.assertEqual(names[0], "grpc/testing/test.proto")
        self.assertEqual(set(names), {"grpc/testing/test.proto", "grpc/testing/empty.proto",
                                      "grpc/testing/messages.proto"})
        self.assertEqual(resps[1].original_request, reqs[1])
        # Already sent on this stream: only the file itself comes again.
        again = resps[2].file_descriptor_response.file_descriptor_proto
        self.assertEqual(len(again), 1)
        self.assertEqual(resps[3].error_response.error_code, 5)  # NOT_FOUND
        self.assertEqual(resps[4].all_extension_numbers_response.base_type_name,
                         "grpc.testing.SimpleRequest")
        self.assertEqual(list(resps[4].all_extension_numbers_response.extension_number), [])


GROUPS = {"grpcurl": (GrpcurlTest, os.path.join(TOOLS, "grpcurl"), "grpcurl"),
          "health_probe": (HealthProbeTest, os.path.join(TOOLS, "grpc-health-probe"),
                           "grpc-health-probe"),
          "grpcio_clients": (GrpcioClientsTest, None, None)}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        sys.exit("usage: services_test.py " + " | ".join(GROUPS))
    cls, tool, what = GROUPS[sys.argv[1]]
    if tool:
        need(tool, what)
    if not os.access(SERVER, os.X_OK):
        print("SKIPPED: no demo server at " + SERVER)
        sys.exit(SKIP)
    suite = unittest.TestLoader().loadTestsFromTestCase(cls)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
