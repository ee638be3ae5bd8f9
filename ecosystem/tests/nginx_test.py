#!/usr/bin/env python3
"""polyrpc servers behind nginx (Debian's nginx, ngx_http_grpc_module's grpc_pass): three
polyrpc_demo_servers upstream, round robin, and a grpcio client in front. Plaintext (h2c both
sides) and TLS (TLS to nginx, grpcs:// to TLS upstreams). Calls of all four kinds pass
through, with metadata, trailers and error statuses, and spread across the three servers (each
server answers its id in the initial metadata "x-server-id").

Usage: nginx_test.py. Exit 77 (skipped) without nginx (apt install nginx)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from services_test import CERTS, DemoServer  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROTO_ROOT = "/usr/share/grpc-proto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate_stubs(out_dir):
    """grpc.testing messages and stubs for grpcio (grpc_tools' protoc, into out_dir)."""
    from grpc_tools import protoc
    os.makedirs(out_dir, exist_ok=True)
    args = ["protoc", "-I" + PROTO_ROOT, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
            "grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    # grpcio owns the "grpc" package: graft grpc.testing onto it from out_dir.
    import types
    import grpc
    pkg = types.ModuleType("grpc.testing")
    pkg.__path__ = [os.path.join(out_dir, "grpc", "testing")]
    sys.modules["grpc.testing"] = pkg
    grpc.testing = pkg


CONF = """
daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream plain_backends {{
{plain_servers}
    }}
    upstream tls_backends {{
{tls_servers}
    }}
    server {{
        listen 127.0.0.1:{plain_port} http2;
        location / {{
            grpc_pass grpc://plain_backends;
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        ssl_certificate {certs}/server.pem;
        ssl_certificate_key {certs}/server.key;
        location / {{
            grpc_pass grpcs://tls_backends;
            grpc_ssl_trusted_certificate {certs}/ca.pem;
            grpc_ssl_verify on;
            grpc_ssl_name localhost;
            grpc_ssl_server_name on;
        }}
    }}
}}
"""


class NginxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="polyrpc-nginx-")
        generate_stubs(os.path.join(cls.dir, "stubs"))
        cls.plain = [DemoServer(server_id="p%d" % i) for i in range(3)]
        cls.tls_servers = [DemoServer(tls=True, server_id="t%d" % i) for i in range(3)]
        cls.plain_port, cls.tls_port = free_port(), free_port()
        conf = CONF.format(
            dir=cls.dir, certs=CERTS, plain_port=cls.plain_port, tls_port=cls.tls_port,
            plain_servers="\n".join("        server %s;" % s.address for s in cls.plain),
            tls_servers="\n".join("        server %s;" % s.address for s in cls.tls_servers))
        path = os.path.join(cls.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        cls.nginx = subprocess.Popen([NGINX, "-p", cls.dir, "-c", path],
                                     stderr=open(os.path.join(cls.dir, "nginx.stderr"), "w"))
        deadline = time.time() + 10
        for port in (cls.plain_port, cls.tls_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if cls.nginx.poll() is not None or time.time() > deadline:
                        raise RuntimeError("nginx did not start: " +
                                           open(os.path.join(cls.dir, "error.log")).read())
                    time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.nginx.terminate()
        try:
            cls.nginx.wait(10)
        except subprocess.TimeoutExpired:
            cls.nginx.kill()
        for s in cls.plain + cls.tls_servers:
            s.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def channel(self, tls):
        import grpc
        if tls:
            with open(os.path.join(CERTS, "ca.pem"), "rb") as f:
                creds = grpc.ssl_channel_credentials(f.read())
            return grpc.secure_channel("localhost:%d" % self.tls_port, creds)
        return grpc.insecure_channel("127.0.0.1:%d" % self.plain_port)

    def all_kinds(self, tls):
        import grpc
        from grpc.testing import messages_pb2 as m, test_pb2_grpc
        prefix = "t" if tls else "p"
        seen = {"unary": set(), "server_streaming": set(), "client_streaming": set(),
                "bidi": set()}
        with self.channel(tls) as ch:
            stub = test_pb2_grpc.TestServiceStub(ch)
            for _ in range(6):
                resp, call = stub.UnaryCall.with_call(
                    m.SimpleRequest(response_size=5), timeout=10,
                    metadata=(("x-test", "through nginx"),))
                self.assertEqual(len(resp.payload.body), 5)
                seen["unary"].add(dict(call.initial_metadata())["x-server-id"])
                self.assertEqual(resp.server_id, dict(call.initial_metadata())["x-server-id"])

                out = stub.StreamingOutputCall(m.StreamingOutputCallRequest(
                    response_parameters=[m.ResponseParameters(size=s) for s in (1, 2, 3)]),
                    timeout=10)
                self.assertEqual([len(r.payload.body) for r in out], [1, 2, 3])
                seen["server_streaming"].add(dict(out.initial_metadata())["x-server-id"])

                resp, call = stub.StreamingInputCall.with_call(
                    iter([m.StreamingInputCallRequest(payload=m.Payload(body=b"x" * n))
                          for n in (10, 20, 30)]), timeout=10)
                self.assertEqual(resp.aggregated_payload_size, 60)
                seen["client_streaming"].add(dict(call.initial_metadata())["x-server-id"])

                bidi = stub.FullDuplexCall(iter([m.StreamingOutputCallRequest(
                    response_parameters=[m.ResponseParameters(size=n)]) for n in (4, 5)]),
                    timeout=10)
                self.assertEqual([len(r.payload.body) for r in bidi], [4, 5])
                seen["bidi"].add(dict(bidi.initial_metadata())["x-server-id"])

            # Error statuses and their messages come through too.
            with self.assertRaises(grpc.RpcError) as e:
                stub.UnaryCall(m.SimpleRequest(
                    response_status=m.EchoStatus(code=7, message="denied upstream")), timeout=10)
            self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(e.exception.details(), "denied upstream")
            with self.assertRaises(grpc.RpcError) as e:
                stub.UnimplementedCall(m.SimpleRequest(), timeout=10)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        every = {prefix + str(i) for i in range(3)}
        for kind, ids in seen.items():
            self.assertEqual(ids, every, "%s calls reached %s" % (kind, sorted(ids)))

    def test_plaintext_all_kinds_spread(self):
        self.all_kinds(tls=False)

    def test_tls_all_kinds_spread(self):
        self.all_kinds(tls=True)

    def test_health_through_nginx(self):
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        with self.channel(False) as ch:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
            self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    if not os.access(NGINX, os.X_OK):
        print("SKIPPED: no nginx (apt install nginx; scripts/bootstrap.sh installs it)")
        sys.exit(77)
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.TestLoader().loadTestsFromTestCase(NginxTest))
    sys.exit(0 if result.wasSuccessful() else 1)
