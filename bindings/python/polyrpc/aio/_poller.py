"""The bridge between libpolyrpc and an asyncio event loop: one completion queue per loop whose
file descriptor is registered with ``loop.add_reader``. When the core completes an operation
the fd becomes readable; the loop drains the queue and resolves the asyncio futures that were
the operations' tags. No helper thread, no polling."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any, Callable

from .. import _polyrpc

_EVENT_SHUTDOWN = _polyrpc.EVENT_SHUTDOWN


class Poller:
    __slots__ = ("loop", "cq", "fd", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cq = _polyrpc.CompletionQueue()
        self.fd = self.cq.fd()
        loop.add_reader(self.fd, self._drain)

    def _drain(self) -> None:
        next_event = self.cq.next
        while True:
            event = next_event(0)
            if event is None:
                return
            kind, success, fut, call = event
            if kind == _EVENT_SHUTDOWN:
                self.loop.remove_reader(self.fd)
                return
            if fut.done():  # the awaiting task was cancelled
                if call is not None:
                    call.cancel()
                continue
            if call is not None:
                fut.set_result(call)
            else:
                fut.set_result(success)

    def op(self, start: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        """Starts start(*args, cq, future) and returns the future of its completion."""
        fut = self.loop.create_future()
        start(*args, self.cq, fut)
        return fut


_pollers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Poller]" = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()


def poller(loop: Any = None) -> Poller:
    """The poller of the running loop (created on first use)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    p = _pollers.get(loop)
    if p is None:
        with _lock:
            p = _pollers.get(loop)
            if p is None:
                p = Poller(loop)
                _pollers[loop] = p
    return p


def _reset_after_fork() -> None:
    # A parent's queues are unusable in a fork child (CLOSED); loops there get new ones.
    global _pollers, _lock
    _pollers = weakref.WeakKeyDictionary()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
