"""Synchronous server (``grpc.server``). Handlers run on the application's executor, with
blocking per-message operations (GIL released while they wait).

With a ``concurrent.futures.ThreadPoolExecutor`` (the usual case), the server submits one
long-running serving loop per pool thread: each loop takes the next call straight from the
core (``_polyrpc.IncomingCalls``; for unary-request methods the request arrives with it), runs
the handler and starts the reply without waiting for it. A call then costs one thread wake-up,
no executor Future and no dispatcher thread. The loops give their threads back when other work
is queued on the executor, and end when the server stops or the executor shuts down.

With any other executor, or with ``maximum_concurrent_rpcs``, one dispatcher thread drains the
server's completion queue and submits each call to the executor, as grpcio does."""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread as _cf_thread
import logging
import random
import threading
from typing import Any, Callable, Dict, Iterable, Optional

from . import _polyrpc
from ._common import (Compression, MetadataType, StatusCode, compression_name, deserialize,
                      normalize_options, serialize, status_from_int, status_to_int)
from ._credentials import ServerCredentials
from ._handlers import HandlerRegistry, RpcMethodHandler
from ._services import HealthService, ServerServices

_LOG = logging.getLogger("polyrpc")
_UNIMPLEMENTED = 12
# How often idle serving loops, all together, check whether their executor wants a thread back
# or shut down (ms). Each loop waits this times the number of loops (within bounds, jittered so
# that the loops' checks spread out): a 200-thread pool must not wake 2000 times a second.
_IDLE_CHECK_MS = 100
_IDLE_CHECK_MAX_MS = 2000


class _Abort(Exception):
    """Raised by ServicerContext.abort(); ends the handler with the context's status."""


class ServicerContext:
    """The context of a call being served (``grpc.ServicerContext``)."""

    # One is made per call: slots and class-level defaults keep that cheap.
    __slots__ = ("_call", "_server", "_code", "_details", "_trailers", "_metadata",
                 "_initial_sent", "_finished", "_close_watched", "_closed", "_cancelled",
                 "_callbacks", "_lock", "_next_flags",
                 "__dict__")  # handlers and interceptors may still add attributes

    def __init__(self, ncall: Any, server: "Server") -> None:
        self._call = ncall
        self._server = server
        self._code = 0
        self._details: Optional[str] = None
        self._trailers: Any = None
        self._metadata: Optional[MetadataType] = None
        self._initial_sent = False
        self._finished = False
        self._close_watched = False
        self._closed = False
        self._cancelled = False
        self._callbacks: list = []
        self._lock = threading.Lock()
        self._next_flags = 0

    # --- grpc.RpcContext -----------------------------------------------------------------
    def is_active(self) -> bool:
        """False once the call ended (status sent, cancelled, deadline passed, peer gone)."""
        if self._finished:
            return False
        self._watch_close()
        return not self._closed

    def time_remaining(self) -> Optional[float]:
        """Seconds left before the client's deadline, or None without a deadline."""
        ms = self._call.time_remaining_ms()
        return None if ms < 0 else ms / 1000.0

    def cancel(self) -> None:
        """Cancels the call; the client sees CANCELLED."""
        self._call.cancel()

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """Registers callback() to run when the call ends. Returns False if it already has."""
        with self._lock:
            if self._closed:
                return False
            self._callbacks.append(callback)
        self._watch_close()
        return True

    def _watch_close(self) -> None:
        # Started lazily: most handlers never ask, and a per-call completion costs a thread hop.
        with self._lock:
            if self._close_watched:
                return
            self._close_watched = True
        self._call.recv_close(self._server._close_cq(), self._on_close)

    def _on_close(self, success: bool, _call: Any) -> None:
        try:
            cancelled = self._call.is_cancelled()
        except Exception:  # noqa: BLE001
            cancelled = True
        with self._lock:
            self._closed = True
            self._cancelled = cancelled
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            try:
                cb()
            except Exception:  # noqa: BLE001
                _LOG.exception("polyrpc: exception in a servicer context callback")

    # --- grpc.ServicerContext --------------------------------------------------------------
    def invocation_metadata(self) -> MetadataType:
        """The client's request metadata as (key, value) tuples (bytes values for -bin keys)."""
        if self._metadata is None:
            self._metadata = self._call.request_metadata()
        return self._metadata

    def peer(self) -> str:
        """The client's address, e.g. "ipv4:127.0.0.1:41234"."""
        return self._call.peer()

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> Dict[str, Any]:
        return {}

    def send_initial_metadata(self, initial_metadata: Any) -> None:
        """Sends the response headers now (at most once, before the first response)."""
        if self._initial_sent:
            raise ValueError("initial metadata was already sent")
        self._initial_sent = True
        self._call.send_initial_metadata(initial_metadata)

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        """Metadata to send with the status."""
        self._trailers = trailing_metadata

    def trailing_metadata(self) -> Any:
        return self._trailers

    def abort(self, code: Any, details: str) -> None:
        """Ends the call with code (not OK) and details by raising an exception."""
        c = status_to_int(code)
        if c == 0:
            raise ValueError("abort() needs a non-OK status code")
        self._code = c
        self._details = details
        raise _Abort()

    def abort_with_status(self, status: Any) -> None:
        """abort() from a grpc.Status-like object (code, details, trailing_metadata)."""
        self._trailers = getattr(status, "trailing_metadata", None)
        self.abort(status.code, status.details)

    def set_code(self, code: Any) -> None:
        """The status code to send when the handler returns."""
        self._code = status_to_int(code)

    def set_details(self, details: str) -> None:
        """The status message to send when the handler returns."""
        if details is not None and not isinstance(details, str):
            raise TypeError("details must be str")
        self._details = details

    def code(self) -> StatusCode:
        return status_from_int(self._code)

    def details(self) -> Optional[str]:
        return self._details

    def set_compression(self, compression: Compression) -> None:
        """Compression of the response messages (before the first one is sent)."""
        name = compression_name(compression)
        if name is not None:
            self._call.set_response_compression(name)

    def disable_next_message_compression(self) -> None:
        """Sends the next response message uncompressed."""
        self._next_flags = _polyrpc.WRITE_NO_COMPRESS

    def last_request_compressed(self) -> bool:
        """polyrpc extension: whether the last request message arrived compressed."""
        return self._call.last_message_compressed()

    def _close_connection_for_testing(self) -> None:
        # Conformance hook (x-polyrpc-close-connection): drops the whole TCP connection.
        self._call.close_connection_for_testing()

    def _take_flags(self) -> int:
        flags, self._next_flags = self._next_flags, 0
        return flags


