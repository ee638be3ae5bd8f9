#!/usr/bin/env python3
"""Imports and exercises the Python code protoc-gen-polyrpc generates (lang=python).

The generated modules are imported against a recording stand-in for the `polyrpc` package, so
this checks exactly what the generated code asks of polyrpc (the grpcio-shaped functions, paths,
serializers, handler kinds) independently of the binding; the end-to-end test
(e2e_cpp_python.py) runs the same kind of code on the real binding.

Messages are generated with grpc_tools' protoc, whose output matches the installed protobuf
runtime; the plugin's own output does not depend on the protoc version.

    test_python_generated.py --plugin build/codegen/protoc-gen-polyrpc
"""

import argparse
import inspect
import os
import subprocess
import sys
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "protos")
GRPC_PROTO_ROOT = os.environ.get("POLYRPC_GRPC_PROTO_ROOT", "/usr/share/grpc-proto")
TEST_PROTOS = ["cgtest/common/types.proto", "cgtest/routes/route_guide.proto", "keywords.proto"]
INTEROP_PROTOS = ["grpc/testing/empty.proto", "grpc/testing/messages.proto",
                  "grpc/testing/test.proto"]

PLUGIN = None
OUT_DIR = None


def generate(out_dir, plugin):
    import grpc_tools
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    for root, protos in ((PROTO_ROOT, TEST_PROTOS), (GRPC_PROTO_ROOT, INTEROP_PROTOS)):
        cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I" + root, "-I" + well_known,
               "--python_out=" + out_dir,
               "--plugin=protoc-gen-polyrpc=" + os.path.abspath(plugin),
               "--polyrpc_out=lang=python:" + out_dir] + protos
        subprocess.run(cmd, check=True, timeout=60)
    # Regular packages (not namespace ones), so that out_dir/grpc shadows grpcio's `grpc`.
    for pkg in ("cgtest", "cgtest/common", "cgtest/routes", "grpc", "grpc/testing"):
        open(os.path.join(out_dir, pkg, "__init__.py"), "a").close()


def install_fake_polyrpc():
    """A `polyrpc` module that records what the generated code builds."""
    fake = types.ModuleType("polyrpc")

    class StatusCode:
        UNIMPLEMENTED = "UNIMPLEMENTED"

    fake.StatusCode = StatusCode
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        def handler(behavior, request_deserializer=None, response_serializer=None, _kind=kind):
            return {"kind": _kind, "behavior": behavior,
                    "request_deserializer": request_deserializer,
                    "response_serializer": response_serializer}
        setattr(fake, kind + "_rpc_method_handler", handler)
    fake.method_handlers_generic_handler = lambda service, handlers: ("generic", service, handlers)
    sys.modules["polyrpc"] = fake
    return fake


class FakeChannel:
    def __getattr__(self, kind):
        def make(path, request_serializer=None, response_deserializer=None):
            return {"kind": kind, "path": path, "request_serializer": request_serializer,
                    "response_deserializer": response_deserializer}
        return make


class FakeServer:
    def __init__(self):
        self.generic = []

    def add_generic_rpc_handlers(self, handlers):
        self.generic.extend(handlers)


class FakeContext:
    code = None
    details = None

    def set_code(self, code):
        self.code = code

    def set_details(self, details):
        self.details = details


class GeneratedPythonTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        install_fake_polyrpc()
        sys.path.insert(0, OUT_DIR)
        import importlib
        cls.types_pb2 = importlib.import_module("cgtest.common.types_pb2")
        cls.routes_pb2 = importlib.import_module("cgtest.routes.route_guide_pb2")
        cls.routes = importlib.import_module("cgtest.routes.route_guide_pb2_polyrpc")
        cls.keywords_pb2 = importlib.import_module("keywords_pb2")
        cls.keywords = importlib.import_module("keywords_pb2_polyrpc")
        cls.messages_pb2 = importlib.import_module("grpc.testing.messages_pb2")
        cls.empty_pb2 = importlib.import_module("grpc.testing.empty_pb2")
        cls.interop = importlib.import_module("grpc.testing.test_pb2_polyrpc")

    def check_stub(self, stub, attr, kind, path, req_cls, resp_cls):
        rec = getattr(stub, attr)
        self.assertEqual(rec["kind"], kind, attr)
        self.assertEqual(rec["path"], path, attr)
        self.assertEqual(rec["request_serializer"], req_cls.SerializeToString, attr)
        self.assertEqual(rec["response_deserializer"], resp_cls.FromString, attr)

    def handlers_of(self, add_fn, servicer, service_name):
        server = FakeServer()
        add_fn(servicer, server)
        self.assertEqual(len(server.generic), 1)
        tag, name, handlers = server.generic[0]
        self.assertEqual((tag, name), ("generic", service_name))
        return handlers

    def test_route_guide_stub(self):
        t, r = self.types_pb2, self.routes_pb2
        from google.protobuf import empty_pb2
        stub = self.routes.RouteGuideStub(FakeChannel())
        p = "/polyrpc.test.routes.v1.RouteGuide/"
        self.check_stub(stub, "GetFeature", "unary_unary", p + "GetFeature", t.Point, t.Feature)
        self.check_stub(stub, "ListFeatures", "unary_stream", p + "ListFeatures", r.Rectangle,
                        t.Feature)
        self.check_stub(stub, "RecordRoute", "stream_unary", p + "RecordRoute", t.Point,
                        r.RouteSummary)
        self.check_stub(stub, "RouteChat", "stream_stream", p + "RouteChat", r.RouteNote,
                        r.RouteNote)
        self.check_stub(stub, "Ping", "unary_unary", p + "Ping", empty_pb2.Empty, empty_pb2.Empty)
        self.check_stub(stub, "Describe", "unary_unary", p + "Describe", t.Feature.Tag,
                        r.RouteSummary.Detail)
        admin = self.routes.AdminStub(FakeChannel())
        self.check_stub(admin, "Reset", "unary_unary", "/polyrpc.test.routes.v1.Admin/Reset",
                        empty_pb2.Empty, r.RouteSummary)

    def test_route_guide_servicer_and_registration(self):
        servicer = self.routes.RouteGuideServicer()
        handlers = self.handlers_of(self.routes.add_RouteGuideServicer_to_server, servicer,
                                    "polyrpc.test.routes.v1.RouteGuide")
        kinds = {name: h["kind"] for name, h in handlers.items()}
        self.assertEqual(kinds, {"GetFeature": "unary_unary", "ListFeatures": "unary_stream",
                                 "RecordRoute": "stream_unary", "RouteChat": "stream_stream",
                                 "Ping": "unary_unary", "Describe": "unary_unary"})
        h = handlers["GetFeature"]
        self.assertEqual(h["behavior"], servicer.GetFeature)
        point = self.types_pb2.Point(latitude=7, longitude=-3)
        self.assertEqual(h["request_deserializer"](point.SerializeToString()), point)
        feature = self.types_pb2.Feature(name="x")
        self.assertEqual(h["response_serializer"](feature), feature.SerializeToString())
        # Unimplemented methods answer UNIMPLEMENTED, as grpcio's generated servicers do.
        ctx = FakeContext()
        with self.assertRaises(NotImplementedError):
            servicer.GetFeature(point, ctx)
        self.assertEqual(ctx.code, "UNIMPLEMENTED")

    def test_docstrings_from_proto_comments(self):
        doc = self.routes.RouteGuideStub.__doc__
        self.assertIn("Interface exported by the server.", doc)
        self.assertIn('Comments with "quotes", a backslash \\ and $dollar signs$', doc)
        self.assertEqual(self.routes.RouteGuideServicer.GetFeature.__doc__,
                         "A simple RPC: obtains the feature at a given position.")
        # cleandoc: Python 3.13+ strips docstring indentation at compile time, older ones not.
        self.assertEqual(inspect.cleandoc(self.routes.RouteGuideServicer.ListFeatures.__doc__),
                         "A server-to-client streaming RPC: the features within the given "
                         "Rectangle.\nResults are streamed rather than returned at once.")

    def test_keywords_escaped(self):
        k = self.keywords_pb2
        req, resp = getattr(k, "del"), k.delete
        stub = self.keywords.classStub(FakeChannel())
        self.check_stub(stub, "delete", "unary_unary", "/class/delete", req, resp)
        self.check_stub(stub, "import_", "unary_unary", "/class/import", req, resp)
        self.check_stub(stub, "namespace", "stream_unary", "/class/namespace", req, resp)
        self.check_stub(stub, "lambda_", "unary_stream", "/class/lambda", req, resp)
        self.check_stub(stub, "def_", "stream_stream", "/class/def", req, resp)
        servicer = self.keywords.classServicer()
        handlers = self.handlers_of(self.keywords.add_classServicer_to_server, servicer, "class")
        self.assertEqual(handlers["import"]["behavior"], servicer.import_)
        self.assertEqual(handlers["def"]["behavior"], servicer.def_)

    def test_interop_test_proto(self):
        m, e = self.messages_pb2, self.empty_pb2
        stub = self.interop.TestServiceStub(FakeChannel())
        p = "/grpc.testing.TestService/"
        self.check_stub(stub, "EmptyCall", "unary_unary", p + "EmptyCall", e.Empty, e.Empty)
        self.check_stub(stub, "UnaryCall", "unary_unary", p + "UnaryCall", m.SimpleRequest,
                        m.SimpleResponse)
        self.check_stub(stub, "StreamingOutputCall", "unary_stream", p + "StreamingOutputCall",
                        m.StreamingOutputCallRequest, m.StreamingOutputCallResponse)
        self.check_stub(stub, "StreamingInputCall", "stream_unary", p + "StreamingInputCall",
                        m.StreamingInputCallRequest, m.StreamingInputCallResponse)
        self.check_stub(stub, "FullDuplexCall", "stream_stream", p + "FullDuplexCall",
                        m.StreamingOutputCallRequest, m.StreamingOutputCallResponse)
        handlers = self.handlers_of(self.interop.add_TestServiceServicer_to_server,
                                    self.interop.TestServiceServicer(), "grpc.testing.TestService")
        self.assertEqual(len(handlers), 8)
        self.assertTrue(hasattr(self.interop, "UnimplementedServiceStub"))


def main():
    global PLUGIN, OUT_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugin", required=True)
    args, rest = parser.parse_known_args()
    PLUGIN = args.plugin
    with tempfile.TemporaryDirectory() as out:
        OUT_DIR = out
        generate(out, PLUGIN)
        program = unittest.main(argv=[sys.argv[0]] + rest, exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
