"""asyncio client (``grpc.aio``-shaped): ``await stub.Method(req)``, ``async for`` over response
streams. Every operation is started on the loop's completion queue and awaited as a future."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Optional, Tuple

from .. import _polyrpc
from .._common import (ChannelConnectivity, Deserializer, Metadata, MetadataType, RpcError,
                       Serializer, StatusCode, check_metadata, check_method, check_target,
                       compression_name, deserialize, normalize_options, serialize,
                       status_from_int, timeout_ms)
from .._credentials import CallCredentials, ChannelCredentials, insecure_channel_native
from ._poller import Poller, poller


class _EOFType:
    def __repr__(self) -> str:
        return "polyrpc.aio.EOF"

    def __bool__(self) -> bool:
        return False


EOF = _EOFType()
"""Returned by ``call.read()`` at the end of a response stream (``grpc.aio.EOF``)."""


class AioRpcError(RpcError):
    """An RPC ended with a non-OK status (``grpc.aio.AioRpcError``)."""

    def __init__(self, code: StatusCode, initial_metadata: MetadataType,
                 trailing_metadata: MetadataType, details: Optional[str] = None) -> None:
        super().__init__()
        self._code = code
        self._details = details
        self._initial_metadata = initial_metadata
        self._trailing_metadata = trailing_metadata

    def code(self) -> StatusCode:
        return self._code

    def details(self) -> Optional[str]:
        return self._details

    def initial_metadata(self) -> MetadataType:
        return self._initial_metadata

    def trailing_metadata(self) -> MetadataType:
        return self._trailing_metadata

    def debug_error_string(self) -> str:
        return "%s: %s" % (self._code, self._details)

    def __str__(self) -> str:
        return ("<AioRpcError of RPC that terminated with:\n\tstatus = %s\n\tdetails = \"%s\"\n>"
                % (self._code, self._details))

    __repr__ = __str__


class _StatusLatch:
    """The tag of the operation that ends a call (the poller calls done() and set_result() on
    it, as on a future). Each awaiting task waits on its own future, made only if the status is
    not there yet: cancelling one task cancels its own wait, never the status, and no
    asyncio.shield (two extra event-loop callbacks per call) is needed."""

    __slots__ = ("_loop", "_done", "_waiters", "_callbacks")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done = False
        self._waiters: Optional[list] = None
        self._callbacks: Optional[list] = None

    def done(self) -> bool:
        return self._done

    def set_result(self, _success: Any) -> None:
        self._done = True
        waiters, self._waiters = self._waiters, None
        if waiters:
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for cb in callbacks:
                self._loop.call_soon(cb, self)

    def add_done_callback(self, cb: Any) -> None:
        if self._done:
            self._loop.call_soon(cb, self)
        elif self._callbacks is None:
            self._callbacks = [cb]
        else:
            self._callbacks.append(cb)

    def wait(self) -> "asyncio.Future[None]":
        w = self._loop.create_future()
        if self._waiters is None:
            self._waiters = [w]
        else:
            self._waiters.append(w)
        return w


class Call:
    """Shared surface of every asyncio call: status, metadata, cancel."""

    def __init__(self, ncall: Any, p: Poller, deserializer: Deserializer,
                 start: Any = None, *args: Any) -> None:
        """start(*args, cq, tag): the operation that ends with the status (recv_status when
        None)."""
        self._ncall = ncall
        self._poller = p
        self._deserializer = deserializer
        self._status_fut = _StatusLatch(p.loop)
        if start is None:
            ncall.recv_status(p.cq, self._status_fut)
        else:
            start(*args, p.cq, self._status_fut)
        self._initial_fut: Optional[asyncio.Future] = None
        self._cancelled = False
        self._error: Optional[AioRpcError] = None

    def cancel(self) -> bool:
        """Cancels the RPC; awaiting it then raises asyncio.CancelledError."""
        if self._status_fut.done():
            return False
        self._cancelled = True
        self._ncall.cancel()
        return True

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._status_fut.done()

    def add_done_callback(self, callback: Any) -> None:
        self._status_fut.add_done_callback(lambda _f: callback(self))

    def time_remaining(self) -> Optional[float]:
        return None

    async def _wait_status(self) -> Tuple[StatusCode, str]:
        fut = self._status_fut
        if not fut.done():
            try:
                await fut.wait()
            except asyncio.CancelledError:
                self._ncall.cancel()
                raise
        code, details = self._ncall.status()
        return status_from_int(code), details

    async def code(self) -> StatusCode:
        return (await self._wait_status())[0]

    async def details(self) -> str:
        return (await self._wait_status())[1]

    async def initial_metadata(self) -> MetadataType:
        if self._initial_fut is None:
            self._initial_fut = self._poller.op(self._ncall.recv_initial_metadata)
        await asyncio.shield(self._initial_fut)
        return self._ncall.initial_metadata()

    async def trailing_metadata(self) -> MetadataType:
        await self._wait_status()
        return self._ncall.trailing_metadata()

    async def wait_for_connection(self) -> None:
        await self.initial_metadata()

    async def _raise_for_status(self) -> None:
        code, details = await self._wait_status()
        if code is StatusCode.OK:
            return
        if self._cancelled and code is StatusCode.CANCELLED:
            raise asyncio.CancelledError()
        raise AioRpcError(code, self._ncall.initial_metadata(), self._ncall.trailing_metadata(),
                          details)

    async def _recv(self) -> Any:
        """The next message, or EOF (raising AioRpcError if the call failed)."""
        fut = self._poller.op(self._ncall.recv_message)
        try:
            ok = await fut
        except asyncio.CancelledError:
            self._ncall.cancel()
            raise
        if ok:
            data = self._ncall.take_message()
            if data is not None:
                try:
                    return deserialize(self._deserializer, data)
                except Exception as e:  # noqa: BLE001
                    self._ncall.cancel()
                    raise AioRpcError(StatusCode.INTERNAL, (), (),
                                      "Exception deserializing response! %s" % e) from None
        await self._raise_for_status()
        return EOF


class UnaryUnaryCall(Call):
    """``await call`` gives the response."""

    def __init__(self, ncall: Any, p: Poller, deserializer: Deserializer, request: bytes) -> None:
        # One native operation sends the request, receives the reply and the status: its
        # future is the status future, and the message is there (or not) once it resolves.
        super().__init__(ncall, p, deserializer, ncall.start_unary, request, 0)
        self._response: Any = None
        self._have_response = False

    async def _result(self) -> Any:
        if self._have_response:
            return self._response
        # _raise_for_status() inlined for the common case (two coroutines fewer per call).
        fut = self._status_fut
        if not fut.done():
            try:
                await fut.wait()
            except asyncio.CancelledError:
                self._ncall.cancel()
                raise
        if self._ncall.status()[0] != 0:
            await self._raise_for_status()
        if not self._have_response:
            data = self._ncall.take_message()
            if data is None:
                raise AioRpcError(StatusCode.INTERNAL, self._ncall.initial_metadata(),
                                  self._ncall.trailing_metadata(),
                                  "No message returned for unary request")
            try:
                self._response = deserialize(self._deserializer, data)
            except Exception as e:  # noqa: BLE001
                raise AioRpcError(StatusCode.INTERNAL, (), (),
                                  "Exception deserializing response! %s" % e) from None
            self._have_response = True
        return self._response

    def __await__(self) -> Any:
        return self._result().__await__()


class UnaryStreamCall(Call):
    """``async for response in call`` or ``await call.read()``."""

    def __init__(self, ncall: Any, p: Poller, deserializer: Deserializer, request: bytes) -> None:
        super().__init__(ncall, p, deserializer)
        self._send_fut = p.op(ncall.send_message, request, _polyrpc.WRITE_LAST)

    async def read(self) -> Any:
        return await self._recv()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            message = await self._recv()
            if message is EOF:
                return
            yield message

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()


class _RequestStreamMixin(Call):
    """Requests from an iterator/async iterator (consumed by a task), or written one by one
    with ``await call.write(msg)`` and ``await call.done_writing()``."""

    _serializer: Serializer

    def _init_requests(self, request_iterator: Any, serializer: Serializer) -> None:
        self._serializer = serializer
        self._writer_task: Optional[asyncio.Task] = None
        if request_iterator is not None:
            self._writer_task = self._poller.loop.create_task(self._consume(request_iterator))
        else:
            self._poller.op(self._ncall.start)

    async def _consume(self, requests: Any) -> None:
        try:
            if hasattr(requests, "__aiter__"):
                async for request in requests:
                    if not await self._send(request):
                        return
            else:
                for request in requests:
                    if not await self._send(request):
                        return
            await self._poller.op(self._ncall.close_send)
        except asyncio.CancelledError:
            self._ncall.cancel()
            raise
        except Exception:  # noqa: BLE001 - the application's iterator failed
            self._ncall.cancel()

    async def _send(self, request: Any) -> bool:
        data = serialize(self._serializer, request)
        return bool(await self._poller.op(self._ncall.send_message, data, 0))

    async def write(self, request: Any) -> None:
        """Sends one request (only when no request iterator was given)."""
        if self._writer_task is not None:
            raise RuntimeError("write() is not allowed when a request iterator was given")
        if not await self._send(request):
            await self._raise_for_status()
            raise AioRpcError(StatusCode.INTERNAL, (), (), "the RPC is already over")

    async def done_writing(self) -> None:
        """Half-closes: no more requests."""
        if self._writer_task is not None:
            raise RuntimeError("done_writing() is not allowed when a request iterator was given")
        await self._poller.op(self._ncall.close_send)


class StreamUnaryCall(_RequestStreamMixin):
    def __init__(self, ncall: Any, p: Poller, deserializer: Deserializer,
                 request_iterator: Any, serializer: Serializer) -> None:
        super().__init__(ncall, p, deserializer)
        self._init_requests(request_iterator, serializer)
        self._message_fut = p.op(ncall.recv_message)

    async def _result(self) -> Any:
        try:
            await asyncio.shield(self._message_fut)
        except asyncio.CancelledError:
            self._ncall.cancel()
            raise
        await self._raise_for_status()
        data = self._ncall.take_message() if self._message_fut.result() else None
        if data is None:
            raise AioRpcError(StatusCode.INTERNAL, (), (), "No message returned for unary request")
        return deserialize(self._deserializer, data)

    def __await__(self) -> Any:
        return self._result().__await__()


class StreamStreamCall(_RequestStreamMixin):
    def __init__(self, ncall: Any, p: Poller, deserializer: Deserializer,
                 request_iterator: Any, serializer: Serializer) -> None:
        super().__init__(ncall, p, deserializer)
        self._init_requests(request_iterator, serializer)

    async def read(self) -> Any:
        return await self._recv()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            message = await self._recv()
            if message is EOF:
                return
            yield message

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()


class _MultiCallable:
    # polyrpc_call_create flags: ONE_RESPONSE where the method answers one message.
    _FLAGS = 0

    def __init__(self, channel: "Channel", method: str, serializer: Serializer,
                 deserializer: Deserializer) -> None:
        self._channel = channel
        self._method = check_method(method)
        self._serializer = serializer
        self._deserializer = deserializer
        self._loop: Any = None  # the loop of the last call and its poller
        self._poller: Any = None

    def _create(self, timeout: Optional[float], metadata: Optional[Metadata],
                credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                compression: Any) -> Tuple[Any, Poller]:
        ch = self._channel
        ncall = ch._native_channel().create_call(
            self._method, timeout_ms(timeout), check_metadata(metadata),
            self._FLAGS | (_polyrpc.WAIT_FOR_READY if wait_for_ready else 0))
        name = compression_name(compression)
        if name is not None:
            ncall.set_compression(name)
        creds = credentials if credentials is not None else ch._call_credentials
        if creds is not None:
            if not isinstance(creds, CallCredentials):
                raise TypeError("credentials must be polyrpc.CallCredentials")
            ncall.set_credentials(creds._native)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._poller = poller(loop)
            self._loop = loop
        return ncall, self._poller


class UnaryUnaryMultiCallable(_MultiCallable):
    _FLAGS = _polyrpc.ONE_RESPONSE

    def __call__(self, request: Any, *, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Any = None) -> UnaryUnaryCall:
        data = serialize(self._serializer, request)
        ncall, p = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        return UnaryUnaryCall(ncall, p, self._deserializer, data)


class UnaryStreamMultiCallable(_MultiCallable):
    def __call__(self, request: Any, *, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Any = None) -> UnaryStreamCall:
        data = serialize(self._serializer, request)
        ncall, p = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        return UnaryStreamCall(ncall, p, self._deserializer, data)


class StreamUnaryMultiCallable(_MultiCallable):
    _FLAGS = _polyrpc.ONE_RESPONSE

    def __call__(self, request_iterator: Any = None, *, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Any = None) -> StreamUnaryCall:
        ncall, p = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        return StreamUnaryCall(ncall, p, self._deserializer, request_iterator, self._serializer)


class StreamStreamMultiCallable(_MultiCallable):
    def __call__(self, request_iterator: Any = None, *, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Any = None) -> StreamStreamCall:
        ncall, p = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        return StreamStreamCall(ncall, p, self._deserializer, request_iterator, self._serializer)


class Channel:
    """An asyncio channel (``grpc.aio.Channel``). Use ``async with`` or ``await close()``."""

    def __init__(self, target: str, credentials: Optional[ChannelCredentials],
                 options: Any = None, compression: Any = None) -> None:
        check_target(target)
        opts = normalize_options(options) or []
        if compression_name(compression) is not None:
            opts.append(("grpc.default_compression_algorithm", int(compression)))
        if credentials is None:
            native_creds = insecure_channel_native()
            self._call_credentials = None
        else:
            if not isinstance(credentials, ChannelCredentials):
                raise TypeError("credentials must be polyrpc.ChannelCredentials")
            native_creds = credentials._native
            self._call_credentials = credentials._call_credentials
        self._channel = _polyrpc.Channel(target, native_creds, opts or None)
        self._closed = False

    def _native_channel(self) -> Any:
        if self._closed:
            raise ValueError("Cannot invoke RPC: Channel closed!")
        return self._channel

    def unary_unary(self, method: str, request_serializer: Serializer = None,
                    response_deserializer: Deserializer = None,
                    _registered_method: bool = False) -> UnaryUnaryMultiCallable:
        return UnaryUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Serializer = None,
                     response_deserializer: Deserializer = None,
                     _registered_method: bool = False) -> UnaryStreamMultiCallable:
        return UnaryStreamMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Serializer = None,
                     response_deserializer: Deserializer = None,
                     _registered_method: bool = False) -> StreamUnaryMultiCallable:
        return StreamUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Serializer = None,
                      response_deserializer: Deserializer = None,
                      _registered_method: bool = False) -> StreamStreamMultiCallable:
        return StreamStreamMultiCallable(self, method, request_serializer, response_deserializer)

    def get_state(self, try_to_connect: bool = False) -> ChannelConnectivity:
        state = self._native_channel().get_state(bool(try_to_connect))
        return {c.value[0]: c for c in ChannelConnectivity}[state]

    async def channel_ready(self) -> None:
        """Waits until the channel is READY (polls the state cheaply; connection attempts are
        driven by the core)."""
        while self.get_state(True) is not ChannelConnectivity.READY:
            await asyncio.sleep(0.01)

    async def close(self, grace: Optional[float] = None) -> None:
        """Cancels all calls and closes the channel."""
        if self._closed:
            return
        self._closed = True
        self._channel.close()

    async def __aenter__(self) -> "Channel":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def insecure_channel(target: str, options: Any = None, compression: Any = None) -> Channel:
    """A plaintext asyncio channel (``grpc.aio.insecure_channel``)."""
    return Channel(target, None, options, compression)


def secure_channel(target: str, credentials: ChannelCredentials, options: Any = None,
                   compression: Any = None) -> Channel:
    """A TLS asyncio channel (``grpc.aio.secure_channel``)."""
    if credentials is None:
        raise TypeError("secure_channel needs credentials")
    return Channel(target, credentials, options, compression)

