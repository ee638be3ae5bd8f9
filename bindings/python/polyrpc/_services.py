"""The health service and server reflection, served by the polyrpc core itself (no Python
handler runs for them): ``Server.enable_health()`` and ``Server.enable_reflection()``.

The health service answers grpc.health.v1.Health (Check, Watch), what Kubernetes probes,
grpc-health-probe, load balancers and grpcio-health-checking's clients ask. Reflection answers
grpc.reflection.v1 and v1alpha, what grpcurl, grpcui and grpcio-reflection's client use; the
descriptors come from protobuf's default pool (the ``*_pb2`` modules the application imported),
sent to the core as a FileDescriptorSet."""

from __future__ import annotations

import enum
from typing import Any, Iterable, List, Optional, Union


class ServingStatus(enum.IntEnum):
    """grpc.health.v1.HealthCheckResponse.ServingStatus (the same values as grpcio-health-
    checking's ``health_pb2.HealthCheckResponse.SERVING``, ...)."""
    UNKNOWN = 0
    SERVING = 1
    NOT_SERVING = 2
    SERVICE_UNKNOWN = 3


def _status_value(status: Union[ServingStatus, int, str]) -> int:
    if isinstance(status, str):
        try:
            return int(ServingStatus[status])
        except KeyError:
            raise ValueError("unknown serving status %r" % status) from None
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError("status must be a ServingStatus, an int or a name, got %r" % (status,))
    value = int(status)
    if value not in ServingStatus._value2member_map_:
        raise ValueError("unknown serving status %d" % value)
    return value


class HealthService:
    """The health statuses of a server, from ``Server.enable_health()``. Thread-safe; changes
    reach every ``Watch`` of the service at once. The server as a whole is ``""``: it starts
    SERVING; other services have no status (Check answers NOT_FOUND) until set. When the server
    stops, every status turns NOT_SERVING and later changes are ignored."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def set(self, service: str, status: Union[ServingStatus, int, str]) -> None:
        """Sets the status of ``service`` ("" for the whole server), as grpcio's
        ``HealthServicer.set``: a ServingStatus, its int value or its name."""
        if not isinstance(service, str):
            raise TypeError("service must be a str")
        self._native.set_health_status(service, _status_value(status))

    def clear(self, service: str) -> None:
        """Forgets ``service``: Check answers NOT_FOUND, Watch reports SERVICE_UNKNOWN."""
        self.set(service, ServingStatus.SERVICE_UNKNOWN)


def file_descriptor_set(service_names: Iterable[str] = (),
                        file_descriptors: Iterable[Any] = (),
                        pool: Any = None) -> Optional[bytes]:
    """A serialized FileDescriptorSet of the files defining ``service_names`` (looked up in
    ``pool``, by default protobuf's default pool; names it does not know are skipped) and of
    ``file_descriptors`` (``FileDescriptor`` objects, e.g. ``helloworld_pb2.DESCRIPTOR``), each
    with its imports; None if there is no file at all."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    if pool is None:
        pool = descriptor_pool.Default()
    roots: List[Any] = list(file_descriptors)
    for name in service_names:
        try:
            roots.append(pool.FindServiceByName(name).file)
        except KeyError:
            continue
    out = descriptor_pb2.FileDescriptorSet()
    seen = set()

    def add(fd: Any) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        fd.CopyToProto(out.file.add())

    for fd in roots:
        add(fd)
    return out.SerializeToString() if len(out.file) else None


class ServerServices:
    """The health and reflection methods of both servers (``polyrpc.Server``,
    ``polyrpc.aio.Server``); they have ``_native``, ``_registry``, ``_started``, ``_health`` and
    ``_reflection``, and call ``_start_reflection()`` in start() before the core starts."""

    _health: Optional[HealthService] = None
    _reflection: Any = None  # (service_names or None, file_descriptors), until start()

    def enable_health(self) -> HealthService:
        """Serves grpc.health.v1.Health (Check and Watch) from the core; before start().
        Returns the HealthService whose ``set(service, status)`` changes a status at any time.
        Calling it again returns the same object."""
        if self._started:
            raise RuntimeError("enable_health() must come before start()")
        if self._health is None:
            self._native.enable_health()
            self._health = HealthService(self._native)
        return self._health

    def enable_reflection(self, service_names: Optional[Iterable[str]] = None,
                          file_descriptors: Iterable[Any] = ()) -> None:
        """Serves server reflection (grpc.reflection.v1 and v1alpha) from the core; before
        start(). ``service_names`` (as grpcio-reflection's ``enable_server_reflection`` takes
        them; default: the services of the handlers added by start()) are looked up in
        protobuf's default pool, and described with their files and imports, as are
        ``file_descriptors`` (e.g. ``helloworld_pb2.DESCRIPTOR``). The health and reflection
        services are listed and described anyway."""
        if self._started:
            raise RuntimeError("enable_reflection() must come before start()")
        if isinstance(service_names, str):
            raise TypeError("service_names must be an iterable of names, not a str")
        self._reflection = (None if service_names is None else list(service_names),
                            list(file_descriptors))

    def _start_reflection(self) -> None:
        names, files = self._reflection
        if names is None:
            names = sorted({path.split("/")[1] for path in self._registry.methods} |
                           {g.service_name() for g in self._registry.generic
                            if callable(getattr(g, "service_name", None))})
        self._native.enable_reflection(file_descriptor_set(names, files))
