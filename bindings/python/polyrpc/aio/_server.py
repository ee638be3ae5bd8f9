"""asyncio server (``grpc.aio.server``): every incoming call becomes a task on the loop; all
operations are awaited through the loop's completion queue. Handlers may be coroutines, async
generators, or plain functions/generators (run on the loop thread, so keep them short)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Dict, Iterable, Optional, Set

from .. import _polyrpc
from .._common import (MetadataType, StatusCode, compression_name, deserialize,
                       normalize_options, serialize, status_from_int, status_to_int)
from .._credentials import ServerCredentials
from .._handlers import HandlerRegistry, RpcMethodHandler
from .._services import ServerServices
from ._channel import EOF
from ._poller import Poller, poller

_LOG = logging.getLogger("polyrpc")


class _Abort(Exception):
    pass


class ServicerContext:
    """Context of a call served on asyncio (``grpc.aio.ServicerContext``)."""

    def __init__(self, ncall: Any, p: Poller, deserializer: Any, serializer: Any) -> None:
        self._call = ncall
        self._poller = p
        self._deserializer = deserializer
        self._serializer = serializer
        self._code = 0
        self._details: Optional[str] = None
        self._trailers: Any = None
        self._metadata: Optional[MetadataType] = None
        self._initial_sent = False
        self._finished = False
        self._close_fut: Optional[asyncio.Future] = None
        self._next_flags = 0

    async def read(self) -> Any:
        """The next request, or EOF at the end of the request stream."""
        ok = await self._poller.op(self._call.recv_message)
        data = self._call.take_message() if ok else None
        if data is None:
            return EOF
        try:
            return deserialize(self._deserializer, data)
        except Exception:  # noqa: BLE001
            self._code, self._details = 13, "Exception deserializing request!"
            raise _Abort() from None

    async def write(self, message: Any) -> None:
        """Sends one response message."""
        data = serialize(self._serializer, message)
        flags, self._next_flags = self._next_flags, 0
        if not await self._poller.op(self._call.send_message, data, flags):
            raise asyncio.CancelledError()  # the call is over; stop the handler

    async def send_initial_metadata(self, initial_metadata: Any) -> None:
        if self._initial_sent:
            raise ValueError("initial metadata was already sent")
        self._initial_sent = True
        await self._poller.op(self._call.send_initial_metadata, initial_metadata)

    async def abort(self, code: Any, details: str = "", trailing_metadata: Any = None) -> None:
        c = status_to_int(code)
        if c == 0:
            raise ValueError("abort() needs a non-OK status code")
        self._code, self._details = c, details
        if trailing_metadata:
            self._trailers = trailing_metadata
        raise _Abort()

    def set_code(self, code: Any) -> None:
        self._code = status_to_int(code)

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> StatusCode:
        return status_from_int(self._code)

    def details(self) -> Optional[str]:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self._trailers = trailing_metadata

    def trailing_metadata(self) -> Any:
        return self._trailers

    def invocation_metadata(self) -> MetadataType:
        if self._metadata is None:
            self._metadata = self._call.request_metadata()
        return self._metadata

    def peer(self) -> str:
        return self._call.peer()

    def time_remaining(self) -> Optional[float]:
        ms = self._call.time_remaining_ms()
        return None if ms < 0 else ms / 1000.0

    def set_compression(self, compression: Any) -> None:
        name = compression_name(compression)
        if name is not None:
            self._call.set_response_compression(name)

    def disable_next_message_compression(self) -> None:
        self._next_flags = _polyrpc.WRITE_NO_COMPRESS

    def _watch(self) -> asyncio.Future:
        if self._close_fut is None:
            self._close_fut = self._poller.op(self._call.recv_close)
        return self._close_fut

    def done(self) -> bool:
        return self._finished or self._watch().done()

    def cancelled(self) -> bool:
        return self._watch().done() and self._call.is_cancelled()

    def cancel(self) -> None:
        self._call.cancel()

    def add_done_callback(self, callback: Any) -> None:
        self._watch().add_done_callback(lambda _f: callback(self))

    def last_request_compressed(self) -> bool:
        """polyrpc extension: whether the last request message arrived compressed."""
        return self._call.last_message_compressed()

    def auth_context(self) -> Dict[str, Any]:
        return {}


class _AsyncRequestIterator:
    def __init__(self, context: ServicerContext) -> None:
        self._context = context

    def __aiter__(self) -> "_AsyncRequestIterator":
        return self

    async def __anext__(self) -> Any:
        message = await self._context.read()
        if message is EOF:
            raise StopAsyncIteration()
        return message


class Server(ServerServices):
    """An asyncio server; create it with ``polyrpc.aio.server()``. ``enable_health()`` and
    ``enable_reflection()`` as on ``polyrpc.Server``."""

    def __init__(self, migration_thread_pool: Any = None, handlers: Optional[Iterable[Any]] = None,
                 interceptors: Optional[Iterable[Any]] = None, options: Any = None,
                 maximum_concurrent_rpcs: Optional[int] = None, compression: Any = None) -> None:
        self._registry = HandlerRegistry(interceptors)
        self._native = _polyrpc.Server(normalize_options(options))
        self._compression = compression_name(compression)
        self._started = False
        self._poller: Optional[Poller] = None
        self._tasks: Set[asyncio.Task] = set()
        self._accept_task: Optional[asyncio.Task] = None
        self._terminated: Optional[asyncio.Event] = None
        self._stopping = False
        if handlers:
            self.add_generic_rpc_handlers(handlers)

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[Any]) -> None:
        if self._started:
            raise RuntimeError("handlers must be added before the server starts")
        self._registry.add_generic(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: Dict[str, RpcMethodHandler]) -> None:
        if self._started:
            raise RuntimeError("handlers must be added before the server starts")
        self._registry.add_registered(service_name, method_handlers)

    def _add_port(self, address: str, creds: Any) -> int:
        if not isinstance(address, str):
            raise TypeError("address must be a str like '[::]:50051'")
        try:
            return self._native.add_listener(address, creds)
        except _polyrpc.ApiError as e:
            raise RuntimeError("Failed to bind to address %s: %s" % (address, e.args[0])) from None

    def add_insecure_port(self, address: str) -> int:
        return self._add_port(address, _polyrpc.ServerCredentials.insecure())

    def add_secure_port(self, address: str, server_credentials: ServerCredentials) -> int:
        if not isinstance(server_credentials, ServerCredentials):
            raise TypeError("server_credentials must be polyrpc.ServerCredentials")
        return self._add_port(address, server_credentials._native)

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("the server was already started")
        self._started = True
        if self._registry.needs_generic:
            self._native.enable_generic()
        else:
            for path in self._registry.methods:
                self._native.register_method(path)
        if self._reflection is not None:
            self._start_reflection()
        self._native.start()
        self._poller = poller()
        self._terminated = asyncio.Event()
        self._accept_task = asyncio.get_running_loop().create_task(self._accept())

    async def _accept(self) -> None:
        p = self._poller
        assert p is not None
        loop = p.loop
        fut = p.op(self._native.request_call)
        while True:
            ncall = await fut
            if not ncall:
                return  # False: the server shut down
            if not self._stopping:
                fut = p.op(self._native.request_call)
            task = loop.create_task(self._serve(ncall))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if self._stopping:
                return

    async def _serve(self, ncall: Any) -> None:
        p = self._poller
        assert p is not None
        try:
            handler, _ = self._registry.lookup(ncall.method(), ncall.request_metadata)
            if handler is None:
                await p.op(ncall.send_status, 12, "Method not found!", None)
                return
            context = ServicerContext(ncall, p, handler.request_deserializer,
                                      handler.response_serializer)
            if self._compression is not None:
                ncall.set_response_compression(self._compression)
            await self._run_handler(ncall, handler, context)
        except asyncio.CancelledError:
            ncall.cancel()
        except Exception:  # noqa: BLE001
            _LOG.exception("polyrpc: internal error serving a call")
            ncall.cancel()

    async def _run_handler(self, ncall: Any, handler: RpcMethodHandler,
                           context: ServicerContext) -> None:
        p = self._poller
        assert p is not None
        response: Any = None
        try:
            if handler.request_streaming:
                argument: Any = _AsyncRequestIterator(context)
            else:
                # One request message: none, or a second, ends the call UNIMPLEMENTED in the
                # core (statuscodes.md).
                ncall.expect_one_request()
                argument = await context.read()
                if argument is EOF:
                    context._code, context._details = 13, "Expected a request message"
                    raise _Abort()
            behavior = _behavior(handler)
            if handler.response_streaming:
                result = behavior(argument, context)
                if inspect.isasyncgen(result):
                    async for message in result:
                        await context.write(message)
                elif inspect.isawaitable(result):
                    await result  # the handler wrote with context.write()
                elif result is not None:
                    for message in result:
                        await context.write(message)
            else:
                result = behavior(argument, context)
                response = await result if inspect.isawaitable(result) else result
        except _Abort:
            pass
        except asyncio.CancelledError:
            if not context._finished:
                ncall.cancel()
            return
        except Exception as e:  # noqa: BLE001
            _LOG.exception("polyrpc: exception calling application")
            if context._code == 0:
                context._code = 2
                context._details = "Exception calling application: %s" % e
        context._finished = True
        if not handler.response_streaming and context._code == 0:
            try:
                data = serialize(handler.response_serializer, response)
            except Exception:  # noqa: BLE001
                _LOG.exception("polyrpc: failed to serialize response")
                context._code, context._details = 13, "Failed to serialize response!"
            else:
                flags, context._next_flags = context._next_flags, 0
                sent = p.op(ncall.send_message, data, flags)
                await p.op(ncall.send_status, 0, context._details or "", context._trailers)
                await sent
                return
        await p.op(ncall.send_status, context._code, context._details or "", context._trailers)

    async def stop(self, grace: Optional[float]) -> None:
        """Stops accepting calls; in-flight ones get ``grace`` seconds, then are cancelled."""
        if not self._started or self._stopping:
            if self._terminated is not None:
                await self._terminated.wait()
            return
        self._stopping = True
        timeout = 0 if grace is None else int(grace * 1000)
        loop = asyncio.get_running_loop()
        # polyrpc_server_shutdown blocks until in-flight calls end; those calls are driven by
        # this loop, so the wait must happen off the loop thread.
        await loop.run_in_executor(None, self._native.shutdown, timeout)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._accept_task is not None:
            await asyncio.gather(self._accept_task, return_exceptions=True)
        assert self._terminated is not None
        self._terminated.set()

    async def wait_for_termination(self, timeout: Optional[float] = None) -> bool:
        """Waits until the server stopped; True if the timeout passed first."""
        if self._terminated is None:
            return False
        try:
            await asyncio.wait_for(self._terminated.wait(), timeout)
            return False
        except asyncio.TimeoutError:
            return True


def _behavior(handler: RpcMethodHandler) -> Any:
    if handler.request_streaming:
        return handler.stream_stream if handler.response_streaming else handler.stream_unary
    return handler.unary_stream if handler.response_streaming else handler.unary_unary


def server(migration_thread_pool: Any = None, handlers: Optional[Iterable[Any]] = None,
           interceptors: Optional[Iterable[Any]] = None, options: Any = None,
           maximum_concurrent_rpcs: Optional[int] = None, compression: Any = None) -> Server:
    """Creates an asyncio server (``grpc.aio.server``)."""
    return Server(migration_thread_pool, handlers, interceptors, options,
                  maximum_concurrent_rpcs, compression)
