#!/usr/bin/env python3
"""End to end across languages: generated C++ stubs against generated Python stubs.

Both directions over loopback: the C++ RouteGuide server (codegen_e2e_peer) with a Python client
on the generated RouteGuideStub, then a Python server built with add_RouteGuideServicer_to_server
with the C++ client. Both sides implement and check the behaviour described in e2e_peer.cc.
Needs the polyrpc Python package (importable, with its native module).

    e2e_cpp_python.py --plugin build/codegen/protoc-gen-polyrpc --peer build/codegen/tests/codegen_e2e_peer
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "protos")
PROTOS = ["cgtest/common/types.proto", "cgtest/routes/route_guide.proto"]


def generate(out_dir, plugin):
    import grpc_tools
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + PROTO_ROOT, "-I" + well_known,
                    "--python_out=" + out_dir, "--plugin=protoc-gen-polyrpc=" + plugin,
                    "--polyrpc_out=lang=python:" + out_dir] + PROTOS, check=True, timeout=60)
    for pkg in ("cgtest", "cgtest/common", "cgtest/routes"):
        open(os.path.join(out_dir, pkg, "__init__.py"), "a").close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Failure(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failure(what)


def python_client(polyrpc, types_pb2, routes_pb2, routes_polyrpc, port):
    from google.protobuf import empty_pb2
    with polyrpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        stub = routes_polyrpc.RouteGuideStub(channel)
        feature, call = stub.GetFeature.with_call(types_pb2.Point(latitude=3, longitude=4),
                                                  metadata=[("x-echo", "hi")], timeout=10)
        check(feature.name == "f:3,4" and feature.location.longitude == 4,
              "GetFeature: %r" % feature)
        check(("x-echo", "hi") in list(call.initial_metadata()), "GetFeature: x-echo not echoed")
        check(("x-trailer", "done") in list(call.trailing_metadata()), "GetFeature: no x-trailer")
        try:
            stub.GetFeature(types_pb2.Point(latitude=-1), timeout=10)
            raise Failure("GetFeature(-1) succeeded")
        except polyrpc.RpcError as e:
            check(e.code() == polyrpc.StatusCode.INVALID_ARGUMENT and
                  e.details() == "negative latitude", "GetFeature(-1): %s %s" % (e.code(), e.details()))
        rect = routes_pb2.Rectangle(lo=types_pb2.Point(latitude=2), hi=types_pb2.Point(latitude=6))
        names = [f.name for f in stub.ListFeatures(rect, timeout=10)]
        check(names == ["n2", "n3", "n4", "n5"], "ListFeatures: %r" % names)
        summary = stub.RecordRoute(iter([types_pb2.Point(latitude=i * 10) for i in range(1, 5)]),
                                   timeout=10)
        check(summary.point_count == 4 and summary.feature_count == 100, "RecordRoute: %r" % summary)
        notes = [routes_pb2.RouteNote(message=m) for m in ("a", "b", "c")]
        replies = [n.message for n in stub.RouteChat(iter(notes), timeout=10)]
        check(replies == ["echo:a", "echo:b", "echo:c"], "RouteChat: %r" % replies)
        detail = stub.Describe(types_pb2.Feature.Tag(key="k", value="v"), timeout=10)
        check(detail.text == "k=v", "Describe: %r" % detail)
        try:
            stub.Ping(empty_pb2.Empty(), timeout=10)
            raise Failure("Ping succeeded")
        except polyrpc.RpcError as e:
            check(e.code() == polyrpc.StatusCode.UNIMPLEMENTED, "Ping: %s" % e.code())


def make_servicer(polyrpc, types_pb2, routes_pb2, routes_polyrpc):
    class RouteGuide(routes_polyrpc.RouteGuideServicer):
        def GetFeature(self, request, context):
            if request.latitude < 0:
                context.abort(polyrpc.StatusCode.INVALID_ARGUMENT, "negative latitude")
            echo = [(k, v) for k, v in context.invocation_metadata() if k == "x-echo"]
            if echo:
                context.send_initial_metadata(echo)
            context.set_trailing_metadata([("x-trailer", "done")])
            return types_pb2.Feature(name="f:%d,%d" % (request.latitude, request.longitude),
                                     location=request)

        def ListFeatures(self, request, context):
            for lat in range(request.lo.latitude, request.hi.latitude):
                yield types_pb2.Feature(name="n%d" % lat)

        def RecordRoute(self, request_iterator, context):
            points = list(request_iterator)
            return routes_pb2.RouteSummary(point_count=len(points),
                                           feature_count=sum(p.latitude for p in points))

        def RouteChat(self, request_iterator, context):
            for note in request_iterator:
                yield routes_pb2.RouteNote(message="echo:" + note.message)

        def Describe(self, request, context):
            return routes_pb2.RouteSummary.Detail(text="%s=%s" % (request.key, request.value))

    return RouteGuide()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--peer", required=True, help="codegen_e2e_peer")
    args = parser.parse_args()
    import polyrpc

    failures = []
    with tempfile.TemporaryDirectory() as out:
        generate(out, os.path.abspath(args.plugin))
        sys.path.insert(0, out)
        from cgtest.common import types_pb2
        from cgtest.routes import route_guide_pb2 as routes_pb2
        from cgtest.routes import route_guide_pb2_polyrpc as routes_polyrpc

        # C++ server, Python client.
        port = free_port()
        server = subprocess.Popen([args.peer, "server", str(port)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            check(server.stdout.readline().strip() == "ready", "C++ server did not start")
            python_client(polyrpc, types_pb2, routes_pb2, routes_polyrpc, port)
            print("ok: C++ server <- Python client")
        except Failure as e:
            failures.append("C++ server <- Python client: %s" % e)
        finally:
            server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                failures.append("C++ server did not stop")

        # Python server, C++ client.
        py_server = polyrpc.server(futures.ThreadPoolExecutor(max_workers=8))
        routes_polyrpc.add_RouteGuideServicer_to_server(
            make_servicer(polyrpc, types_pb2, routes_pb2, routes_polyrpc), py_server)
        port = py_server.add_insecure_port("127.0.0.1:0")
        py_server.start()
        try:
            result = subprocess.run([args.peer, "client", str(port)], capture_output=True,
                                    text=True, timeout=60)
            if result.returncode != 0:
                failures.append("Python server <- C++ client: exit %d: %s" %
                                (result.returncode, result.stderr.strip()))
            else:
                print("ok: Python server <- C++ client")
        finally:
            py_server.stop(1).wait(5)

    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
