"""Shared vocabulary of the sync and asyncio APIs: status codes, compression, errors, metadata
and argument checks. Pure Python, no native calls, so it is importable (and testable) alone."""

from __future__ import annotations

import enum
import math
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple, Union

MetadataValue = Union[str, bytes]
Metadata = Sequence[Tuple[str, MetadataValue]]
MetadataType = Tuple[Tuple[str, MetadataValue], ...]
Serializer = Optional[Callable[[Any], bytes]]
Deserializer = Optional[Callable[[bytes], Any]]


class StatusCode(enum.Enum):
    """gRPC status codes; the same names and values as ``grpc.StatusCode``.

    ``value`` is ``(int_code, "lowercase name")`` exactly as in grpcio.
    """

    OK = (0, "ok")
    CANCELLED = (1, "cancelled")
    UNKNOWN = (2, "unknown")
    INVALID_ARGUMENT = (3, "invalid argument")
    DEADLINE_EXCEEDED = (4, "deadline exceeded")
    NOT_FOUND = (5, "not found")
    ALREADY_EXISTS = (6, "already exists")
    PERMISSION_DENIED = (7, "permission denied")
    RESOURCE_EXHAUSTED = (8, "resource exhausted")
    FAILED_PRECONDITION = (9, "failed precondition")
    ABORTED = (10, "aborted")
    OUT_OF_RANGE = (11, "out of range")
    UNIMPLEMENTED = (12, "unimplemented")
    INTERNAL = (13, "internal")
    UNAVAILABLE = (14, "unavailable")
    DATA_LOSS = (15, "data loss")
    UNAUTHENTICATED = (16, "unauthenticated")


_CODE_BY_INT = {c.value[0]: c for c in StatusCode}


def status_from_int(code: int) -> StatusCode:
    """The StatusCode for a wire value; UNKNOWN outside 0..16 (as gRPC does)."""
    return _CODE_BY_INT.get(code, StatusCode.UNKNOWN)


def status_to_int(code: Any) -> int:
    """Accepts a polyrpc StatusCode, a grpc.StatusCode (same shape) or an int."""
    if isinstance(code, StatusCode):
        return code.value[0]
    if isinstance(code, bool):
        raise TypeError("a status code must be a StatusCode, not bool")
    if isinstance(code, int):
        if not 0 <= code <= 16:
            raise ValueError("status code %d is outside 0..16" % code)
        return code
    value = getattr(code, "value", None)  # grpc.StatusCode and look-alikes
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        return status_to_int(value[0])
    raise TypeError("a status code must be polyrpc.StatusCode, got %s" % type(code).__name__)


class Compression(enum.IntEnum):
    """Message compression algorithms; the same names and values as ``grpc.Compression``."""

    NoCompression = 0
    Deflate = 1
    Gzip = 2


_COMPRESSION_NAMES = {0: "identity", 1: "deflate", 2: "gzip"}


def compression_name(compression: Any) -> Optional[str]:
    """The grpc-encoding name for a Compression value (None stays None)."""
    if compression is None:
        return None
    if isinstance(compression, bool) or not isinstance(compression, int):
        value = getattr(compression, "value", None)  # grpc.Compression
        if isinstance(value, int) and not isinstance(value, bool):
            compression = value
        else:
            raise TypeError("compression must be polyrpc.Compression, got %s" %
                            type(compression).__name__)
    try:
        return _COMPRESSION_NAMES[int(compression)]
    except KeyError:
        raise ValueError("unknown compression algorithm %r" % (compression,)) from None


class ChannelConnectivity(enum.Enum):
    """Channel states, as ``grpc.ChannelConnectivity``."""

    IDLE = (0, "idle")
    CONNECTING = (1, "connecting")
    READY = (2, "ready")
    TRANSIENT_FAILURE = (3, "transient failure")
    SHUTDOWN = (4, "shutdown")


class RpcError(Exception):
    """Raised for an RPC that did not end OK.

    The raised objects also implement the Call interface: ``code()``, ``details()``,
    ``initial_metadata()`` and ``trailing_metadata()`` (as in grpcio).
    """


class FutureTimeoutError(Exception):
    """Raised by ``Future.result()``/``exception()`` when the timeout passes first."""


class FutureCancelledError(Exception):
    """Raised by ``Future.result()`` for a cancelled RPC future."""


_MAX_TIMEOUT = 1e15  # seconds; larger values take the full checks (inf means no deadline)


def timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (None = no deadline) to whole milliseconds, rounded up so that a tiny positive
    timeout never turns into "no deadline". -1 means none."""
    if timeout is None:
        return -1
    t = type(timeout)
    if (t is int or t is float) and 0 <= timeout < _MAX_TIMEOUT:  # the common case, cheaply
        return int(math.ceil(timeout * 1000.0))
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds or None, got %s" %
                        type(timeout).__name__)
    if math.isnan(timeout):
        raise ValueError("timeout must not be NaN")
    if timeout < 0:
        raise ValueError("timeout must not be negative, got %r" % (timeout,))
    if math.isinf(timeout):
        return -1
    return int(math.ceil(timeout * 1000.0))


def check_method(method: Any) -> str:
    if not isinstance(method, str):
        raise TypeError("method must be a str like '/package.Service/Method', got %s" %
                        type(method).__name__)
    if not method.startswith("/"):
        raise ValueError("method must look like '/package.Service/Method', got %r" % method)
    return method


def check_target(target: Any) -> str:
    if not isinstance(target, str):
        raise TypeError("target must be a str like 'localhost:50051', got %s" %
                        type(target).__name__)
    if not target:
        raise ValueError("target must not be empty")
    return target


def normalize_options(options: Any) -> Optional[list]:
    """grpcio-style options (a sequence of (name, value)) as a list of tuples, checked."""
    if options is None:
        return None
    if isinstance(options, (str, bytes, dict)):
        raise TypeError("options must be a sequence of (name, value) tuples")
    out = []
    for item in options:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError("options must be a sequence of (name, value) tuples, got %r" % (item,))
        name, value = item
        if not isinstance(name, str):
            raise TypeError("option names must be str, got %r" % (name,))
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, str)):
            raise TypeError("option %r must be int or str, got %s" % (name, type(value).__name__))
        out.append((name, value))
    return out


def serialize(serializer: Serializer, message: Any) -> bytes:
    data = message if serializer is None else serializer(message)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("a message must be bytes after serialization, got %s%s" % (
            type(data).__name__,
            "" if serializer is not None else " (pass request_serializer= to the multicallable)"))
    return data


def deserialize(deserializer: Deserializer, data: bytes) -> Any:
    return data if deserializer is None else deserializer(data)


def check_metadata(metadata: Any) -> Optional[Metadata]:
    """Cheap structural check before the native layer validates keys and values."""
    if metadata is None:
        return None
    if isinstance(metadata, (str, bytes)):
        raise TypeError("metadata must be a sequence of (key, value) pairs, not %s" %
                        type(metadata).__name__)
    if isinstance(metadata, dict):
        return tuple(metadata.items())
    return metadata


def metadata_find(metadata: Iterable[Tuple[str, MetadataValue]], key: str) -> Optional[MetadataValue]:
    for k, v in metadata or ():
        if k == key:
            return v
    return None
