"""Synchronous client: channels, multicallables and the Call/Future objects they return.

Design (for speed): a blocking unary call is one native call (polyrpc_call_unary) with the GIL
released; streaming calls use blocking per-message operations; futures are driven by one
process-wide completion thread draining a completion queue.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Iterator, Optional, Tuple

from . import _polyrpc
from ._common import (ChannelConnectivity, Deserializer, Metadata, MetadataType, RpcError,
                      Serializer, StatusCode, FutureCancelledError, FutureTimeoutError,
                      check_metadata, check_method, check_target, compression_name, deserialize,
                      normalize_options, serialize, status_from_int, timeout_ms)
from ._credentials import CallCredentials, ChannelCredentials, insecure_channel_native

_LOG = logging.getLogger("polyrpc")
_OK = StatusCode.OK


# ---- The completion thread ------------------------------------------------------------------

class _CompletionThread:
    """Drains one completion queue on a daemon thread; tags are callables(success, call)."""

    def __init__(self) -> None:
        self.cq = _polyrpc.CompletionQueue()
        self._thread = threading.Thread(target=self._run, name="polyrpc-completion", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cq = self.cq
        while True:
            event = cq.next(-1)
            if event is None:
                continue
            kind, success, tag, call = event
            if kind == _polyrpc.EVENT_SHUTDOWN:
                return
            try:
                tag(success, call)
            except BaseException:  # a callback must never kill the thread
                _LOG.exception("polyrpc: exception in a completion callback")


_completion_lock = threading.Lock()
_completion: Optional[_CompletionThread] = None


def completion_queue() -> Any:
    global _completion
    c = _completion
    if c is None:
        with _completion_lock:
            if _completion is None:
                _completion = _CompletionThread()
            c = _completion
    return c.cq


def _reset_after_fork() -> None:
    # The parent's queue and thread do not exist in a child; the next future makes new ones.
    global _completion, _completion_lock
    _completion = None
    _completion_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# ---- Call objects ---------------------------------------------------------------------------

class _CallState:
    """What every finished call knows. Metadata is converted lazily from the native call."""

    __slots__ = ("ncall", "code", "details", "_initial", "_trailing")

    def __init__(self, ncall: Any, code: StatusCode, details: Optional[str]) -> None:
        self.ncall = ncall
        self.code = code
        self.details = details
        self._initial: Optional[MetadataType] = None
        self._trailing: Optional[MetadataType] = None

    def initial_metadata(self) -> MetadataType:
        if self._initial is None:
            self._initial = self.ncall.initial_metadata() if self.ncall is not None else ()
        return self._initial

    def trailing_metadata(self) -> MetadataType:
        if self._trailing is None:
            self._trailing = self.ncall.trailing_metadata() if self.ncall is not None else ()
        return self._trailing


def _finished_state(ncall: Any) -> _CallState:
    code, details = ncall.status()
    return _CallState(ncall, status_from_int(code), details)


class _CallBase:
    """The grpc.Call / grpc.Future surface of a finished call."""

    _state: _CallState

    def code(self) -> StatusCode:
        return self._state.code

    def details(self) -> Optional[str]:
        return self._state.details

    def initial_metadata(self) -> MetadataType:
        return self._state.initial_metadata()

    def trailing_metadata(self) -> MetadataType:
        return self._state.trailing_metadata()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> Optional[float]:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def traceback(self, timeout: Optional[float] = None) -> Any:
        return None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)


class _InactiveRpcError(RpcError, _CallBase):
    """An RPC that ended with a non-OK status (also usable as a finished Call and Future)."""

    def __init__(self, state: _CallState) -> None:
        super().__init__()
        self._state = state

    def __str__(self) -> str:
        return ("<_InactiveRpcError of RPC that terminated with:\n\tstatus = %s\n"
                "\tdetails = \"%s\"\n>" % (self._state.code, self._state.details))

    __repr__ = __str__

    def result(self, timeout: Optional[float] = None) -> Any:
        raise self

    def exception(self, timeout: Optional[float] = None) -> Optional[Exception]:
        return self

    def traceback(self, timeout: Optional[float] = None) -> Any:
        try:
            raise self
        except RpcError:
            return sys.exc_info()[2]


class _UnaryOutcome(_CallBase):
    """A successful unary call as Call + Future (what interceptor continuations return)."""

    def __init__(self, response: Any, state: _CallState) -> None:
        self._response = response
        self._state = state

    def result(self, timeout: Optional[float] = None) -> Any:
        return self._response

    def exception(self, timeout: Optional[float] = None) -> Optional[Exception]:
        return None


def _local_error(code: StatusCode, details: str) -> _InactiveRpcError:
    return _InactiveRpcError(_CallState(None, code, details))


class _RpcFuture(RpcError, _CallBase):
    """A unary-response call in flight: grpc.Future + grpc.Call. On failure, result() raises
    the future itself, which is an RpcError (grpcio's behaviour)."""

    def __init__(self, ncall: Any, deserializer: Deserializer) -> None:
        super().__init__()
        self._ncall = ncall
        self._deserializer = deserializer
        self._cond = threading.Condition()
        self._state: Optional[_CallState] = None  # type: ignore[assignment]
        self._response: Any = None
        self._error: Optional[BaseException] = None
        self._callbacks: list = []
        self._cancelled = False
        self._pending = 0
        self._message: Optional[bytes] = None

    # Completion path -----------------------------------------------------------------
    def _start_unary(self, request: bytes) -> None:
        cq = completion_queue()
        self._pending = 3
        call = self._ncall
        call.send_message(request, _polyrpc.WRITE_LAST, cq, self._on_op)
        call.recv_message(cq, self._on_message)
        call.recv_status(cq, self._on_op)

    def _on_message(self, success: bool, _call: Any) -> None:
        if success:
            self._message = self._ncall.take_message()
        self._on_op(success, None)

    def _on_op(self, success: bool, _call: Any) -> None:
        with self._cond:
            self._pending -= 1
            if self._pending:
                return
        self._complete_from_call(self._message)

    def _complete_from_call(self, message: Optional[bytes]) -> None:
        state = _finished_state(self._ncall)
        response = None
        if state.code is _OK:
            if message is None:
                state = _CallState(self._ncall, StatusCode.INTERNAL,
                                   "No message returned for unary request")
            else:
                try:
                    response = deserialize(self._deserializer, message)
                except Exception as e:  # noqa: BLE001 - reported as the RPC's outcome
                    state = _CallState(self._ncall, StatusCode.INTERNAL,
                                       "Exception deserializing response! %s" % e)
        self._complete(state, response)

    def _complete(self, state: _CallState, response: Any) -> None:
        with self._cond:
            self._state = state
            self._response = response
            if state.code is StatusCode.CANCELLED and self._cancelled:
                pass
            callbacks, self._callbacks = self._callbacks, []
            self._cond.notify_all()
        for cb in callbacks:
            try:
                cb(self)
            except Exception:  # noqa: BLE001
                _LOG.exception("polyrpc: exception in a future's done callback")

    # grpc.Future ---------------------------------------------------------------------
    def _wait(self, timeout: Optional[float]) -> _CallState:
        with self._cond:
            if self._state is None:
                end = None if timeout is None else time.monotonic() + timeout
                while self._state is None:
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        raise FutureTimeoutError()
                    self._cond.wait(left)
            return self._state

    def result(self, timeout: Optional[float] = None) -> Any:
        state = self._wait(timeout)
        if state.code is _OK:
            return self._response
        if self._cancelled and state.code is StatusCode.CANCELLED:
            raise FutureCancelledError()
        raise self

    def exception(self, timeout: Optional[float] = None) -> Optional[Exception]:
        state = self._wait(timeout)
        if state.code is _OK:
            return None
        if self._cancelled and state.code is StatusCode.CANCELLED:
            raise FutureCancelledError()
        return self

    def traceback(self, timeout: Optional[float] = None) -> Any:
        exc = self.exception(timeout)
        if exc is None:
            return None
        try:
            raise exc
        except RpcError:
            return sys.exc_info()[2]

    def cancel(self) -> bool:
        with self._cond:
            if self._state is not None:
                return False
            self._cancelled = True
        self._ncall.cancel()
        return True

    def cancelled(self) -> bool:
        # True as soon as cancel() succeeded, as in grpcio (the status may still be on its way).
        with self._cond:
            if self._state is None:
                return self._cancelled
            return self._cancelled and self._state.code is StatusCode.CANCELLED

    def running(self) -> bool:
        return self._state is None

    def done(self) -> bool:
        return self._state is not None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        with self._cond:
            if self._state is None:
                self._callbacks.append(fn)
                return
        fn(self)

    # grpc.Call -----------------------------------------------------------------------
    def code(self) -> StatusCode:
        return self._wait(None).code

    def details(self) -> Optional[str]:
        return self._wait(None).details

    def initial_metadata(self) -> MetadataType:
        return self._wait(None).initial_metadata()

    def trailing_metadata(self) -> MetadataType:
        return self._wait(None).trailing_metadata()

    def is_active(self) -> bool:
        return self._state is None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self._cond:
            if self._state is not None:
                return False
            self._callbacks.append(lambda _f: callback())
        return True

    def __str__(self) -> str:
        if self._state is None:
            return "<_RpcFuture of in-flight RPC>"
        return ("<_RpcFuture of RPC that terminated with:\n\tstatus = %s\n\tdetails = \"%s\"\n>"
                % (self._state.code, self._state.details))

    __repr__ = __str__


class _StreamingCall(RpcError, _CallBase):
    """The response iterator of a server-streaming or bidi call; also the Call, and the
    RpcError raised from iteration when the RPC fails (as grpcio's rendezvous)."""

    def __init__(self, ncall: Any, deserializer: Deserializer) -> None:
        super().__init__()
        self._ncall = ncall
        self._deserializer = deserializer
        self._lock = threading.Lock()
        self._md_lock = threading.Lock()
        self._state: Optional[_CallState] = None  # type: ignore[assignment]
        self._got_initial = False
        self._callbacks: list = []
        self._sender_error: Optional[str] = None

    def __iter__(self) -> "_StreamingCall":
        return self

    def __next__(self) -> Any:
        data = self._ncall.recv_message()
        if data is not None:
            try:
                return deserialize(self._deserializer, data)
            except Exception as e:  # noqa: BLE001
                self._ncall.cancel()
                self._finish(StatusCode.INTERNAL, "Exception deserializing response! %s" % e)
                raise self from None
        state = self._finish()
        if state.code is _OK:
            raise StopIteration()
        raise self

    next = __next__

    def _finish(self, override: Optional[StatusCode] = None,
                details: Optional[str] = None) -> _CallState:
        with self._lock:
            if self._state is None:
                code, message = self._ncall.recv_status()
                state = _CallState(self._ncall, status_from_int(code), message)
                if override is not None:
                    state = _CallState(self._ncall, override, details)
                elif self._sender_error is not None and state.code is StatusCode.CANCELLED:
                    state = _CallState(self._ncall, StatusCode.UNKNOWN, self._sender_error)
                self._state = state
                callbacks, self._callbacks = self._callbacks, []
            else:
                callbacks = []
        for cb in callbacks:
            try:
                cb()
            except Exception:  # noqa: BLE001
                _LOG.exception("polyrpc: exception in a call callback")
        return self._state  # type: ignore[return-value]

    def cancel(self) -> bool:
        if self._state is not None:
            return False
        self._ncall.cancel()
        return True

    def cancelled(self) -> bool:
        return self._state is not None and self._state.code is StatusCode.CANCELLED

    def is_active(self) -> bool:
        return self._state is None

    def running(self) -> bool:
        return self._state is None

    def done(self) -> bool:
        return self._state is not None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self._lock:
            if self._state is not None:
                return False
            self._callbacks.append(callback)
            return True

    def code(self) -> StatusCode:
        return self._finish().code

    def details(self) -> Optional[str]:
        return self._finish().details

    def initial_metadata(self) -> MetadataType:
        with self._md_lock:
            if not self._got_initial:
                if self._state is None:
                    self._ncall.recv_initial_metadata()
                self._got_initial = True
        return self._ncall.initial_metadata()

    def trailing_metadata(self) -> MetadataType:
        return self._finish().trailing_metadata()

    def result(self, timeout: Optional[float] = None) -> Any:
        state = self._finish()
        if state.code is _OK:
            return None
        raise self

    def exception(self, timeout: Optional[float] = None) -> Optional[Exception]:
        return None if self._finish().code is _OK else self

    def __str__(self) -> str:
        if self._state is None:
            return "<_StreamingCall of in-flight RPC>"
        return ("<_StreamingCall of RPC that terminated with:\n\tstatus = %s\n"
                "\tdetails = \"%s\"\n>" % (self._state.code, self._state.details))

    __repr__ = __str__


def _send_requests(ncall: Any, requests: Any, serializer: Serializer) -> Optional[str]:
    """Sends every request then half-closes. Returns an error text if the iterator or the
    serializer failed (the call is then cancelled)."""
    try:
        for request in requests:
            data = serialize(serializer, request)
            if not ncall.send_message(data):
                return None  # the call is over; its status tells why
        ncall.close_send()
        return None
    except Exception as e:  # noqa: BLE001 - the application's iterator may raise anything
        ncall.cancel()
        _LOG.exception("polyrpc: exception iterating requests")
        return "Exception iterating requests! %s" % e


# ---- Multicallables -------------------------------------------------------------------------

class _MultiCallable:
    __slots__ = ("_channel", "_method", "_serializer", "_deserializer")
    # polyrpc_call_create flags of every call: ONE_RESPONSE where the method answers one message
    # (an OK without it, or a second one, is then UNIMPLEMENTED, as statuscodes.md asks).
    _FLAGS = 0

    def __init__(self, channel: "Channel", method: str, request_serializer: Serializer,
                 response_deserializer: Deserializer) -> None:
        self._channel = channel
        self._method = check_method(method)
        self._serializer = request_serializer
        self._deserializer = response_deserializer

    def _create(self, timeout: Optional[float], metadata: Optional[Metadata],
                credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                compression: Any) -> Any:
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
        if ch._authority is not None:
            ncall.set_authority(ch._authority)
        return ncall


class UnaryUnaryMultiCallable(_MultiCallable):
    """Calls a unary-unary method: ``__call__``, ``with_call`` and ``future``."""
    __slots__ = ()
    _FLAGS = _polyrpc.ONE_RESPONSE

    def _blocking(self, request: Any, timeout: Optional[float], metadata: Optional[Metadata],
                  credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                  compression: Any) -> Tuple[Any, _CallState]:
        ch = self._channel
        data = serialize(self._serializer, request)
        creds = credentials if credentials is not None else ch._call_credentials
        if creds is not None and not isinstance(creds, CallCredentials):
            raise TypeError("credentials must be polyrpc.CallCredentials")
        code, response, ncall = ch._native_channel().unary(
            self._method, timeout_ms(timeout), check_metadata(metadata),
            _polyrpc.WAIT_FOR_READY if wait_for_ready else 0, data,
            compression_name(compression), None if creds is None else creds._native,
            ch._authority)
        if code == 0:
            if response is None:
                raise _local_error(StatusCode.INTERNAL, "No message returned for unary request")
            try:
                value = deserialize(self._deserializer, response)
            except Exception as e:  # noqa: BLE001
                raise _local_error(StatusCode.INTERNAL,
                                   "Exception deserializing response! %s" % e) from None
            return value, _CallState(ncall, _OK, ncall.status()[1])
        raise _InactiveRpcError(_finished_state(ncall))

    def __call__(self, request: Any, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Any = None) -> Any:
        """Invokes the RPC and blocks until the response; raises RpcError if not OK."""
        return self._blocking(request, timeout, metadata, credentials, wait_for_ready,
                              compression)[0]

    def with_call(self, request: Any, timeout: Optional[float] = None,
                  metadata: Optional[Metadata] = None,
                  credentials: Optional[CallCredentials] = None,
                  wait_for_ready: Optional[bool] = None,
                  compression: Any = None) -> Tuple[Any, _UnaryOutcome]:
        """Like ``__call__`` but returns ``(response, call)``."""
        response, state = self._blocking(request, timeout, metadata, credentials,
                                         wait_for_ready, compression)
        return response, _UnaryOutcome(response, state)

    def future(self, request: Any, timeout: Optional[float] = None,
               metadata: Optional[Metadata] = None,
               credentials: Optional[CallCredentials] = None,
               wait_for_ready: Optional[bool] = None, compression: Any = None) -> _RpcFuture:
        """Starts the RPC and returns a Future (also a Call) without blocking."""
        data = serialize(self._serializer, request)
        ncall = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        fut = _RpcFuture(ncall, self._deserializer)
        fut._start_unary(data)
        return fut


class UnaryStreamMultiCallable(_MultiCallable):
    """Calls a server-streaming method; returns an iterator of responses that is also a Call."""

    def __call__(self, request: Any, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Any = None) -> _StreamingCall:
        data = serialize(self._serializer, request)
        ncall = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        ncall.send_message(data, _polyrpc.WRITE_LAST)
        return _StreamingCall(ncall, self._deserializer)


class StreamUnaryMultiCallable(_MultiCallable):
    """Calls a client-streaming method with an iterator of requests."""
    __slots__ = ()
    _FLAGS = _polyrpc.ONE_RESPONSE

    def _blocking(self, request_iterator: Any, timeout: Optional[float],
                  metadata: Optional[Metadata], credentials: Optional[CallCredentials],
                  wait_for_ready: Optional[bool], compression: Any) -> Tuple[Any, _CallState]:
        ncall = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        error = _send_requests(ncall, request_iterator, self._serializer)
        message = ncall.recv_message()
        state = _finished_state(_wait_status(ncall))
        if error is not None and state.code is not _OK:
            state = _CallState(ncall, StatusCode.UNKNOWN, error)
        if state.code is not _OK:
            raise _InactiveRpcError(state)
        if message is None:
            raise _InactiveRpcError(_CallState(ncall, StatusCode.INTERNAL,
                                               "No message returned for unary request"))
        try:
            return deserialize(self._deserializer, message), state
        except Exception as e:  # noqa: BLE001
            raise _local_error(StatusCode.INTERNAL,
                               "Exception deserializing response! %s" % e) from None

    def __call__(self, request_iterator: Any, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Any = None) -> Any:
        return self._blocking(request_iterator, timeout, metadata, credentials, wait_for_ready,
                              compression)[0]

    def with_call(self, request_iterator: Any, timeout: Optional[float] = None,
                  metadata: Optional[Metadata] = None,
                  credentials: Optional[CallCredentials] = None,
                  wait_for_ready: Optional[bool] = None,
                  compression: Any = None) -> Tuple[Any, _UnaryOutcome]:
        response, state = self._blocking(request_iterator, timeout, metadata, credentials,
                                         wait_for_ready, compression)
        return response, _UnaryOutcome(response, state)

    def future(self, request_iterator: Any, timeout: Optional[float] = None,
               metadata: Optional[Metadata] = None,
               credentials: Optional[CallCredentials] = None,
               wait_for_ready: Optional[bool] = None, compression: Any = None) -> _RpcFuture:
        """Starts the RPC; requests are consumed on a helper thread (as grpcio does)."""
        ncall = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        fut = _RpcFuture(ncall, self._deserializer)

        def run() -> None:
            error = _send_requests(ncall, request_iterator, self._serializer)
            message = ncall.recv_message()
            _wait_status(ncall)
            if error is not None:
                state = _finished_state(ncall)
                if state.code is not _OK:
                    fut._complete(_CallState(ncall, StatusCode.UNKNOWN, error), None)
                    return
            fut._complete_from_call(message)

        threading.Thread(target=run, name="polyrpc-stream-unary", daemon=True).start()
        return fut


class StreamStreamMultiCallable(_MultiCallable):
    """Calls a bidi-streaming method; requests are sent from a helper thread while the caller
    iterates the responses."""

    def __call__(self, request_iterator: Any, timeout: Optional[float] = None,
                 metadata: Optional[Metadata] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Any = None) -> _StreamingCall:
        ncall = self._create(timeout, metadata, credentials, wait_for_ready, compression)
        ncall.start()
        call = _StreamingCall(ncall, self._deserializer)
        serializer = self._serializer

        def send() -> None:
            error = _send_requests(ncall, request_iterator, serializer)
            if error is not None:
                call._sender_error = error

        threading.Thread(target=send, name="polyrpc-request-sender", daemon=True).start()
        return call


def _wait_status(ncall: Any) -> Any:
    ncall.recv_status()
    return ncall


# ---- Channel ------------------------------------------------------------------------------

class Channel:
    """A client channel to one target (``grpc.Channel``). Thread-safe; use as a context manager
    or call ``close()``."""

    def __init__(self, target: str, credentials: Optional[ChannelCredentials],
                 options: Any = None, compression: Any = None) -> None:
        check_target(target)
        opts = normalize_options(options) or []
        self._authority: Optional[str] = None
        for name, value in opts:
            if name == "grpc.default_authority" and isinstance(value, str):
                self._authority = value
        name = compression_name(compression)
        if name is not None:
            opts.append(("grpc.default_compression_algorithm", int(compression)))
        if credentials is None:
            native_creds = insecure_channel_native()
            self._call_credentials = None
        else:
            if not isinstance(credentials, ChannelCredentials):
                raise TypeError("credentials must be polyrpc.ChannelCredentials, got %s" %
                                type(credentials).__name__)
            native_creds = credentials._native
            self._call_credentials = credentials._call_credentials
        self._target = target
        self._pid = os.getpid()
        self._channel: Any = _polyrpc.Channel(target, native_creds, opts or None)
        self._closed = False

    def _native_channel(self) -> Any:
        if self._closed:
            raise ValueError("Cannot invoke RPC: Channel closed!")
        return self._channel

    def unary_unary(self, method: str, request_serializer: Serializer = None,
                    response_deserializer: Deserializer = None,
                    _registered_method: bool = False) -> UnaryUnaryMultiCallable:
        """A multicallable for a unary-unary method ("/package.Service/Method")."""
        return UnaryUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Serializer = None,
                     response_deserializer: Deserializer = None,
                     _registered_method: bool = False) -> UnaryStreamMultiCallable:
        """A multicallable for a server-streaming method."""
        return UnaryStreamMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Serializer = None,
                     response_deserializer: Deserializer = None,
                     _registered_method: bool = False) -> StreamUnaryMultiCallable:
        """A multicallable for a client-streaming method."""
        return StreamUnaryMultiCallable(self, method, request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Serializer = None,
                      response_deserializer: Deserializer = None,
                      _registered_method: bool = False) -> StreamStreamMultiCallable:
        """A multicallable for a bidi-streaming method."""
        return StreamStreamMultiCallable(self, method, request_serializer, response_deserializer)

    def get_state(self, try_to_connect: bool = False) -> ChannelConnectivity:
        """The channel's connectivity state (polyrpc extension; grpcio uses subscribe())."""
        return _STATES[self._native_channel().get_state(bool(try_to_connect))]

    def subscribe(self, callback: Callable[[ChannelConnectivity], None],
                  try_to_connect: bool = False) -> None:
        """Calls callback(state) now and on every state change, from a helper thread."""
        ch = self._native_channel()
        stop = threading.Event()
        self._subscriptions = getattr(self, "_subscriptions", {})
        self._subscriptions[callback] = stop

        def watch() -> None:
            state = ch.get_state(bool(try_to_connect))
            callback(_STATES[state])
            while not stop.is_set() and state != 4:
                if ch.wait_for_state_change(state, 200):
                    state = ch.get_state(False)
                    if not stop.is_set():
                        callback(_STATES[state])

        threading.Thread(target=watch, name="polyrpc-subscribe", daemon=True).start()

    def unsubscribe(self, callback: Callable[[ChannelConnectivity], None]) -> None:
        stop = getattr(self, "_subscriptions", {}).pop(callback, None)
        if stop is not None:
            stop.set()

    def close(self) -> None:
        """Cancels every call on the channel and releases it."""
        if self._closed:
            return
        self._closed = True
        for stop in getattr(self, "_subscriptions", {}).values():
            stop.set()
        if self._pid == os.getpid():
            self._channel.close()

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_STATES = {c.value[0]: c for c in ChannelConnectivity}


