"""polyrpc: a gRPC-compatible RPC framework. This package mirrors grpcio's API, so code written
for ``grpc`` (including generated ``*_pb2_grpc.py`` stubs) works with ``polyrpc`` in its place.

Client::

    with polyrpc.insecure_channel("localhost:50051") as channel:
        say = channel.unary_unary("/helloworld.Greeter/SayHello",
                                  request_serializer=HelloRequest.SerializeToString,
                                  response_deserializer=HelloReply.FromString)
        reply = say(HelloRequest(name="you"), timeout=5)

Server: ``polyrpc.server(ThreadPoolExecutor(8))`` plus ``add_generic_rpc_handlers``,
``add_insecure_port``, ``start``. Asyncio: ``polyrpc.aio``. See docs/python.md.
"""

import pkgutil as _pkgutil

# Lets a native module built elsewhere (e.g. <build>/bindings/python/polyrpc/) be found when
# both that directory and the source tree are on sys.path.
__path__ = _pkgutil.extend_path(__path__, __name__)  # type: ignore[name-defined]

from . import _polyrpc  # noqa: E402
from ._common import (ChannelConnectivity, Compression, FutureCancelledError,  # noqa: E402
                      FutureTimeoutError, RpcError, StatusCode)
from ._credentials import (CallCredentials, ChannelCredentials, ServerCredentials,  # noqa: E402
                           access_token_call_credentials, composite_call_credentials,
                           composite_channel_credentials, insecure_server_credentials,
                           ssl_channel_credentials, ssl_server_credentials)
from ._channel import (Channel, StreamStreamMultiCallable, StreamUnaryMultiCallable,  # noqa: E402
                       UnaryStreamMultiCallable, UnaryUnaryMultiCallable, channel_ready_future,
                       insecure_channel, secure_channel)
from ._handlers import (GenericRpcHandler, HandlerCallDetails, RpcMethodHandler,  # noqa: E402
                        ServerInterceptor, ServiceRpcHandler, method_handlers_generic_handler,
                        stream_stream_rpc_method_handler, stream_unary_rpc_method_handler,
                        unary_stream_rpc_method_handler, unary_unary_rpc_method_handler)
from ._interceptor import (ClientCallDetails, StreamStreamClientInterceptor,  # noqa: E402
                           StreamUnaryClientInterceptor, UnaryStreamClientInterceptor,
                           UnaryUnaryClientInterceptor, intercept_channel)
from ._server import Server, ServicerContext, server  # noqa: E402
from ._services import HealthService, ServingStatus, file_descriptor_set  # noqa: E402

__version__ = _polyrpc.version()


def version() -> str:
    """The version of the loaded libpolyrpc."""
    return _polyrpc.version()


__all__ = [
    "CallCredentials", "Channel", "ChannelConnectivity", "ChannelCredentials", "ClientCallDetails",
    "Compression", "FutureCancelledError", "FutureTimeoutError", "GenericRpcHandler",
    "HandlerCallDetails", "HealthService", "RpcError", "RpcMethodHandler", "Server", "ServerCredentials",
    "ServerInterceptor", "ServiceRpcHandler", "ServicerContext", "ServingStatus", "StatusCode",
    "StreamStreamClientInterceptor", "StreamStreamMultiCallable", "StreamUnaryClientInterceptor",
    "StreamUnaryMultiCallable", "UnaryStreamClientInterceptor", "UnaryStreamMultiCallable",
    "UnaryUnaryClientInterceptor", "UnaryUnaryMultiCallable", "access_token_call_credentials",
    "channel_ready_future", "composite_call_credentials", "composite_channel_credentials",
    "file_descriptor_set",
    "insecure_channel", "insecure_server_credentials", "intercept_channel",
    "method_handlers_generic_handler", "secure_channel", "server", "ssl_channel_credentials",
    "ssl_server_credentials", "stream_stream_rpc_method_handler",
    "stream_unary_rpc_method_handler", "unary_stream_rpc_method_handler",
    "unary_unary_rpc_method_handler", "version",
]