class _RequestIterator:
    """The request stream of a client-streaming or bidi handler."""

    def __init__(self, ncall: Any, deserializer: Any, context: ServicerContext) -> None:
        self._call = ncall
        self._deserializer = deserializer
        self._context = context

    def __iter__(self) -> "_RequestIterator":
        return self

    def __next__(self) -> Any:
        data = self._call.recv_message()
        if data is None:
            raise StopIteration()
        try:
            return deserialize(self._deserializer, data)
        except Exception:  # noqa: BLE001
            self._context._code = 13
            self._context._details = "Exception deserializing request!"
            raise _Abort() from None

    next = __next__


def _application_error(context: ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, _Abort):
        return
    _LOG.exception("polyrpc: exception calling application")
    if context._code == 0:
        context._code = 2
        context._details = "Exception calling application: %s" % exc


def _send_status(ncall: Any, context: ServicerContext) -> None:
    context._finished = True
    # Started, not awaited: nothing is left to do for this call whatever the outcome.
    ncall.finish_unary(None, 0, context._code, context._details or "", context._trailers)


def _serve_unary_response(ncall: Any, handler: RpcMethodHandler, behavior: Callable,
                          argument: Any, context: ServicerContext) -> None:
    try:
        response = behavior(argument, context)
    except BaseException as e:  # noqa: BLE001 - any failure of the application becomes status
        _application_error(context, e)
        _send_status(ncall, context)
        return
    if context._code != 0:
        _send_status(ncall, context)
        return
    try:
        data = serialize(handler.response_serializer, response)
    except Exception:  # noqa: BLE001
        _LOG.exception("polyrpc: failed to serialize response")
        context._code, context._details = 13, "Failed to serialize response!"
        _send_status(ncall, context)
        return
    context._finished = True
    ncall.finish_unary(data, context._take_flags(), 0, context._details or "", context._trailers)


