#!/usr/bin/env python3
"""grpc.testing.TestService interop server on the polyrpc Python binding.

Usage: python3 conformance/python/interop_server.py --port=N [--use_tls=true] [--cert_dir=DIR]
    [--bind=ADDRESS (default 127.0.0.1)] [--server_id=ID (fill_server_id, with the hostname)]
Behaviour follows gRPC's interop-test-descriptions.md (including the expect_compressed checks,
which polyrpc can make because it reports whether each request arrived compressed) plus
polyrpc's hooks: x-polyrpc-echo-deadline (trailer x-polyrpc-time-remaining-ms) and
x-polyrpc-close-connection (drop the TCP connection after the first streamed response).
"""

from concurrent import futures
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import interop_common  # noqa: E402
import polyrpc  # noqa: E402

empty_pb2, messages_pb2 = interop_common.load_protos()

ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
ECHO_DEADLINE_KEY = "x-polyrpc-echo-deadline"
TIME_REMAINING_KEY = "x-polyrpc-time-remaining-ms"
CLOSE_CONNECTION_KEY = "x-polyrpc-close-connection"


def _start_call(context):
    """Echoes request metadata as the interop doc asks; returns True if the close-connection
    hook was requested."""
    initial, trailing, close = [], [], False
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL_KEY:
            initial.append((key, value))
        elif key == ECHO_TRAILING_KEY:
            trailing.append((key, value))
        elif key == ECHO_DEADLINE_KEY and value == "1":
            remaining = context.time_remaining()
            trailing.append((TIME_REMAINING_KEY,
                             str(-1 if remaining is None else int(remaining * 1000))))
        elif key == CLOSE_CONNECTION_KEY and value == "1":
            close = True
    if initial:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)
    return close


def _maybe_abort(request, context):
    if request.HasField("response_status") and request.response_status.code != 0:
        context.abort(request.response_status.code, request.response_status.message)


def _check_compressed(request, context):
    if (request.HasField("expect_compressed") and request.expect_compressed.value
            and not context.last_request_compressed()):
        context.abort(polyrpc.StatusCode.INVALID_ARGUMENT, "expected a compressed request")


def _payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def _sleep_us(interval_us, context):
    """Sleeps unless the call ends first; returns False when the call is gone."""
    deadline = time.monotonic() + interval_us / 1e6
    while context.is_active():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.02))
    return False


def empty_call(request, context):
    _start_call(context)
    return empty_pb2.Empty()


def unary_call(request, context):
    _check_compressed(request, context)
    if request.HasField("response_compressed"):
        context.set_compression(polyrpc.Compression.Gzip if request.response_compressed.value
                                else polyrpc.Compression.NoCompression)
    _start_call(context)
    _maybe_abort(request, context)
    response = messages_pb2.SimpleResponse(payload=_payload(request.response_size))
    if request.fill_server_id:
        # As grpc-go's interop server (its pick_first_unary case needs them).
        response.server_id = SERVER_ID[0]
        response.hostname = socket.gethostname()
    return response


def streaming_output_call(request, context):
    params = list(request.response_parameters)
    any_compressed = any(p.compressed.value for p in params)
    if any_compressed:
        context.set_compression(polyrpc.Compression.Gzip)
    close = _start_call(context)
    for i, p in enumerate(params):
        if p.interval_us > 0 and not _sleep_us(p.interval_us, context):
            return
        if any_compressed and not p.compressed.value:
            context.disable_next_message_compression()
        yield messages_pb2.StreamingOutputCallResponse(payload=_payload(p.size))
        if close and i == 0:
            context._close_connection_for_testing()
            return
    _maybe_abort(request, context)


def streaming_input_call(request_iterator, context):
    _start_call(context)
    total = 0
    for request in request_iterator:
        _check_compressed(request, context)
        total += len(request.payload.body)
    return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)


def full_duplex_call(request_iterator, context):
    _start_call(context)
    for request in request_iterator:
        _maybe_abort(request, context)
        for p in request.response_parameters:
            if p.interval_us > 0 and not _sleep_us(p.interval_us, context):
                return
            yield messages_pb2.StreamingOutputCallResponse(payload=_payload(p.size))


def half_duplex_call(request_iterator, context):
    _start_call(context)
    requests = list(request_iterator)
    for request in requests:
        _maybe_abort(request, context)
    for request in requests:
        for p in request.response_parameters:
            if p.interval_us > 0 and not _sleep_us(p.interval_us, context):
                return
            yield messages_pb2.StreamingOutputCallResponse(payload=_payload(p.size))


def handlers():
    m = messages_pb2
    return polyrpc.method_handlers_generic_handler(interop_common.SERVICE, {
        "EmptyCall": polyrpc.unary_unary_rpc_method_handler(
            empty_call, empty_pb2.Empty.FromString, empty_pb2.Empty.SerializeToString),
        "UnaryCall": polyrpc.unary_unary_rpc_method_handler(
            unary_call, m.SimpleRequest.FromString, m.SimpleResponse.SerializeToString),
        "CacheableUnaryCall": polyrpc.unary_unary_rpc_method_handler(
            unary_call, m.SimpleRequest.FromString, m.SimpleResponse.SerializeToString),
        "StreamingOutputCall": polyrpc.unary_stream_rpc_method_handler(
            streaming_output_call, m.StreamingOutputCallRequest.FromString,
            m.StreamingOutputCallResponse.SerializeToString),
        "StreamingInputCall": polyrpc.stream_unary_rpc_method_handler(
            streaming_input_call, m.StreamingInputCallRequest.FromString,
            m.StreamingInputCallResponse.SerializeToString),
        "FullDuplexCall": polyrpc.stream_stream_rpc_method_handler(
            full_duplex_call, m.StreamingOutputCallRequest.FromString,
            m.StreamingOutputCallResponse.SerializeToString),
        "HalfDuplexCall": polyrpc.stream_stream_rpc_method_handler(
            half_duplex_call, m.StreamingOutputCallRequest.FromString,
            m.StreamingOutputCallResponse.SerializeToString),
    })


SERVER_ID = [None]  # --server_id, for fill_server_id


def main():
    flags = interop_common.parse_flags(sys.argv[1:], {
        "port": 0,
        "use_tls": False,
        "cert_dir": interop_common.default_cert_dir(),
        "bind": "127.0.0.1",
        "server_id": "polyrpc-python",
    })
    SERVER_ID[0] = flags["server_id"]
    if flags["port"] <= 0:
        sys.stderr.write("--port=N is required\n")
        return 2
    # Enough workers that every call of the concurrent_streams case runs at once.
    server = polyrpc.server(futures.ThreadPoolExecutor(max_workers=200))
    server.add_generic_rpc_handlers([handlers()])
    # 127.0.0.1 unless --bind names another address ("::": every interface).
    bind = flags["bind"]
    address = "%s:%d" % ("[%s]" % bind if ":" in bind else bind, flags["port"])
    try:
        if flags["use_tls"]:
            key = interop_common.read_cert_file(flags["cert_dir"], "server.key")
            cert = interop_common.read_cert_file(flags["cert_dir"], "server.pem")
            bound = server.add_secure_port(address, polyrpc.ssl_server_credentials([(key, cert)]))
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as e:
        sys.stderr.write("%s\n" % e)
        return 1
    if bound != flags["port"]:
        sys.stderr.write("could not bind port %d\n" % flags["port"])
        return 1
    server.start()
    sys.stderr.write("polyrpc-python interop server listening on %s (tls=%s)\n" %
                     (address, flags["use_tls"]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
