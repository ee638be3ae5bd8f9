"""fork(): a child can use NEW channels (the parent's objects are unusable there, as the C ABI
documents), and the parent keeps working after the child exits."""

import multiprocessing
import os

import polyrpc
from conftest import path


def _child_call(target, parent_channel):
    # The inherited channel belongs to the parent: it must fail cleanly, not hang or crash.
    try:
        parent_channel.unary_unary(path("Echo"))(b"old", timeout=2)
        inherited = "worked"
    except (polyrpc.RpcError, RuntimeError, ValueError):
        inherited = "refused"
    with polyrpc.insecure_channel(target) as ch:
        fresh = ch.unary_unary(path("Echo"))(b"child", timeout=5)
        fut = ch.unary_unary(path("Echo")).future(b"child-future", timeout=5).result(5)
    return inherited, fresh, fut


def test_os_fork(server, channel):
    assert channel.unary_unary(path("Echo"))(b"before", timeout=5) == b"before"
    # Start the future machinery's thread too, so the child inherits a process with it.
    assert channel.unary_unary(path("Echo")).future(b"f", timeout=5).result(5) == b"f"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(r)
            inherited, fresh, fut = _child_call(server.target, channel)
            os.write(w, ("%s %s %s" % (inherited, fresh.decode(), fut.decode())).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        report = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report
    assert report == "refused child child-future"
    assert channel.unary_unary(path("Echo"))(b"after", timeout=5) == b"after"
    assert list(channel.unary_stream(path("Stream"))(b"2", timeout=5)) == [b"0", b"1"]


def _mp_worker(target, queue):
    with polyrpc.insecure_channel(target) as ch:
        queue.put(ch.unary_unary(path("Echo"))(b"mp", timeout=5))


def test_multiprocessing_fork(server, channel):
    assert channel.unary_unary(path("Echo"))(b"before", timeout=5) == b"before"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_mp_worker, args=(server.target, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert results == [b"mp", b"mp"]
    assert channel.unary_unary(path("Echo"))(b"after", timeout=5) == b"after"
