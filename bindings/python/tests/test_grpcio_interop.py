"""Interop with real gRPC (grpcio): a grpcio server called by a polyrpc client and a polyrpc
server called by a grpcio client, over plaintext and TLS."""

import grpc
import pytest

import polyrpc
from conftest import path, start_server


@pytest.fixture(scope="module")
def grpcio_server():
    s = start_server(mod=grpc)
    yield s
    s.stop()


def test_polyrpc_client_grpcio_server(grpcio_server):
    with polyrpc.insecure_channel(grpcio_server.target) as ch:
        response, call = ch.unary_unary(path("Echo")).with_call(
            b"to grpcio", metadata=(("x-echo-a", "1"), ("x-trail-b-bin", b"\x00\x01")), timeout=5)
        assert response == b"to grpcio"
        assert ("x-echo-a", "1") in call.initial_metadata()
        assert ("x-trail-b-bin", b"\x00\x01") in call.trailing_metadata()
        assert list(ch.unary_stream(path("Stream"))(b"3", timeout=5)) == [b"0", b"1", b"2"]
        assert ch.stream_unary(path("Sum"))(iter([b"p", b"q"]), timeout=5) == b"pq"
        assert list(ch.stream_stream(path("Bidi"))(iter([b"z"]), timeout=5)) == [b"Z"]
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Status"))(b"11:range", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.OUT_OF_RANGE
        assert info.value.details() == "range"
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Sleep"))(b"3000", timeout=0.2)
        assert info.value.code() is polyrpc.StatusCode.DEADLINE_EXCEEDED
        big = b"\x07" * 1_000_000
        assert ch.unary_unary(path("Echo"))(big, timeout=10,
                                            compression=polyrpc.Compression.Gzip) == big


def test_grpcio_client_polyrpc_server(server):
    with grpc.insecure_channel(server.target) as ch:
        response, call = ch.unary_unary(path("Echo")).with_call(
            b"from grpcio", metadata=(("x-echo-a", "1"), ("x-trail-b-bin", b"\xff")), timeout=5)
        assert response == b"from grpcio"
        assert ("x-echo-a", "1") in [tuple(m) for m in call.initial_metadata()]
        assert ("x-trail-b-bin", b"\xff") in [tuple(m) for m in call.trailing_metadata()]
        assert list(ch.unary_stream(path("Stream"))(b"3", timeout=5)) == [b"0", b"1", b"2"]
        assert ch.stream_unary(path("Sum"))(iter([b"p", b"q"]), timeout=5) == b"pq"
        assert list(ch.stream_stream(path("Bidi"))(iter([b"z"]), timeout=5)) == [b"Z"]
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary(path("Status"))(b"14:down", timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert info.value.details() == "down"
        assert ch.unary_unary(path("Compressed"))(b"c" * 100, timeout=5,
                                                  compression=grpc.Compression.Gzip) == b"1"
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary("/test.Svc/Missing")(b"", timeout=5)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_tls_both_ways(certs):
    server_creds = (certs["server.key"], certs["server.pem"])
    g = start_server(mod=grpc, credentials=grpc.ssl_server_credentials([server_creds]))
    p = start_server(credentials=polyrpc.ssl_server_credentials([server_creds]))
    try:
        with polyrpc.secure_channel("localhost:%d" % g.port,
                                    polyrpc.ssl_channel_credentials(certs["ca.pem"])) as ch:
            assert ch.unary_unary(path("Echo"))(b"tls1", timeout=5) == b"tls1"
        with grpc.secure_channel("localhost:%d" % p.port,
                                 grpc.ssl_channel_credentials(certs["ca.pem"])) as ch:
            assert ch.unary_unary(path("Echo"))(b"tls2", timeout=5) == b"tls2"
    finally:
        g.stop()
        p.stop()
