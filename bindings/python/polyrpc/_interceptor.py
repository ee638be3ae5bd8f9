"""Client interceptors, with grpcio's shapes: ``intercept_channel(channel, *interceptors)`` and
the four ``*ClientInterceptor`` classes whose methods receive ``continuation``,
``client_call_details`` and the request (or request iterator)."""

from __future__ import annotations

import abc
import sys
from typing import Any, Callable, NamedTuple, Optional

from ._channel import Channel, _InactiveRpcError, _UnaryOutcome
from ._common import RpcError, StatusCode


class ClientCallDetails(abc.ABC):
    """What an interceptor may inspect or replace: method, timeout, metadata, credentials,
    wait_for_ready, compression (``grpc.ClientCallDetails``)."""

    method: str
    timeout: Optional[float]
    metadata: Any
    credentials: Any
    wait_for_ready: Optional[bool]
    compression: Any


class _ClientCallDetails(NamedTuple):
    method: str
    timeout: Optional[float]
    metadata: Any
    credentials: Any
    wait_for_ready: Optional[bool]
    compression: Any


ClientCallDetails.register(_ClientCallDetails)


class UnaryUnaryClientInterceptor(abc.ABC):
    @abc.abstractmethod
    def intercept_unary_unary(self, continuation: Callable, client_call_details: Any,
                              request: Any) -> Any:
        """Returns a Call+Future, usually ``continuation(client_call_details, request)``."""
        raise NotImplementedError()


class UnaryStreamClientInterceptor(abc.ABC):
    @abc.abstractmethod
    def intercept_unary_stream(self, continuation: Callable, client_call_details: Any,
                               request: Any) -> Any:
        """Returns a Call + response iterator."""
        raise NotImplementedError()


class StreamUnaryClientInterceptor(abc.ABC):
    @abc.abstractmethod
    def intercept_stream_unary(self, continuation: Callable, client_call_details: Any,
                               request_iterator: Any) -> Any:
        raise NotImplementedError()


class StreamStreamClientInterceptor(abc.ABC):
    @abc.abstractmethod
    def intercept_stream_stream(self, continuation: Callable, client_call_details: Any,
                                request_iterator: Any) -> Any:
        raise NotImplementedError()