def insecure_channel(target: str, options: Any = None, compression: Any = None) -> Channel:
    """A plaintext (h2c) channel to target, as ``grpc.insecure_channel``."""
    return Channel(target, None, options, compression)


def secure_channel(target: str, credentials: ChannelCredentials, options: Any = None,
                   compression: Any = None) -> Channel:
    """A TLS channel to target, as ``grpc.secure_channel``."""
    if credentials is None:
        raise TypeError("secure_channel needs credentials (see polyrpc.ssl_channel_credentials)")
    return Channel(target, credentials, options, compression)


class _ReadyFuture:
    """Future of channel_ready_future()."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._done = threading.Event()
        self._cancelled = False
        self._callbacks: list = []
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="polyrpc-ready", daemon=True).start()

    def _watch(self) -> None:
        ch = self._channel._native_channel()
        state = ch.get_state(True)
        while state != 2 and not self._cancelled:
            if state == 4:
                return
            ch.wait_for_state_change(state, 100)
            state = ch.get_state(True)
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def result(self, timeout: Optional[float] = None) -> None:
        if not self._done.wait(timeout):
            raise FutureTimeoutError()

    def exception(self, timeout: Optional[float] = None) -> None:
        self.result(timeout)

    def cancel(self) -> bool:
        if self._done.is_set():
            return False
        self._cancelled = True
        return True

    def cancelled(self) -> bool:
        return self._cancelled

    def running(self) -> bool:
        return not self._done.is_set()

    def done(self) -> bool:
        return self._done.is_set()

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)


def channel_ready_future(channel: Channel) -> _ReadyFuture:
    """A Future that completes when the channel is READY (as ``grpc.channel_ready_future``)."""
    return _ReadyFuture(channel)
