"""Server.enable_health() and Server.enable_reflection() (sync and asyncio servers), checked
with grpcio's own clients (grpcio-health-checking's HealthStub, grpcio-reflection's
ProtoReflectionDescriptorDatabase) and, where the build tree has it, grpcurl."""

import asyncio
import json
import os
import shutil
import subprocess
from concurrent import futures

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

import polyrpc
import polyrpc.aio
from conftest import REPO

SERVICE = "polyrpc.test.Echo"
R = health_pb2.HealthCheckResponse


def _register_echo_proto():
    """polyrpc/test/echo.proto, made here and added to protobuf's default pool: a service whose
    messages come from an import (google/protobuf/wrappers.proto)."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName("polyrpc/test/echo.proto")
    except KeyError:
        pass
    f = descriptor_pb2.FileDescriptorProto(
        name="polyrpc/test/echo.proto", package="polyrpc.test", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    svc = f.service.add(name="Echo")
    svc.method.add(name="Say", input_type=".google.protobuf.StringValue",
                   output_type=".google.protobuf.StringValue")
    svc.method.add(name="Repeat", input_type=".google.protobuf.StringValue",
                   output_type=".google.protobuf.StringValue", server_streaming=True)
    pool.AddSerializedFile(f.SerializeToString())
    return pool.FindFileByName("polyrpc/test/echo.proto")


_register_echo_proto()


def _handlers():
    SV = wrappers_pb2.StringValue

    def say(request, context):
        return SV(value="echo: " + request.value)

    def repeat(request, context):
        for i in range(3):
            yield SV(value="%s %d" % (request.value, i))

    return polyrpc.method_handlers_generic_handler(SERVICE, {
        "Say": polyrpc.unary_unary_rpc_method_handler(
            say, request_deserializer=SV.FromString, response_serializer=SV.SerializeToString),
        "Repeat": polyrpc.unary_stream_rpc_method_handler(
            repeat, request_deserializer=SV.FromString, response_serializer=SV.SerializeToString),
    })


@pytest.fixture
def served():
    server = polyrpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((_handlers(),))
    health = server.enable_health()
    server.enable_reflection()
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    yield server, health, channel, port
    channel.close()
    server.stop(None).wait(10)


def test_health_check_with_grpcio(served):
    server, health, channel, _ = served
    stub = health_pb2_grpc.HealthStub(channel)
    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == R.SERVING
    with pytest.raises(grpc.RpcError) as e:
        stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    health.set(SERVICE, polyrpc.ServingStatus.SERVING)
    assert stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status == R.SERVING
    health.set(SERVICE, R.NOT_SERVING)  # grpcio-health-checking's values work too
    assert stub.Check(health_pb2.HealthCheckRequest(service=SERVICE),
                      timeout=5).status == R.NOT_SERVING
    health.set(SERVICE, "SERVING")
    assert stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status == R.SERVING
    health.clear(SERVICE)
    with pytest.raises(grpc.RpcError):
        stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    # The application's own service still works beside it.
    say = channel.unary_unary("/%s/Say" % SERVICE,
                              request_serializer=wrappers_pb2.StringValue.SerializeToString,
                              response_deserializer=wrappers_pb2.StringValue.FromString)
    assert say(wrappers_pb2.StringValue(value="hi"), timeout=5).value == "echo: hi"


def test_health_watch_and_stop(served):
    server, health, channel, _ = served
    stub = health_pb2_grpc.HealthStub(channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=20)
    assert next(watch).status == R.SERVICE_UNKNOWN
    health.set(SERVICE, polyrpc.ServingStatus.SERVING)
    assert next(watch).status == R.SERVING
    health.set(SERVICE, polyrpc.ServingStatus.NOT_SERVING)
    assert next(watch).status == R.NOT_SERVING
    health.set(SERVICE, polyrpc.ServingStatus.SERVING)
    assert next(watch).status == R.SERVING
    server.stop(5)
    assert next(watch).status == R.NOT_SERVING
    with pytest.raises(grpc.RpcError) as e:
        next(watch)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    health.set(SERVICE, polyrpc.ServingStatus.SERVING)  # ignored after the stop, no error


def test_health_argument_errors(served):
    _, health, _, _ = served
    with pytest.raises(ValueError):
        health.set(SERVICE, 7)
    with pytest.raises(ValueError):
        health.set(SERVICE, "FINE")
    with pytest.raises(TypeError):
        health.set(SERVICE, None)
    with pytest.raises(TypeError):
        health.set(None, 1)


def test_reflection_with_grpcio(served):
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import \
        ProtoReflectionDescriptorDatabase
    _, _, channel, _ = served
    db = ProtoReflectionDescriptorDatabase(channel)
    assert sorted(db.get_services()) == sorted([
        SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection"])
    pool = DescriptorPool(db)
    svc = pool.FindServiceByName(SERVICE)
    assert [m.name for m in svc.methods] == ["Say", "Repeat"]
    assert svc.methods_by_name["Repeat"].server_streaming
    assert svc.methods_by_name["Say"].input_type.full_name == "google.protobuf.StringValue"
    assert pool.FindServiceByName("grpc.health.v1.Health").methods_by_name["Watch"]


def test_reflection_explicit_names_and_files():
    """As grpcio-reflection's enable_server_reflection: explicit service names (unknown ones,
    like the reflection service's own, are fine), plus a FileDescriptor."""
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import \
        ProtoReflectionDescriptorDatabase
    server = polyrpc.server(futures.ThreadPoolExecutor(2))
    server.enable_reflection([SERVICE, "grpc.reflection.v1alpha.ServerReflection", "no.Such"],
                             file_descriptors=[wrappers_pb2.DESCRIPTOR])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
            db = ProtoReflectionDescriptorDatabase(channel)
            services = set(db.get_services())
            assert SERVICE in services  # from the pool: no handler is registered for it
            assert "grpc.health.v1.Health" not in services  # not enabled
            pool = DescriptorPool(db)
            assert pool.FindMessageTypeByName("google.protobuf.Int64Value").fields[0].name == \
                "value"
    finally:
        server.stop(None).wait(10)
    with pytest.raises(TypeError):
        polyrpc.server(futures.ThreadPoolExecutor(1)).enable_reflection(SERVICE)