def _serve_stream_response(ncall: Any, handler: RpcMethodHandler, behavior: Callable,
                           argument: Any, context: ServicerContext) -> None:
    try:
        responses = behavior(argument, context)
        if responses is not None:
            serializer = handler.response_serializer
            for response in responses:
                data = serialize(serializer, response)
                if not ncall.send_message(data, context._take_flags()):
                    # The call ended (client cancelled, deadline); stop the generator.
                    close = getattr(responses, "close", None)
                    if close is not None:
                        close()
                    context._finished = True
                    return
    except BaseException as e:  # noqa: BLE001
        _application_error(context, e)
    _send_status(ncall, context)


class Server(ServerServices):
    """A gRPC server (``grpc.Server``), created by ``polyrpc.server()``."""

    def __init__(self, thread_pool: Any, handlers: Optional[Iterable[Any]] = None,
                 interceptors: Optional[Iterable[Any]] = None, options: Any = None,
                 maximum_concurrent_rpcs: Optional[int] = None, compression: Any = None) -> None:
        if thread_pool is None or not hasattr(thread_pool, "submit"):
            raise TypeError("polyrpc.server() needs a concurrent.futures executor")
        if maximum_concurrent_rpcs is not None and (not isinstance(maximum_concurrent_rpcs, int)
                                                    or maximum_concurrent_rpcs <= 0):
            raise ValueError("maximum_concurrent_rpcs must be a positive int or None")
        self._pool = thread_pool
        self._registry = HandlerRegistry(interceptors)
        self._native = _polyrpc.Server(normalize_options(options))
        self._compression = compression_name(compression)
        self._max_rpcs = maximum_concurrent_rpcs
        self._active = 0
        self._lock = threading.Lock()
        self._started = False
        self._stopping: Optional[threading.Event] = None
        self._terminated = threading.Event()
        self._cq: Any = None
        self._thread: Optional[threading.Thread] = None
        self._incoming: Any = None  # serving-loop mode: the core's calls, taken by the loops
        self._loops = 0  # serving loops running or queued on the executor
        self._queued_loops = 0  # of which queued, not yet running
        self._health: Optional[HealthService] = None
        self._reflection: Any = None  # (service_names or None, file_descriptors), until start()
        if handlers:
            self.add_generic_rpc_handlers(handlers)

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[Any]) -> None:
        """Adds handlers (e.g. from ``method_handlers_generic_handler``). Before start()."""
        if self._started:
            raise RuntimeError("handlers must be added before the server starts")
        self._registry.add_generic(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: Dict[str, RpcMethodHandler]) -> None:
        """Registers method handlers of one service (newer grpcio generated code calls this)."""
        if self._started:
            raise RuntimeError("handlers must be added before the server starts")
        self._registry.add_registered(service_name, method_handlers)

    def _add_port(self, address: str, creds: Any) -> int:
        if not isinstance(address, str):
            raise TypeError("address must be a str like '[::]:50051'")
        if self._started:
            raise RuntimeError("ports must be added before the server starts")
        try:
            return self._native.add_listener(address, creds)
        except _polyrpc.ApiError as e:
            raise RuntimeError("Failed to bind to address %s: %s" % (address, e.args[0])) from None

    def add_insecure_port(self, address: str) -> int:
        """Listens on address ("[::]:50051", "localhost:0", "unix:/path"); returns the port."""
        return self._add_port(address, _polyrpc.ServerCredentials.insecure())

    def add_secure_port(self, address: str, server_credentials: ServerCredentials) -> int:
        """Listens with TLS on address; returns the port."""
        if not isinstance(server_credentials, ServerCredentials):
            raise TypeError("server_credentials must be polyrpc.ServerCredentials")
        return self._add_port(address, server_credentials._native)

    def start(self) -> None:
        """Starts serving. Not blocking."""
        with self._lock:
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
        workers = self._loop_count()
        if workers:
            # Unary-request methods whose handler is known before the call arrives (no
            # interceptor can swap it) get their request received by the core up front.
            prefetch = [] if self._registry.interceptors else [
                path for path, h in self._registry.methods.items() if not h.request_streaming]
            self._incoming = _polyrpc.IncomingCalls(self._native, prefetch, workers)
            with self._lock:
                self._loops = workers
                self._queued_loops = workers
            for _ in range(workers):
                self._pool.submit(self._serve_loop)
            return
        self._close_cq()
        self._native.request_call(self._cq, self._on_call)

    def _loop_count(self) -> int:
        """Serving loops to run on the executor: one per thread of a thread pool; 0 for the
        dispatcher design."""
        if self._max_rpcs is not None:
            return 0  # the limit needs a count of accepted calls, which the dispatcher keeps
        if not isinstance(self._pool, concurrent.futures.ThreadPoolExecutor):
            return 0
        n = getattr(self._pool, "_max_workers", None)
        return n if isinstance(n, int) and n > 0 else 0

    def _close_cq(self) -> Any:
        """The completion queue of call-end notices (and, in the dispatcher design, incoming
        calls), drained by a thread started on first use."""
        with self._lock:
            if self._cq is None:
                self._cq = _polyrpc.CompletionQueue()
                self._thread = threading.Thread(target=self._run, name="polyrpc-server",
                                                daemon=True)
                self._thread.start()
            return self._cq

    def _pool_closing(self) -> bool:
        return bool(getattr(self._pool, "_shutdown", False) or _cf_thread._shutdown)

    def _serve_loop(self) -> None:
        """One serving loop, on an executor thread."""
        with self._lock:
            self._queued_loops -= 1
        incoming = self._incoming
        queue = getattr(self._pool, "_work_queue", None)
        serve = self._serve_incoming
        idle_ms = min(_IDLE_CHECK_MS * self._loops, _IDLE_CHECK_MAX_MS)
        resubmit = False
        try:
            while True:
                if self._pool_closing():
                    incoming.interrupt()  # the other loops notice now, not at their next check
                    return
                # Other work waits on the executor: give this thread back to it, and queue
                # this loop behind it.
                if queue is not None and queue.qsize() > self._queued_loops:
                    resubmit = True
                    return
                item = incoming.next(int(idle_ms * (0.5 + random.random())))
                if item is False:  # the server stopped and every call was handed out
                    return
                if item is None:  # idle
                    continue
                if queue is not None and queue.qsize() > self._queued_loops:
                    # Work was queued on the executor before this call came: the call waits
                    # its turn behind it (as with a dispatcher), and the thread goes to that
                    # work. A handler waiting for work it queued then never has to wait for a
                    # call that arrived later.
                    try:
                        self._pool.submit(serve, *item)
                        resubmit = True
                        return
                    except RuntimeError:  # the executor shut down meanwhile
                        pass
                serve(*item)
        finally:
            self._loop_exit(resubmit)

    def _loop_exit(self, resubmit: bool) -> None:
        if resubmit:
            with self._lock:
                self._queued_loops += 1
            try:
                self._pool.submit(self._serve_loop)
                return
            except RuntimeError:  # the executor was shut down meanwhile
                with self._lock:
                    self._queued_loops -= 1
        with self._lock:
            self._loops -= 1
            last = self._loops == 0 and self._stopping is None
        if last:
            # The executor shut down under a running server: answer UNAVAILABLE from now on,
            # as the dispatcher design does when submit() fails.
            try:
                threading.Thread(target=self._reject_loop, name="polyrpc-server-reject",
                                 daemon=True).start()
            except RuntimeError:  # interpreter shutdown: no new threads
                pass

    def _reject_loop(self) -> None:
        while True:
            item = self._incoming.next(-1)
            if item is False:
                return
            if item is not None:
                item[0].finish_unary(None, 0, 14, "server is shutting down", None)

    def _serve_incoming(self, ncall: Any, method: str, prefetched: bool, data: Any) -> None:
        try:
            self._serve_call(ncall, method, prefetched, data)
        except Exception:  # noqa: BLE001 - a failure here must not leave the call hanging
            _LOG.exception("polyrpc: internal error serving a call")
            ncall.cancel()

    def _run(self) -> None:
        cq = self._cq
        while True:
            event = cq.next(-1)
            if event is None:
                continue
            kind, success, tag, call = event
            if kind == _polyrpc.EVENT_SHUTDOWN:
                break
            try:
                tag(success, call)
            except BaseException:  # noqa: BLE001
                _LOG.exception("polyrpc: exception in the server loop")

    def _on_call(self, success: bool, ncall: Any) -> None:
        if not success or ncall is None:
            return  # shutting down
        if self._stopping is None:
            self._native.request_call(self._cq, self._on_call)
        if self._max_rpcs is not None:
            with self._lock:
                if self._active >= self._max_rpcs:
                    ncall.send_status(8, "Concurrent RPC limit exceeded!", None, self._cq,
                                      _ignore)
                    return
                self._active += 1
        try:
            self._pool.submit(self._serve, ncall)
        except RuntimeError:  # the executor was shut down
            ncall.send_status(14, "server is shutting down", None, self._cq, _ignore)
            self._release_slot()

    def _release_slot(self) -> None:
        if self._max_rpcs is not None:
            with self._lock:
                self._active -= 1

    def _serve(self, ncall: Any) -> None:
        try:
            self._serve_call(ncall, ncall.method(), False, None)
        except Exception:  # noqa: BLE001 - a failure here must not leave the call hanging
            _LOG.exception("polyrpc: internal error serving a call")
            ncall.cancel()
        finally:
            self._release_slot()

    def _serve_call(self, ncall: Any, method: str, prefetched: bool, data: Any) -> None:
        """Serves one call; prefetched: its single request (data, None if the client sent
        none) was already received."""
        handler, _details = self._registry.lookup(method, ncall.request_metadata)
        if handler is None:
            ncall.finish_unary(None, 0, _UNIMPLEMENTED, "Method not found!", None)
            return
        context = ServicerContext(ncall, self)
        if self._compression is not None:
            ncall.set_response_compression(self._compression)
        if handler.request_streaming:
            argument: Any = _RequestIterator(ncall, handler.request_deserializer, context)
        else:
            if not prefetched:
                # One request message: none, or a second, ends the call UNIMPLEMENTED in the
                # core (statuscodes.md); a prefetched call was told so when it was taken.
                ncall.expect_one_request()
                data = ncall.recv_message()
            if data is None:
                # The client went away, or half-closed without a request.
                context._code, context._details = 13, "Expected a request message"
                _send_status(ncall, context)
                return
            try:
                argument = deserialize(handler.request_deserializer, data)
            except Exception:  # noqa: BLE001
                _LOG.exception("polyrpc: exception deserializing request")
                context._code, context._details = 13, "Exception deserializing request!"
                _send_status(ncall, context)
                return
        if handler.response_streaming:
            behavior = handler.unary_stream if not handler.request_streaming else handler.stream_stream
            _serve_stream_response(ncall, handler, behavior, argument, context)
        else:
            behavior = handler.unary_unary if not handler.request_streaming else handler.stream_unary
            _serve_unary_response(ncall, handler, behavior, argument, context)

    def stop(self, grace: Optional[float]) -> threading.Event:
        """Stops the server: no new calls; in-flight calls get ``grace`` seconds (None: none)
        and are then cancelled. Returns an Event set once everything is over."""
        with self._lock:
            if self._stopping is not None:
                return self._stopping
            self._stopping = threading.Event()
            done = self._stopping
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, (int, float))
                                  or grace < 0):
            raise ValueError("grace must be None or a non-negative number of seconds")
        timeout = 0 if grace is None else int(grace * 1000)

        def shutdown() -> None:
            try:
                self._native.shutdown(timeout)
            finally:
                with self._lock:
                    cq, thread = self._cq, self._thread
                if cq is not None:
                    cq.shutdown()
                    if thread is not None:
                        thread.join()
                done.set()
                self._terminated.set()

        if not self._started:
            done.set()
            self._terminated.set()
            return done
        threading.Thread(target=shutdown, name="polyrpc-server-stop", daemon=True).start()
        return done

    def wait_for_termination(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the server stopped; returns True if the timeout passed first."""
        return not self._terminated.wait(timeout)


def _ignore(success: bool, call: Any) -> None:
    return None


def server(thread_pool: Any, handlers: Optional[Iterable[Any]] = None,
           interceptors: Optional[Iterable[Any]] = None, options: Any = None,
           maximum_concurrent_rpcs: Optional[int] = None, compression: Any = None) -> Server:
    """Creates a server, as ``grpc.server``: handlers run on ``thread_pool``
    (a ``concurrent.futures.ThreadPoolExecutor``)."""
    return Server(thread_pool, handlers, interceptors, options, maximum_concurrent_rpcs,
                  compression)
