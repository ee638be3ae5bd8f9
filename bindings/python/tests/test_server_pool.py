"""How the sync server uses the application's executor: serving loops on a ThreadPoolExecutor
that give threads back to other work and end with the server or the executor, and the
dispatcher design for other executors and for maximum_concurrent_rpcs."""

import threading
import time
from concurrent import futures

import pytest

import polyrpc
from conftest import make_handlers, path


def _serve(pool, **kw):
    def fanout(request, context):
        return pool.submit(lambda: request + b"-sub").result(timeout=5)

    server = polyrpc.server(pool, **kw)
    server.add_generic_rpc_handlers([make_handlers(polyrpc)])
    server.add_generic_rpc_handlers([polyrpc.method_handlers_generic_handler(
        "test.Pool", {"Fanout": polyrpc.unary_unary_rpc_method_handler(fanout)})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, "127.0.0.1:%d" % port


def _exercise(target):
    """Unary, server-streaming, client-streaming and bidi calls all work."""
    with polyrpc.insecure_channel(target) as ch:
        assert ch.unary_unary(path("Echo"))(b"hi", timeout=5) == b"hi"
        assert list(ch.unary_stream(path("Stream"))(b"3", timeout=5)) == [b"0", b"1", b"2"]
        assert ch.stream_unary(path("Sum"))(iter([b"1", b"2"]), timeout=5) == b"12"
        assert list(ch.stream_stream(path("Bidi"))(iter([b"a", b"b"]), timeout=5)) == [b"A", b"B"]
        with pytest.raises(polyrpc.RpcError) as info:
            ch.unary_unary(path("Nope"))(b"", timeout=5)
        assert info.value.code() is polyrpc.StatusCode.UNIMPLEMENTED


def test_thread_pool_gives_threads_back_to_other_work():
    pool = futures.ThreadPoolExecutor(max_workers=3)
    server, target = _serve(pool)
    try:
        _exercise(target)
        # Both pool threads run serving loops; work submitted by the application still runs.
        assert pool.submit(lambda: 42).result(timeout=5) == 42
        # Handlers may wait for work they hand to the same executor (with a thread to spare,
        # as grpcio needs too), while the application submits its own work.
        with polyrpc.insecure_channel(target) as ch:
            fanout = ch.unary_unary("/test.Pool/Fanout")
            results = []

            def client():
                results.append(fanout(b"x", timeout=5))
                results.append(pool.submit(lambda: b"side").result(timeout=5))

            for _ in range(3):
                threads = [threading.Thread(target=client) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(10)
            assert sorted(results) == [b"side"] * 6 + [b"x-sub"] * 6
        _exercise(target)  # and the loops came back
    finally:
        assert server.stop(None).wait(10)
    # The loops end with the server: the executor shuts down without waiting on them.
    t = threading.Thread(target=pool.shutdown, kwargs={"wait": True})
    t.start()
    t.join(10)
    assert not t.is_alive()


def test_executor_shut_down_under_a_running_server_rejects_calls():
    pool = futures.ThreadPoolExecutor(max_workers=2)
    server, target = _serve(pool)
    try:
        _exercise(target)
        pool.shutdown(wait=False)
        deadline = time.monotonic() + 10
        with polyrpc.insecure_channel(target) as ch:
            while True:
                try:
                    ch.unary_unary(path("Echo"))(b"x", timeout=5)
                except polyrpc.RpcError as e:
                    assert e.code() is polyrpc.StatusCode.UNAVAILABLE
                    break
                assert time.monotonic() < deadline, "calls still served after the pool shut down"
                time.sleep(0.05)
    finally:
        assert server.stop(None).wait(10)


class _OwnExecutor(futures.Executor):
    """Not a ThreadPoolExecutor: the server hands it one call at a time."""

    def __init__(self):
        self.submitted = 0
        self._pool = futures.ThreadPoolExecutor(4)

    def submit(self, fn, *args, **kwargs):
        self.submitted += 1
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, **kwargs):
        self._pool.shutdown(wait)


def test_other_executors_get_one_task_per_call():
    pool = _OwnExecutor()
    server, target = _serve(pool)
    try:
        _exercise(target)
        assert pool.submitted == 4  # the four calls of _exercise to registered methods
    finally:
        assert server.stop(None).wait(10)
        pool.shutdown()


def test_maximum_concurrent_rpcs():
    pool = futures.ThreadPoolExecutor(max_workers=4)
    server, target = _serve(pool, maximum_concurrent_rpcs=1)
    try:
        _exercise(target)
        with polyrpc.insecure_channel(target) as ch:
            slow = ch.unary_unary(path("Sleep")).future(b"500", timeout=10)
            time.sleep(0.2)
            with pytest.raises(polyrpc.RpcError) as info:
                ch.unary_unary(path("Echo"))(b"x", timeout=5)
            assert info.value.code() is polyrpc.StatusCode.RESOURCE_EXHAUSTED
            assert slow.result(10) == b"slept"
            assert ch.unary_unary(path("Echo"))(b"y", timeout=5) == b"y"  # the slot came back
    finally:
        assert server.stop(None).wait(10)
        pool.shutdown()