def test_enable_after_start_fails(served):
    server = served[0]
    with pytest.raises(RuntimeError):
        server.enable_health()
    with pytest.raises(RuntimeError):
        server.enable_reflection()


def test_file_descriptor_set():
    data = polyrpc.file_descriptor_set([SERVICE])
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    assert [f.name for f in fds.file] == ["google/protobuf/wrappers.proto",
                                          "polyrpc/test/echo.proto"]
    assert polyrpc.file_descriptor_set(["no.Such"]) is None


def test_aio_server_health_and_reflection():
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import \
        ProtoReflectionDescriptorDatabase

    async def main():
        server = polyrpc.aio.server()
        server.add_generic_rpc_handlers((_handlers(),))
        health = server.enable_health()
        server.enable_reflection()
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            health.set(SERVICE, polyrpc.ServingStatus.NOT_SERVING)

            def probe():
                with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
                    st = health_pb2_grpc.HealthStub(ch).Check(
                        health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status
                    return st, set(ProtoReflectionDescriptorDatabase(ch).get_services())

            status, services = await asyncio.get_running_loop().run_in_executor(None, probe)
            assert status == R.NOT_SERVING
            assert SERVICE in services
        finally:
            await server.stop(None)

    asyncio.run(main())


GRPCURL = os.path.join(os.environ.get("POLYRPC_BUILD_DIR", os.path.join(REPO, "build")),
                       "tools", "grpcurl")


@pytest.mark.skipif(not os.access(GRPCURL, os.X_OK),
                    reason="no grpcurl in the build tree (target ecosystem_go_tools, needs Go)")
def test_grpcurl_against_python_server(served):
    _, health, _, port = served
    addr = "127.0.0.1:%d" % port

    def grpcurl(*args):
        r = subprocess.run([GRPCURL, "-plaintext"] + list(args), capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert SERVICE in grpcurl(addr, "list").split()
    out = grpcurl(addr, "describe", SERVICE)
    assert "rpc Repeat ( .google.protobuf.StringValue ) returns ( stream " \
           ".google.protobuf.StringValue );" in out
    assert json.loads(grpcurl("-d", '"there"', addr, SERVICE + "/Say")) == "echo: there"
    health.set(SERVICE, polyrpc.ServingStatus.SERVING)
    assert json.loads(grpcurl("-d", '{"service": "%s"}' % SERVICE, addr,
                              "grpc.health.v1.Health/Check")) == {"status": "SERVING"}
