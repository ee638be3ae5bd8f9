"""polyrpc's metrics, log level and trace propagation, process-wide (docs/observability.md).

    import polyrpc.observability as obs
    port = obs.serve_metrics("127.0.0.1:9464")   # GET /metrics for Prometheus
    obs.metric("server.calls_finished.OK")        # one counter
    obs.set_log_level("info")                     # also POLYRPC_LOG_LEVEL in the environment
"""

from typing import Optional, Union

from . import _polyrpc

_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3, "none": 4}


def metrics_text() -> str:
    """Every metric in Prometheus' text format (calls started and finished by code, message
    bytes, latency histograms; client and server)."""
    return _polyrpc.metrics_text()


def metric(name: str) -> Optional[int]:
    """One metric by name ("client.calls_started", "server.calls_finished.OK",
    "server.latency_bucket.1000", ...), or None if there is no such metric."""
    return _polyrpc.metric(name)


def serve_metrics(address: str = "127.0.0.1:0") -> int:
    """Serves GET /metrics on address until the process exits; returns the port."""
    return _polyrpc.serve_metrics(address)


def set_log_level(level: Union[str, int]) -> None:
    """"debug", "info", "warning", "error" or "none" (or 0..4)."""
    if isinstance(level, str):
        if level not in _LEVELS:
            raise ValueError("unknown log level %r" % level)
        level = _LEVELS[level]
    _polyrpc.set_log_level(level)


def log_level() -> str:
    return {v: k for k, v in _LEVELS.items()}[_polyrpc.log_level()]


def set_trace_propagation(enabled: bool) -> None:
    """W3C traceparent on every client call without one (POLYRPC_TRACEPARENT=1 does it too)."""
    _polyrpc.set_trace_propagation(bool(enabled))


def set_current_traceparent(traceparent: Optional[str]) -> None:
    """This thread's current traceparent (e.g. a served call's): the calls it makes continue
    that trace. None clears it."""
    _polyrpc.set_current_traceparent(traceparent)
