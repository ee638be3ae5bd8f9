"""Wrong types and values give TypeError/ValueError with a clear message, never a crash."""

import pytest

import polyrpc
from polyrpc import _common
from conftest import path


def test_target_must_be_str():
    with pytest.raises(TypeError, match="target must be a str"):
        polyrpc.insecure_channel(b"localhost:1")
    with pytest.raises(TypeError):
        polyrpc.insecure_channel(1234)
    with pytest.raises(ValueError):
        polyrpc.insecure_channel("")


def test_malformed_target():
    with pytest.raises(ValueError):
        polyrpc.insecure_channel("ipv4:not-an-address:x:y")


def test_request_must_serialize_to_bytes(channel):
    with pytest.raises(TypeError, match="must be bytes after serialization"):
        channel.unary_unary(path("Echo"))("a str", timeout=5)
    with pytest.raises(TypeError, match="must be bytes after serialization"):
        channel.unary_unary(path("Echo"), request_serializer=lambda x: 42)(b"", timeout=5)
    with pytest.raises(TypeError):
        channel.unary_stream(path("Stream"))(None, timeout=5)


def test_bytes_like_requests_are_accepted(channel):
    assert channel.unary_unary(path("Echo"))(bytearray(b"ba"), timeout=5) == b"ba"
    assert channel.unary_unary(path("Echo"))(memoryview(b"mv"), timeout=5) == b"mv"


@pytest.mark.parametrize("metadata,exc", [
    ((("Upper-Case", "v"),), ValueError),
    ((("bad key!", "v"),), ValueError),
    ((("x-ok", "line\nbreak"),), ValueError),
    ((("content-type", "text/plain"),), ValueError),
    (((1, "v"),), TypeError),
    ((("x-ok", 5),), TypeError),
    ((("x-ok",),), ValueError),
    ("x-ok=v", TypeError),
    ((("x-ok", "v", "extra"),), ValueError),
])
def test_invalid_metadata(channel, metadata, exc):
    with pytest.raises(exc):
        channel.unary_unary(path("Echo"))(b"", metadata=metadata, timeout=5)


def test_timeouts():
    assert _common.timeout_ms(None) == -1
    assert _common.timeout_ms(0.0001) == 1
    assert _common.timeout_ms(2) == 2000
    with pytest.raises(ValueError, match="negative"):
        _common.timeout_ms(-1)
    with pytest.raises(TypeError):
        _common.timeout_ms("5")
    with pytest.raises(ValueError):
        _common.timeout_ms(float("nan"))


def test_negative_timeout_on_call(channel):
    with pytest.raises(ValueError, match="negative"):
        channel.unary_unary(path("Echo"))(b"", timeout=-1)


def test_method_and_options():
    with pytest.raises(ValueError):
        polyrpc.insecure_channel("localhost:1").unary_unary("no-slash")
    with pytest.raises(TypeError):
        polyrpc.insecure_channel("localhost:1").unary_unary(None)
    with pytest.raises(TypeError):
        polyrpc.insecure_channel("localhost:1", options={"a": 1})
    with pytest.raises(TypeError):
        polyrpc.insecure_channel("localhost:1", options=[("grpc.x", 1.5)])


def test_compression_and_status_values(channel):
    with pytest.raises(TypeError):
        channel.unary_unary(path("Echo"))(b"", compression="gzip", timeout=5)
    with pytest.raises(ValueError):
        _common.compression_name(7)
    with pytest.raises(ValueError):
        _common.status_to_int(17)
    assert _common.status_to_int(polyrpc.StatusCode.NOT_FOUND) == 5
    assert _common.status_from_int(99) is polyrpc.StatusCode.UNKNOWN


def test_server_argument_checks():
    with pytest.raises(TypeError):
        polyrpc.server(None)
    from concurrent import futures
    s = polyrpc.server(futures.ThreadPoolExecutor(1))
    with pytest.raises(TypeError):
        s.add_insecure_port(5000)
    with pytest.raises(RuntimeError):
        s.add_insecure_port("256.256.256.256:0")
    with pytest.raises(TypeError):
        s.add_generic_rpc_handlers([object()])
    with pytest.raises(TypeError):
        s.add_secure_port("127.0.0.1:0", "not credentials")
