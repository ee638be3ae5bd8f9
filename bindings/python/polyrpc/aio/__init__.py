"""asyncio API of polyrpc, shaped like ``grpc.aio``::

    async with polyrpc.aio.insecure_channel("localhost:50051") as channel:
        stub = GreeterStub(channel)
        reply = await stub.SayHello(HelloRequest(name="you"))
        async for item in stub.ListThings(request):
            ...

Operations complete through a libpolyrpc completion queue whose file descriptor is watched by
the running loop (``loop.add_reader``): no helper thread, no polling.
"""

from .._common import Compression, RpcError, StatusCode
from ._channel import (EOF, AioRpcError, Call, Channel, StreamStreamCall,
                       StreamStreamMultiCallable, StreamUnaryCall, StreamUnaryMultiCallable,
                       UnaryStreamCall, UnaryStreamMultiCallable, UnaryUnaryCall,
                       UnaryUnaryMultiCallable, insecure_channel, secure_channel)
from ._server import Server, ServicerContext, server

__all__ = ["AioRpcError", "Call", "Channel", "Compression", "EOF", "RpcError", "Server",
           "ServicerContext", "StatusCode", "StreamStreamCall", "StreamStreamMultiCallable",
           "StreamUnaryCall", "StreamUnaryMultiCallable", "UnaryStreamCall",
           "UnaryStreamMultiCallable", "UnaryUnaryCall", "UnaryUnaryMultiCallable",
           "insecure_channel", "secure_channel", "server"]
