"""Client interceptors (grpcio's four shapes via intercept_channel) and server interceptors."""

import collections

import pytest

import polyrpc
from conftest import path, start_server


class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")),
               polyrpc.ClientCallDetails):
    pass


class AddHeader(polyrpc.UnaryUnaryClientInterceptor, polyrpc.UnaryStreamClientInterceptor,
                polyrpc.StreamUnaryClientInterceptor, polyrpc.StreamStreamClientInterceptor):
    def __init__(self, log):
        self.log = log

    def _details(self, d):
        md = list(d.metadata or ()) + [("x-trail-added", "yes")]
        return _Details(d.method, d.timeout, md, d.credentials, d.wait_for_ready, d.compression)

    def intercept_unary_unary(self, continuation, details, request):
        self.log.append(("uu", details.method))
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        self.log.append(("us", details.method))
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        self.log.append(("su", details.method))
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        self.log.append(("ss", details.method))
        return continuation(self._details(details), request_iterator)


class Rewrite(polyrpc.UnaryUnaryClientInterceptor):
    """Changes the request and the response."""

    def intercept_unary_unary(self, continuation, details, request):
        outcome = continuation(details, request + b"+in")
        return _Result(outcome.result() + b"+out", outcome)


class _Result:
    def __init__(self, value, call):
        self._value, self._call = value, call

    def result(self, timeout=None):
        return self._value

    def trailing_metadata(self):
        return self._call.trailing_metadata()


def test_client_interceptors_all_kinds(server):
    log = []
    with polyrpc.insecure_channel(server.target) as base:
        ch = polyrpc.intercept_channel(base, AddHeader(log))
        response, call = ch.unary_unary(path("Echo")).with_call(b"a", timeout=5)
        assert response == b"a"
        assert ("x-trail-added", "yes") in call.trailing_metadata()
        assert list(ch.unary_stream(path("Stream"))(b"2", timeout=5)) == [b"0", b"1"]
        assert ch.stream_unary(path("Sum"))(iter([b"x", b"y"]), timeout=5) == b"xy"
        assert list(ch.stream_stream(path("Bidi"))(iter([b"q"]), timeout=5)) == [b"Q"]
        assert ch.unary_unary(path("Echo")).future(b"f", timeout=5).result() == b"f"
    assert [k for k, _ in log] == ["uu", "us", "su", "ss", "uu"]
    assert all(m.startswith("/test.Svc/") for _, m in log)


def test_client_interceptor_order_and_rewrite(server):
    log = []
    with polyrpc.insecure_channel(server.target) as base:
        ch = polyrpc.intercept_channel(base, AddHeader(log), Rewrite())
        assert ch.unary_unary(path("Echo"))(b"req", timeout=5) == b"req+in+out"


def test_client_interceptor_sees_errors(server):
    with polyrpc.insecure_channel(server.target) as base:
        ch = polyrpc.intercept_channel(base, AddHeader([]))
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Status"))(b"7:denied", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.PERMISSION_DENIED


def test_intercept_channel_rejects_non_interceptors(server):
    with polyrpc.insecure_channel(server.target) as base:
        with pytest.raises(TypeError):
            polyrpc.intercept_channel(base, object())


class Deny(polyrpc.ServerInterceptor):
    """Rejects calls without x-key: ok, and records every method it saw."""

    def __init__(self):
        self.seen = []

    def intercept_service(self, continuation, details):
        self.seen.append(details.method)
        if ("x-key", "ok") not in details.invocation_metadata:
            def deny(request, context):
                context.abort(polyrpc.StatusCode.UNAUTHENTICATED, "no key")
            return polyrpc.unary_unary_rpc_method_handler(deny)
        return continuation(details)


def test_server_interceptor():
    deny = Deny()
    s = start_server(interceptors=[deny])
    try:
        with polyrpc.insecure_channel(s.target) as ch:
            echo = ch.unary_unary(path("Echo"))
            assert echo(b"in", metadata=(("x-key", "ok"),), timeout=5) == b"in"
            with pytest.raises(polyrpc.RpcError) as info:
                echo(b"in", timeout=5)
            assert info.value.code() is polyrpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(polyrpc.RpcError) as info:
                ch.unary_unary("/test.Svc/Nope")(b"", metadata=(("x-key", "ok"),), timeout=5)
            assert info.value.code() is polyrpc.StatusCode.UNIMPLEMENTED
        assert deny.seen == [path("Echo"), path("Echo"), "/test.Svc/Nope"]
    finally:
        s.stop()
