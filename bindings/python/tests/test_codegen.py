"""python -m polyrpc.tools.protoc with the shipped protoc-gen-polyrpc plugin: the generated
grpcio-shaped stubs and servicer work on polyrpc (sync and asyncio)."""

import asyncio
import importlib
import sys
from concurrent import futures

import pytest

import polyrpc
import polyrpc.aio
from polyrpc.tools import protoc

PROTO = """
syntax = "proto3";
package codegen_demo;
message HelloRequest { string name = 1; }
message HelloReply { string message = 1; }
service Greeter {
  rpc SayHello (HelloRequest) returns (HelloReply);
  rpc SayMany (HelloRequest) returns (stream HelloReply);
  rpc Collect (stream HelloRequest) returns (HelloReply);
  rpc Chat (stream HelloRequest) returns (stream HelloReply);
}
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    assert protoc.plugin_path() is not None, \
        "protoc-gen-polyrpc is not shipped in this install (built without codegen/?)"
    d = tmp_path_factory.mktemp("gen")
    (d / "greeter.proto").write_text(PROTO)
    assert protoc.main(["-I" + str(d), "--python_out=" + str(d),
                        "--polyrpc_python_out=" + str(d), str(d / "greeter.proto")]) == 0
    sys.path.insert(0, str(d))
    try:
        yield (importlib.import_module("greeter_pb2"),
               importlib.import_module("greeter_pb2_polyrpc"))
    finally:
        sys.path.remove(str(d))


def _servicer(pb2, pb2_polyrpc):
    class Greeter(pb2_polyrpc.GreeterServicer):
        def SayHello(self, request, context):
            return pb2.HelloReply(message="hello " + request.name)

        def SayMany(self, request, context):
            for i in range(3):
                yield pb2.HelloReply(message="%s %d" % (request.name, i))

        def Collect(self, request_iterator, context):
            return pb2.HelloReply(message=",".join(r.name for r in request_iterator))
    return Greeter()


def test_generated_stubs_sync(generated):
    pb2, pb2_polyrpc = generated
    server = polyrpc.server(futures.ThreadPoolExecutor(4))
    pb2_polyrpc.add_GreeterServicer_to_server(_servicer(pb2, pb2_polyrpc), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with polyrpc.insecure_channel("127.0.0.1:%d" % port) as ch:
            stub = pb2_polyrpc.GreeterStub(ch)
            assert stub.SayHello(pb2.HelloRequest(name="you"), timeout=5).message == "hello you"
            assert [r.message for r in stub.SayMany(pb2.HelloRequest(name="n"), timeout=5)] == \
                ["n 0", "n 1", "n 2"]
            reply = stub.Collect(iter([pb2.HelloRequest(name=x) for x in "abc"]), timeout=5)
            assert reply.message == "a,b,c"
            # Chat is not overridden: the generated default answers UNIMPLEMENTED.
            with pytest.raises(polyrpc.RpcError) as info:
                list(stub.Chat(iter([pb2.HelloRequest()]), timeout=5))
            assert info.value.code() is polyrpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(0).wait(10)


def test_generated_stubs_asyncio(generated):
    pb2, pb2_polyrpc = generated
    server = polyrpc.server(futures.ThreadPoolExecutor(4))
    pb2_polyrpc.add_GreeterServicer_to_server(_servicer(pb2, pb2_polyrpc), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    async def main():
        async with polyrpc.aio.insecure_channel("127.0.0.1:%d" % port) as ch:
            stub = pb2_polyrpc.GreeterStub(ch)
            reply = await stub.SayHello(pb2.HelloRequest(name="aio"), timeout=5)
            assert reply.message == "hello aio"
            got = [r.message async for r in stub.SayMany(pb2.HelloRequest(name="s"), timeout=5)]
            assert got == ["s 0", "s 1", "s 2"]

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        server.stop(0).wait(10)


def test_missing_plugin_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(protoc, "plugin_path", lambda: None)
    assert protoc.main(["--polyrpc_python_out=.", "x.proto"]) == 2
    assert "protoc-gen-polyrpc plugin is not available" in capsys.readouterr().err
