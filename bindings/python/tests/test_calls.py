"""The sync API end to end over loopback: the four call types, futures, metadata, status,
deadlines, cancellation, compression."""

import threading
import time

import pytest

import polyrpc
from conftest import path


def test_unary(channel):
    assert channel.unary_unary(path("Echo"))(b"hello", timeout=5) == b"hello"


def test_unary_empty_and_large(channel):
    echo = channel.unary_unary(path("Echo"))
    assert echo(b"", timeout=5) == b""
    big = bytes(range(256)) * 8192  # 2 MiB
    assert echo(big, timeout=10) == big


def test_serializers(channel):
    echo = channel.unary_unary(path("Echo"), request_serializer=lambda s: s.encode(),
                               response_deserializer=lambda b: b.decode() + "!")
    assert echo("text", timeout=5) == "text!"


def test_with_call_and_metadata(channel):
    md = (("x-echo-a", "1"), ("x-echo-bin", b"\x00\x01\xfe\xff"), ("x-trail-t", "tv"),
          ("x-trail-t-bin", bytes(range(256))))
    response, call = channel.unary_unary(path("Echo")).with_call(b"m", metadata=md, timeout=5)
    assert response == b"m"
    assert call.code() is polyrpc.StatusCode.OK
    assert ("x-echo-a", "1") in call.initial_metadata()
    assert ("x-echo-bin", b"\x00\x01\xfe\xff") in call.initial_metadata()
    assert ("x-trail-t", "tv") in call.trailing_metadata()
    assert ("x-trail-t-bin", bytes(range(256))) in call.trailing_metadata()


def test_future(channel):
    futs = [channel.unary_unary(path("Echo")).future(b"%d" % i, timeout=5) for i in range(50)]
    assert [f.result(timeout=10) for f in futs] == [b"%d" % i for i in range(50)]
    assert all(f.done() and f.code() is polyrpc.StatusCode.OK for f in futs)


def test_future_callback_and_error(channel):
    done = threading.Event()
    seen = []
    fut = channel.unary_unary(path("Status")).future(b"5:nope", timeout=5)
    fut.add_done_callback(lambda f: (seen.append(f.code()), done.set()))
    assert done.wait(10)
    assert seen == [polyrpc.StatusCode.NOT_FOUND]
    assert isinstance(fut.exception(), polyrpc.RpcError)
    with pytest.raises(polyrpc.RpcError) as info:
        fut.result()
    assert info.value.details() == "nope"


@pytest.mark.parametrize("code", [c for c in polyrpc.StatusCode if c is not polyrpc.StatusCode.OK])
def test_status_codes(channel, code):
    with pytest.raises(polyrpc.RpcError) as info:
        channel.unary_unary(path("Status"))(b"%d:d\xc3\xa9tails \xe2\x9c\x93" % code.value[0],
                                           timeout=5)
    err = info.value
    assert err.code() is code
    assert err.details() == "d\u00e9tails \u2713"
    assert ("x-why", "because") in err.trailing_metadata()
    assert ("x-bin-bin", b"\x00\xff") in err.trailing_metadata()


def test_set_code_without_exception(channel):
    with pytest.raises(polyrpc.RpcError) as info:
        channel.unary_unary(path("SetCode"))(b"", timeout=5)
    assert info.value.code() is polyrpc.StatusCode.ALREADY_EXISTS
    assert info.value.details() == "set, not raised"


def test_handler_exception_is_unknown(channel):
    with pytest.raises(polyrpc.RpcError) as info:
        channel.unary_unary(path("Crash"))(b"", timeout=5)
    assert info.value.code() is polyrpc.StatusCode.UNKNOWN
    assert "boom" in info.value.details()


def test_unimplemented(channel):
    with pytest.raises(polyrpc.RpcError) as info:
        channel.unary_unary("/test.Svc/Missing")(b"", timeout=5)
    assert info.value.code() is polyrpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(polyrpc.RpcError) as info:
        channel.unary_unary("/no.Such/Service")(b"", timeout=5)
    assert info.value.code() is polyrpc.StatusCode.UNIMPLEMENTED