class _FailureOutcome(RpcError):
    """A continuation that raised something other than RpcError."""

    def __init__(self, exception: BaseException, traceback: Any) -> None:
        super().__init__()
        self._exception = exception
        self._traceback = traceback

    def result(self, timeout: Optional[float] = None) -> Any:
        raise self._exception

    def exception(self, timeout: Optional[float] = None) -> BaseException:
        return self._exception

    def traceback(self, timeout: Optional[float] = None) -> Any:
        return self._traceback

    def code(self) -> StatusCode:
        return StatusCode.INTERNAL

    def details(self) -> str:
        return "Exception raised while intercepting the RPC"

    def initial_metadata(self) -> tuple:
        return ()

    def trailing_metadata(self) -> tuple:
        return ()

    def done(self) -> bool:
        return True

    def cancel(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def is_active(self) -> bool:
        return False

    def add_done_callback(self, fn: Callable) -> None:
        fn(self)


def _details(method: str, timeout: Any, metadata: Any, credentials: Any, wait_for_ready: Any,
             compression: Any) -> _ClientCallDetails:
    return _ClientCallDetails(method, timeout, metadata, credentials, wait_for_ready, compression)


def _kwargs(new: Any, old: _ClientCallDetails) -> dict:
    def get(name: str) -> Any:
        return getattr(new, name, getattr(old, name))
    return {"timeout": get("timeout"), "metadata": get("metadata"),
            "credentials": get("credentials"), "wait_for_ready": get("wait_for_ready"),
            "compression": get("compression")}


class _InterceptedUnaryUnary:
    def __init__(self, thunk: Callable[[str], Any], method: str, interceptor: Any) -> None:
        self._thunk = thunk
        self._method = method
        self._interceptor = interceptor

    def _with_call(self, request: Any, timeout: Any = None, metadata: Any = None,
                   credentials: Any = None, wait_for_ready: Any = None,
                   compression: Any = None) -> Any:
        details = _details(self._method, timeout, metadata, credentials, wait_for_ready,
                           compression)

        def continuation(new_details: Any, request: Any) -> Any:
            method = getattr(new_details, "method", self._method)
            try:
                response, call = self._thunk(method).with_call(request,
                                                              **_kwargs(new_details, details))
                return call
            except RpcError as e:
                return e
            except Exception as e:  # noqa: BLE001
                return _FailureOutcome(e, sys.exc_info()[2])

        call = self._interceptor.intercept_unary_unary(continuation, details, request)
        return call.result(), call

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        return self._with_call(request, **kwargs)[0]

    def with_call(self, request: Any, **kwargs: Any) -> Any:
        return self._with_call(request, **kwargs)

    def future(self, request: Any, timeout: Any = None, metadata: Any = None,
               credentials: Any = None, wait_for_ready: Any = None,
               compression: Any = None) -> Any:
        details = _details(self._method, timeout, metadata, credentials, wait_for_ready,
                           compression)

        def continuation(new_details: Any, request: Any) -> Any:
            method = getattr(new_details, "method", self._method)
            return self._thunk(method).future(request, **_kwargs(new_details, details))

        try:
            return self._interceptor.intercept_unary_unary(continuation, details, request)
        except Exception as e:  # noqa: BLE001
            return _FailureOutcome(e, sys.exc_info()[2])


class _InterceptedStreamUnary:
    def __init__(self, thunk: Callable[[str], Any], method: str, interceptor: Any) -> None:
        self._thunk = thunk
        self._method = method
        self._interceptor = interceptor

    def _with_call(self, request_iterator: Any, timeout: Any = None, metadata: Any = None,
                   credentials: Any = None, wait_for_ready: Any = None,
                   compression: Any = None) -> Any:
        details = _details(self._method, timeout, metadata, credentials, wait_for_ready,
                           compression)

        def continuation(new_details: Any, request_iterator: Any) -> Any:
            method = getattr(new_details, "method", self._method)
            try:
                response, call = self._thunk(method).with_call(request_iterator,
                                                              **_kwargs(new_details, details))
                return call
            except RpcError as e:
                return e
            except Exception as e:  # noqa: BLE001
                return _FailureOutcome(e, sys.exc_info()[2])

        call = self._interceptor.intercept_stream_unary(continuation, details, request_iterator)
        return call.result(), call

    def __call__(self, request_iterator: Any, **kwargs: Any) -> Any:
        return self._with_call(request_iterator, **kwargs)[0]

    def with_call(self, request_iterator: Any, **kwargs: Any) -> Any:
        return self._with_call(request_iterator, **kwargs)

    def future(self, request_iterator: Any, timeout: Any = None, metadata: Any = None,
               credentials: Any = None, wait_for_ready: Any = None,
               compression: Any = None) -> Any:
        details = _details(self._method, timeout, metadata, credentials, wait_for_ready,
                           compression)

        def continuation(new_details: Any, request_iterator: Any) -> Any:
            method = getattr(new_details, "method", self._method)
            return self._thunk(method).future(request_iterator, **_kwargs(new_details, details))

        try:
            return self._interceptor.intercept_stream_unary(continuation, details,
                                                            request_iterator)
        except Exception as e:  # noqa: BLE001
            return _FailureOutcome(e, sys.exc_info()[2])


class _InterceptedStreaming:
    """unary_stream and stream_stream: the continuation returns the response iterator."""

    def __init__(self, thunk: Callable[[str], Any], method: str, interceptor: Any,
                 hook: str) -> None:
        self._thunk = thunk
        self._method = method
        self._interceptor = interceptor
        self._hook = hook

    def __call__(self, request: Any, timeout: Any = None, metadata: Any = None,
                 credentials: Any = None, wait_for_ready: Any = None,
                 compression: Any = None) -> Any:
        details = _details(self._method, timeout, metadata, credentials, wait_for_ready,
                           compression)

        def continuation(new_details: Any, request: Any) -> Any:
            method = getattr(new_details, "method", self._method)
            return self._thunk(method)(request, **_kwargs(new_details, details))

        try:
            return getattr(self._interceptor, self._hook)(continuation, details, request)
        except RpcError:
            raise
        except Exception as e:  # noqa: BLE001
            return _FailureOutcome(e, sys.exc_info()[2])


class _InterceptedChannel:
    """A channel whose calls pass through one interceptor, then the wrapped channel."""

    def __init__(self, channel: Any, interceptor: Any) -> None:
        self._channel = channel
        self._interceptor = interceptor

    def unary_unary(self, method: str, request_serializer: Any = None,
                    response_deserializer: Any = None, _registered_method: bool = False) -> Any:
        def thunk(m: str) -> Any:
            return self._channel.unary_unary(m, request_serializer, response_deserializer)
        if hasattr(self._interceptor, "intercept_unary_unary"):
            return _InterceptedUnaryUnary(thunk, method, self._interceptor)
        return thunk(method)

    def unary_stream(self, method: str, request_serializer: Any = None,
                     response_deserializer: Any = None, _registered_method: bool = False) -> Any:
        def thunk(m: str) -> Any:
            return self._channel.unary_stream(m, request_serializer, response_deserializer)
        if hasattr(self._interceptor, "intercept_unary_stream"):
            return _InterceptedStreaming(thunk, method, self._interceptor,
                                         "intercept_unary_stream")
        return thunk(method)

    def stream_unary(self, method: str, request_serializer: Any = None,
                     response_deserializer: Any = None, _registered_method: bool = False) -> Any:
        def thunk(m: str) -> Any:
            return self._channel.stream_unary(m, request_serializer, response_deserializer)
        if hasattr(self._interceptor, "intercept_stream_unary"):
            return _InterceptedStreamUnary(thunk, method, self._interceptor)
        return thunk(method)

    def stream_stream(self, method: str, request_serializer: Any = None,
                      response_deserializer: Any = None, _registered_method: bool = False) -> Any:
        def thunk(m: str) -> Any:
            return self._channel.stream_stream(m, request_serializer, response_deserializer)
        if hasattr(self._interceptor, "intercept_stream_stream"):
            return _InterceptedStreaming(thunk, method, self._interceptor,
                                         "intercept_stream_stream")
        return thunk(method)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "_InterceptedChannel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_HOOKS = ("intercept_unary_unary", "intercept_unary_stream", "intercept_stream_unary",
          "intercept_stream_stream")


def intercept_channel(channel: Channel, *interceptors: Any) -> Any:
    """Wraps channel so that every call goes through interceptors, first one outermost (as
    ``grpc.intercept_channel``)."""
    for interceptor in reversed(list(interceptors)):
        if not any(hasattr(interceptor, h) for h in _HOOKS):
            raise TypeError("an interceptor must implement one of %s, got %r" %
                            (", ".join(_HOOKS), interceptor))
        channel = _InterceptedChannel(channel, interceptor)
    return channel


__all__ = ["ClientCallDetails", "UnaryUnaryClientInterceptor", "UnaryStreamClientInterceptor",
           "StreamUnaryClientInterceptor", "StreamStreamClientInterceptor", "intercept_channel",
           "_InactiveRpcError", "_UnaryOutcome"]
