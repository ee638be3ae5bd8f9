"""asyncio client and server (polyrpc.aio), driven by the completion queue's fd."""

import asyncio
import threading

import pytest

import polyrpc
import polyrpc.aio
from conftest import SERVICE, path


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_aio_client_all_call_types(server):
    async def main():
        async with polyrpc.aio.insecure_channel(server.target) as ch:
            assert await ch.unary_unary(path("Echo"))(b"hi", timeout=5) == b"hi"
            got = [m async for m in ch.unary_stream(path("Stream"))(b"3", timeout=5)]
            assert got == [b"0", b"1", b"2"]
            assert await ch.stream_unary(path("Sum"))(iter([b"a", b"b"]), timeout=5) == b"ab"

            async def gen():
                for w in (b"x", b"y"):
                    yield w
            got = [m async for m in ch.stream_stream(path("Bidi"))(gen(), timeout=5)]
            assert got == [b"X", b"Y"]
            call = ch.stream_stream(path("Bidi"))(timeout=5)
            await call.write(b"one")
            assert await call.read() == b"ONE"
            await call.done_writing()
            assert await call.read() is polyrpc.aio.EOF
            assert await call.code() is polyrpc.StatusCode.OK
    run(main())


def test_aio_concurrency_and_no_helper_thread(server):
    async def main():
        async with polyrpc.aio.insecure_channel(server.target) as ch:
            echo = ch.unary_unary(path("Echo"))
            await echo(b"warm", timeout=5)
            before = set(threading.enumerate())
            results = await asyncio.gather(*[echo(b"%d" % i, timeout=10) for i in range(200)])
            assert results == [b"%d" % i for i in range(200)]
            # Completions arrive through loop.add_reader on the queue's fd: no new thread
            # (other than the in-process test server's own ThreadPoolExecutor workers).
            new = [t.name for t in set(threading.enumerate()) - before
                   if not t.name.startswith("ThreadPoolExecutor")]
            assert new == []
    run(main())


def test_aio_errors_metadata_deadline(server):
    async def main():
        async with polyrpc.aio.insecure_channel(server.target) as ch:
            with pytest.raises(polyrpc.aio.AioRpcError) as info:
                await ch.unary_unary(path("Status"))(b"9:pre", timeout=5)
            assert info.value.code() is polyrpc.StatusCode.FAILED_PRECONDITION
            assert info.value.details() == "pre"
            assert ("x-why", "because") in info.value.trailing_metadata()
            call = ch.unary_unary(path("Echo"))(b"m", timeout=5,
                                                metadata=(("x-echo-k", "v"), ("x-trail-t", "w")))
            assert await call == b"m"
            assert ("x-echo-k", "v") in await call.initial_metadata()
            assert ("x-trail-t", "w") in await call.trailing_metadata()
            with pytest.raises(polyrpc.RpcError) as info:
                await ch.unary_unary(path("Sleep"))(b"3000", timeout=0.2)
            assert info.value.code() is polyrpc.StatusCode.DEADLINE_EXCEEDED
            stream = ch.unary_stream(path("StreamFail"))(b"", timeout=5)
            assert await stream.read() == b"first"
            with pytest.raises(polyrpc.aio.AioRpcError) as info:
                await stream.read()
            assert info.value.code() is polyrpc.StatusCode.DATA_LOSS
    run(main())


def test_aio_cancel(server):
    async def main():
        async with polyrpc.aio.insecure_channel(server.target) as ch:
            call = ch.unary_unary(path("Sleep"))(b"5000", timeout=30)
            await asyncio.sleep(0.05)
            assert call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert await call.code() is polyrpc.StatusCode.CANCELLED
            # Cancelling the awaiting task cancels the RPC too.
            task = asyncio.ensure_future(ch.unary_unary(path("Sleep"))(b"5000", timeout=30))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Only the awaiting task's wait is cancelled: the call still reports its status to
            # other awaiters and done-callbacks.
            call = ch.unary_unary(path("Sleep"))(b"5000", timeout=30)
            seen = []
            call.add_done_callback(lambda c: seen.append(c.done()))

            async def wait_call():
                return await call

            waiter = asyncio.ensure_future(wait_call())
            await asyncio.sleep(0.05)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert await asyncio.wait_for(call.code(), 5) is polyrpc.StatusCode.CANCELLED
            await asyncio.sleep(0)
            assert seen == [True]
            assert await ch.unary_unary(path("Echo"))(b"ok", timeout=5) == b"ok"
    run(main())


def _aio_handlers():
    async def echo(request, context):
        context.set_trailing_metadata((("x-peer-seen", "1" if context.peer() else "0"),))
        return request

    async def stream(request, context):
        for i in range(int(request)):
            yield b"%d" % i

    async def sum_(request_iterator, context):
        return b"".join([r async for r in request_iterator])

    async def bidi(request_iterator, context):
        async for r in request_iterator:
            yield r[::-1]

    async def fail(request, context):
        await context.abort(polyrpc.StatusCode.OUT_OF_RANGE, "too far")

    def sync_echo(request, context):
        return request + b"!"

    return polyrpc.method_handlers_generic_handler(SERVICE, {
        "Echo": polyrpc.unary_unary_rpc_method_handler(echo),
        "Stream": polyrpc.unary_stream_rpc_method_handler(stream),
        "Sum": polyrpc.stream_unary_rpc_method_handler(sum_),
        "Bidi": polyrpc.stream_stream_rpc_method_handler(bidi),
        "Fail": polyrpc.unary_unary_rpc_method_handler(fail),
        "Sync": polyrpc.unary_unary_rpc_method_handler(sync_echo),
    })


def test_aio_server_with_aio_and_sync_clients():
    async def main():
        server = polyrpc.aio.server()
        server.add_generic_rpc_handlers([_aio_handlers()])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        target = "127.0.0.1:%d" % port
        async with polyrpc.aio.insecure_channel(target) as ch:
            call = ch.unary_unary(path("Echo"))(b"e", timeout=5)
            assert await call == b"e"
            assert ("x-peer-seen", "1") in await call.trailing_metadata()
            assert [m async for m in ch.unary_stream(path("Stream"))(b"4", timeout=5)] == \
                [b"0", b"1", b"2", b"3"]
            assert await ch.stream_unary(path("Sum"))(iter([b"1", b"2"]), timeout=5) == b"12"
            assert [m async for m in ch.stream_stream(path("Bidi"))(iter([b"ab"]), timeout=5)] \
                == [b"ba"]
            assert await ch.unary_unary(path("Sync"))(b"s", timeout=5) == b"s!"
            with pytest.raises(polyrpc.aio.AioRpcError) as info:
                await ch.unary_unary(path("Fail"))(b"", timeout=5)
            assert info.value.code() is polyrpc.StatusCode.OUT_OF_RANGE

        # A blocking client in another thread against the asyncio server.
        def blocking():
            with polyrpc.insecure_channel(target) as sch:
                return sch.unary_unary(path("Echo"))(b"threaded", timeout=5)
        assert await asyncio.get_running_loop().run_in_executor(None, blocking) == b"threaded"
        await server.stop(1)
        assert await server.wait_for_termination(0.1) is False
    run(main())