def test_server_streaming(channel):
    call = channel.unary_stream(path("Stream"))(b"5", timeout=5, metadata=(("x-echo-s", "v"),))
    assert list(call) == [b"0", b"1", b"2", b"3", b"4"]
    assert call.code() is polyrpc.StatusCode.OK
    assert ("x-echo-s", "v") in call.initial_metadata()


def test_server_streaming_error_after_message(channel):
    call = channel.unary_stream(path("StreamFail"))(b"", timeout=5)
    assert next(call) == b"first"
    with pytest.raises(polyrpc.RpcError) as info:
        next(call)
    assert info.value.code() is polyrpc.StatusCode.DATA_LOSS
    assert call.details() == "after one"


def test_client_streaming(channel):
    sink = channel.stream_unary(path("Sum"))
    assert sink(iter([b"a", b"bc", b"def"]), timeout=5) == b"abcdef"
    response, call = sink.with_call(iter([]), timeout=5, metadata=(("x-trail-k", "v"),))
    assert response == b""
    assert ("x-trail-k", "v") in call.trailing_metadata()
    assert sink.future(iter([b"x"] * 100), timeout=5).result(10) == b"x" * 100


def test_bidi_streaming(channel):
    responses = channel.stream_stream(path("Bidi"))(iter([b"a", b"b", b"c"]), timeout=5)
    assert list(responses) == [b"A", b"B", b"C"]
    assert responses.code() is polyrpc.StatusCode.OK


def test_bidi_interleaved(channel):
    import queue
    q = queue.Queue()

    def requests():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    responses = channel.stream_stream(path("Bidi"))(requests(), timeout=5)
    for word in (b"ping", b"pong", b"x"):
        q.put(word)
        assert next(responses) == word.upper()
    q.put(None)
    assert list(responses) == []


def test_request_iterator_exception(channel):
    def requests():
        yield b"a"
        raise ValueError("broken iterator")

    with pytest.raises(polyrpc.RpcError) as info:
        channel.stream_unary(path("Sum"))(requests(), timeout=5)
    assert info.value.code() is polyrpc.StatusCode.UNKNOWN
    assert "broken iterator" in info.value.details()


def test_deadline_exceeded(channel):
    start = time.monotonic()
    with pytest.raises(polyrpc.RpcError) as info:
        channel.unary_unary(path("Sleep"))(b"3000", timeout=0.2)
    assert info.value.code() is polyrpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 2.0


def test_deadline_on_stream(channel):
    call = channel.unary_stream(path("Stream"))(b"100:50", timeout=0.3)
    got = []
    with pytest.raises(polyrpc.RpcError) as info:
        for item in call:
            got.append(item)
    assert info.value.code() is polyrpc.StatusCode.DEADLINE_EXCEEDED
    assert 0 < len(got) < 100


def test_deadline_propagates_to_server(channel):
    left = int(channel.unary_unary(path("Remaining"))(b"", timeout=5))
    assert 0 < left <= 5000
    assert channel.unary_unary(path("Remaining"))(b"") == b"none"


def test_cancel_stream_from_another_thread(channel):
    call = channel.unary_stream(path("Stream"))(b"1000:20", timeout=30)
    assert next(call) == b"0"
    threading.Timer(0.1, call.cancel).start()
    start = time.monotonic()
    with pytest.raises(polyrpc.RpcError) as info:
        for _ in call:
            pass
    assert info.value.code() is polyrpc.StatusCode.CANCELLED
    assert time.monotonic() - start < 5
    assert not call.is_active()


def test_cancel_future(channel):
    fut = channel.unary_unary(path("Sleep")).future(b"5000", timeout=30)
    assert fut.cancel()
    assert fut.cancelled()
    with pytest.raises(polyrpc.FutureCancelledError):
        fut.result(timeout=5)
    # the channel stays usable
    assert channel.unary_unary(path("Echo"))(b"after", timeout=5) == b"after"


def test_compression(channel):
    check = channel.unary_unary(path("Compressed"))
    payload = b"x" * 1000
    assert check(payload, timeout=5, compression=polyrpc.Compression.Gzip) == b"1"
    assert check(payload, timeout=5, compression=polyrpc.Compression.Deflate) == b"1"
    assert check(payload, timeout=5) == b"0"
    assert check(b"gzip-reply", timeout=5) == b"0"  # server compresses its reply; still readable


