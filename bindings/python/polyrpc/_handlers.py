"""Method handlers, generic handlers and server interceptors, shaped exactly like grpcio's so
that code generated for grpcio (``add_FooServicer_to_server``) works with only the import
changed. Shared by the sync and asyncio servers."""

from __future__ import annotations

import abc
from typing import Any, Callable, Dict, Iterable, NamedTuple, Optional, Tuple

from ._common import Deserializer, MetadataType, Serializer


class RpcMethodHandler(NamedTuple):
    """How to serve one method (``grpc.RpcMethodHandler``); exactly one behavior is set."""

    request_streaming: bool
    response_streaming: bool
    request_deserializer: Deserializer
    response_serializer: Serializer
    unary_unary: Optional[Callable[..., Any]]
    unary_stream: Optional[Callable[..., Any]]
    stream_unary: Optional[Callable[..., Any]]
    stream_stream: Optional[Callable[..., Any]]


def unary_unary_rpc_method_handler(behavior: Callable[[Any, Any], Any],
                                   request_deserializer: Deserializer = None,
                                   response_serializer: Serializer = None) -> RpcMethodHandler:
    """A handler for a unary-unary method: ``behavior(request, context) -> response``."""
    return RpcMethodHandler(False, False, request_deserializer, response_serializer, behavior,
                            None, None, None)


def unary_stream_rpc_method_handler(behavior: Callable[[Any, Any], Iterable[Any]],
                                    request_deserializer: Deserializer = None,
                                    response_serializer: Serializer = None) -> RpcMethodHandler:
    """A handler for a server-streaming method: ``behavior(request, context)`` yields
    responses."""
    return RpcMethodHandler(False, True, request_deserializer, response_serializer, None,
                            behavior, None, None)


def stream_unary_rpc_method_handler(behavior: Callable[[Iterable[Any], Any], Any],
                                    request_deserializer: Deserializer = None,
                                    response_serializer: Serializer = None) -> RpcMethodHandler:
    """A handler for a client-streaming method: ``behavior(request_iterator, context)``."""
    return RpcMethodHandler(True, False, request_deserializer, response_serializer, None, None,
                            behavior, None)


def stream_stream_rpc_method_handler(behavior: Callable[[Iterable[Any], Any], Iterable[Any]],
                                     request_deserializer: Deserializer = None,
                                     response_serializer: Serializer = None) -> RpcMethodHandler:
    """A handler for a bidi-streaming method."""
    return RpcMethodHandler(True, True, request_deserializer, response_serializer, None, None,
                            None, behavior)


class HandlerCallDetails(NamedTuple):
    """What a generic handler or server interceptor sees of an incoming call."""

    method: str
    invocation_metadata: MetadataType


class GenericRpcHandler(abc.ABC):
    """Finds the handler of a method (``grpc.GenericRpcHandler``)."""

    @abc.abstractmethod
    def service(self, handler_call_details: HandlerCallDetails) -> Optional[RpcMethodHandler]:
        raise NotImplementedError()


class ServiceRpcHandler(GenericRpcHandler):
    """A GenericRpcHandler serving one service (``grpc.ServiceRpcHandler``)."""

    @abc.abstractmethod
    def service_name(self) -> str:
        raise NotImplementedError()


class _DictionaryGenericHandler(ServiceRpcHandler):
    def __init__(self, service: str, method_handlers: Dict[str, RpcMethodHandler]) -> None:
        self._name = service
        self._method_handlers = {"/%s/%s" % (service, method): handler
                                 for method, handler in method_handlers.items()}

    def service_name(self) -> str:
        return self._name

    def service(self, handler_call_details: HandlerCallDetails) -> Optional[RpcMethodHandler]:
        return self._method_handlers.get(handler_call_details.method)


def method_handlers_generic_handler(service: str,
                                    method_handlers: Dict[str, RpcMethodHandler]
                                    ) -> GenericRpcHandler:
    """A generic handler for ``service`` ("package.Service") from a dict of method name to
    RpcMethodHandler, as ``grpc.method_handlers_generic_handler``."""
    if not isinstance(service, str):
        raise TypeError("service must be a str like 'package.Service'")
    return _DictionaryGenericHandler(service, method_handlers)


class ServerInterceptor(abc.ABC):
    """Intercepts incoming calls (``grpc.ServerInterceptor``)."""

    @abc.abstractmethod
    def intercept_service(self, continuation: Callable[[HandlerCallDetails],
                                                       Optional[RpcMethodHandler]],
                          handler_call_details: HandlerCallDetails
                          ) -> Optional[RpcMethodHandler]:
        """Returns the handler for the call, usually ``continuation(handler_call_details)``
        possibly wrapped, or None to reject the method (UNIMPLEMENTED)."""
        raise NotImplementedError()


class HandlerRegistry:
    """Method lookup of one server: a dict for registered (and dictionary generic) handlers,
    then the other generic handlers in order, behind the interceptors."""

    def __init__(self, interceptors: Optional[Iterable[Any]] = None) -> None:
        self.methods: Dict[str, RpcMethodHandler] = {}
        self.generic: list = []
        self.interceptors = list(interceptors or ())
        for i in self.interceptors:
            if not hasattr(i, "intercept_service"):
                raise TypeError("server interceptors must implement intercept_service()")

    def add_generic(self, handlers: Iterable[Any]) -> None:
        for h in handlers:
            if isinstance(h, _DictionaryGenericHandler):
                self.methods.update(h._method_handlers)
            elif hasattr(h, "service"):
                self.generic.append(h)
            else:
                raise TypeError("generic handlers must implement service(), got %r" % (h,))

    def add_registered(self, service_name: str, method_handlers: Dict[str, RpcMethodHandler]) -> None:
        for method, handler in method_handlers.items():
            self.methods["/%s/%s" % (service_name, method)] = handler

    @property
    def needs_generic(self) -> bool:
        """Whether the core must deliver calls to unregistered paths too."""
        return bool(self.generic) or bool(self.interceptors)

    def _find(self, details: HandlerCallDetails) -> Optional[RpcMethodHandler]:
        handler = self.methods.get(details.method)
        if handler is not None:
            return handler
        for g in self.generic:
            handler = g.service(details)
            if handler is not None:
                return handler
        return None

    def lookup(self, method: str, metadata_fn: Callable[[], MetadataType]
               ) -> Tuple[Optional[RpcMethodHandler], Optional[HandlerCallDetails]]:
        if not self.interceptors and not self.generic:
            return self.methods.get(method), None  # the fast path: no metadata conversion
        details = HandlerCallDetails(method, metadata_fn())
        if not self.interceptors:
            return self._find(details), details
        continuation = self._find
        for interceptor in reversed(self.interceptors):
            continuation = _bind(interceptor, continuation)
        return continuation(details), details


def _bind(interceptor: Any, continuation: Callable) -> Callable:
    return lambda details: interceptor.intercept_service(continuation, details)
