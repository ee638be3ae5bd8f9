"""Shared fixtures: a bytes-level test service that runs on polyrpc or grpcio servers, running
servers, and a throwaway PKI from tools/gen-test-certs.sh."""

import os
import subprocess
import time
from concurrent import futures

import pytest

import polyrpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SERVICE = "test.Svc"


def path(method):
    return "/%s/%s" % (SERVICE, method)


def _echo_metadata(context):
    initial = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-echo-")]
    trailing = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-trail-")]
    if initial:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


def make_handlers(mod):
    """The test service for module mod (polyrpc or grpc): same behaviour on both servers."""

    def echo(request, context):
        _echo_metadata(context)
        return request

    def status(request, context):
        code_text, _, details = request.decode().partition(":")
        code = [c for c in mod.StatusCode if c.value[0] == int(code_text)][0]
        context.set_trailing_metadata((("x-why", "because"), ("x-bin-bin", b"\x00\xff")))
        context.abort(code, details)

    def set_code(request, context):
        context.set_code(mod.StatusCode.ALREADY_EXISTS)
        context.set_details("set, not raised")
        return b""

    def crash(request, context):
        raise RuntimeError("boom")

    def sleep(request, context):
        deadline = time.monotonic() + int(request) / 1000.0
        while time.monotonic() < deadline and context.is_active():
            time.sleep(0.005)
        return b"slept" if context.is_active() else b""

    def remaining(request, context):
        left = context.time_remaining()
        return b"none" if left is None else str(int(left * 1000)).encode()

    def peer(request, context):
        auth = [v for k, v in context.invocation_metadata() if k == "authorization"]
        return ("%s|%s" % (context.peer(), auth[0] if auth else "")).encode()

    def compressed(request, context):
        if request == b"gzip-reply":
            context.set_compression(mod.Compression.Gzip)
        flag = getattr(context, "last_request_compressed", None)
        return b"?" if flag is None else (b"1" if flag() else b"0")

    def stream(request, context):
        _echo_metadata(context)
        count, _, delay = request.decode().partition(":")
        for i in range(int(count)):
            if delay:
                time.sleep(int(delay) / 1000.0)
            yield b"%d" % i

    def stream_fail(request, context):
        yield b"first"
        context.abort(mod.StatusCode.DATA_LOSS, "after one")

    def sum_(request_iterator, context):
        _echo_metadata(context)
        return b"".join(request_iterator)

    def bidi(request_iterator, context):
        _echo_metadata(context)
        for request in request_iterator:
            yield request.upper()

    return mod.method_handlers_generic_handler(SERVICE, {
        "Echo": mod.unary_unary_rpc_method_handler(echo),
        "Status": mod.unary_unary_rpc_method_handler(status),
        "SetCode": mod.unary_unary_rpc_method_handler(set_code),
        "Crash": mod.unary_unary_rpc_method_handler(crash),
        "Sleep": mod.unary_unary_rpc_method_handler(sleep),
        "Remaining": mod.unary_unary_rpc_method_handler(remaining),
        "Peer": mod.unary_unary_rpc_method_handler(peer),
        "Compressed": mod.unary_unary_rpc_method_handler(compressed),
        "Stream": mod.unary_stream_rpc_method_handler(stream),
        "StreamFail": mod.unary_stream_rpc_method_handler(stream_fail),
        "Sum": mod.stream_unary_rpc_method_handler(sum_),
        "Bidi": mod.stream_stream_rpc_method_handler(bidi),
    })


class RunningServer:
    def __init__(self, server, port):
        self.server = server
        self.port = port
        self.target = "127.0.0.1:%d" % port

    def stop(self):
        self.server.stop(0).wait(10)


def start_server(mod=polyrpc, credentials=None, interceptors=None, options=None):
    server = mod.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=interceptors,
                        options=options)
    server.add_generic_rpc_handlers([make_handlers(mod)])
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return RunningServer(server, port)


@pytest.fixture(scope="module")
def server():
    s = start_server()
    yield s
    s.stop()


@pytest.fixture
def channel(server):
    with polyrpc.insecure_channel(server.target) as ch:
        yield ch


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.check_call(["bash", os.path.join(REPO, "tools", "gen-test-certs.sh"), str(d)],
                          timeout=120)

    def read(name):
        with open(os.path.join(d, name), "rb") as f:
            return f.read()

    return {name: read(name) for name in ("ca.pem", "server.pem", "server.key", "client.pem",
                                          "client.key")}