def test_channel_compression_option(server):
    with polyrpc.insecure_channel(server.target, compression=polyrpc.Compression.Gzip) as ch:
        assert ch.unary_unary(path("Compressed"))(b"y" * 500, timeout=5) == b"1"


def test_peer(server):
    with polyrpc.insecure_channel(server.target) as ch:
        peer, _, auth = ch.unary_unary(path("Peer"))(b"", timeout=5).decode().partition("|")
    assert peer.startswith("ipv4:127.0.0.1:")
    assert auth == ""


def test_wait_for_ready_and_unavailable():
    # Nothing listens on this port: fail fast with UNAVAILABLE.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with polyrpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Echo"))(b"", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.UNAVAILABLE
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Echo"))(b"", timeout=0.3, wait_for_ready=True)
        assert info.value.code() is polyrpc.StatusCode.DEADLINE_EXCEEDED


def test_closed_channel(server):
    ch = polyrpc.insecure_channel(server.target)
    assert ch.unary_unary(path("Echo"))(b"x", timeout=5) == b"x"
    ch.close()
    with pytest.raises(ValueError):
        ch.unary_unary(path("Echo"))(b"x", timeout=5)


def test_many_threads_share_a_channel(channel):
    errors = []

    def worker(n):
        try:
            for i in range(30):
                data = b"%d-%d" % (n, i)
                assert channel.unary_unary(path("Echo"))(data, timeout=5) == data
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


def test_server_stop_grace(server):
    s = __import__("conftest").start_server()
    with polyrpc.insecure_channel(s.target) as ch:
        fut = ch.unary_unary(path("Sleep")).future(b"300", timeout=10)
        time.sleep(0.1)
        done = s.server.stop(grace=5)
        assert fut.result(timeout=10) == b"slept"  # in-flight call finished within the grace
        assert done.wait(10)
        assert s.server.wait_for_termination(timeout=1) is False
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Echo"))(b"", timeout=2)
        assert info.value.code() is polyrpc.StatusCode.UNAVAILABLE


def test_zero_copy_send_releases_each_message_exactly_once(channel):
    import sys
    from polyrpc import _polyrpc
    assert _polyrpc.ZERO_COPY_SEND is True  # the loaded libpolyrpc passed the import probe
    data = bytes(bytearray(b"z" * 100000))  # a private object: only this test refers to it
    base = sys.getrefcount(data)
    echo = channel.unary_unary(path("Echo"))
    for _ in range(20):
        assert echo(data, timeout=5) == data
    fut = echo.future(data, timeout=5)
    assert fut.result(5) == data
    list(channel.stream_stream(path("Bidi"))(iter([data, data]), timeout=5))
    # References held by the core come back from I/O threads asynchronously.
    deadline = time.monotonic() + 5
    while sys.getrefcount(data) != base and time.monotonic() < deadline:
        _polyrpc.drain_releases()
        time.sleep(0.01)
    assert sys.getrefcount(data) == base


@pytest.mark.parametrize("busy_poll_us", [0, 200])
def test_busy_polling_channel(server, busy_poll_us):
    """A channel whose blocked calls busy-poll for a fixed time, or never (polyrpc.busy_poll_us;
    the other tests use the adaptive default), behaves like any other: unary and streaming
    calls, deadlines, cancellation from another thread."""
    with polyrpc.insecure_channel(server.target,
                                  options=[("polyrpc.busy_poll_us", busy_poll_us)]) as ch:
        echo = ch.unary_unary(path("Echo"))
        assert [echo(b"%d" % i, timeout=5) for i in range(100)] == [b"%d" % i for i in range(100)]
        assert list(ch.unary_stream(path("Stream"))(b"5:0", timeout=5)) == \
            [b"0", b"1", b"2", b"3", b"4"]
        start = time.monotonic()
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Sleep"))(b"5000", timeout=0.2)
        assert info.value.code() is polyrpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 3
        call = ch.unary_stream(path("Stream"))(b"1000:20", timeout=30)
        assert next(call) == b"0"
        threading.Timer(0.1, call.cancel).start()
        with pytest.raises(polyrpc.RpcError) as info:
            for _ in call:
                pass
        assert info.value.code() is polyrpc.StatusCode.CANCELLED
