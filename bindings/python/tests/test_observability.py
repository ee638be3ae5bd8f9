"""polyrpc.observability: metrics after real calls, the Prometheus endpoint, log level, and
traceparent propagation seen by a grpcio server."""

import re
import urllib.request
from concurrent import futures

import grpc
import pytest

import polyrpc
import polyrpc.observability as obs

ECHO = "/obs.Test/Echo"


def _grpcio_server(seen):
    def echo(request, context):
        seen.append(dict(context.invocation_metadata()).get("traceparent"))
        return request
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "obs.Test", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_metrics_count_calls_and_serve_prometheus():
    seen = []
    server, port = _grpcio_server(seen)
    try:
        before = obs.metric("client.calls_finished.OK")
        sent = obs.metric("client.bytes_sent")
        with polyrpc.insecure_channel("127.0.0.1:%d" % port) as ch:
            echo = ch.unary_unary(ECHO)
            for _ in range(3):
                assert echo(b"abc", timeout=5) == b"abc"
        assert obs.metric("client.calls_finished.OK") - before == 3
        assert obs.metric("client.bytes_sent") - sent == 3 * 8
        assert obs.metric("no.such") is None
        text = obs.metrics_text()
        assert re.search(r'^polyrpc_client_calls_finished_total\{code="OK"\} \d+$', text, re.M)
        http_port = obs.serve_metrics("127.0.0.1:0")
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5).read()
        assert b"# TYPE polyrpc_client_call_duration_seconds histogram" in body
    finally:
        server.stop(None)


def test_log_level():
    old = obs.log_level()
    obs.set_log_level("error")
    assert obs.log_level() == "error"
    with pytest.raises(ValueError):
        obs.set_log_level("loud")
    obs.set_log_level(old)


def test_traceparent_propagation():
    seen = []
    server, port = _grpcio_server(seen)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    try:
        with polyrpc.insecure_channel("127.0.0.1:%d" % port) as ch:
            echo = ch.unary_unary(ECHO)
            echo(b"", timeout=5)
            obs.set_trace_propagation(True)
            try:
                echo(b"", timeout=5)
                obs.set_current_traceparent(parent)
                echo(b"", timeout=5)
                obs.set_current_traceparent(None)
            finally:
                obs.set_trace_propagation(False)
    finally:
        server.stop(None)
    assert seen[0] is None
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", seen[1])
    assert seen[2].startswith(parent[:36]) and seen[2] != parent
