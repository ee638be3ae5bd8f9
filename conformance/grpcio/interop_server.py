#!/usr/bin/env python3
"""grpc.testing.TestService interop server on real gRPC (grpcio), the Python reference peer.

Usage (from anywhere): python3 conformance/grpcio/interop_server.py --port=N [--use_tls=true]
    [--cert_dir=DIR] [--bind=ADDRESS (default 127.0.0.1)] [--server_id=ID (fill_server_id)]
Behaviour follows gRPC's interop-test-descriptions.md plus polyrpc's x-polyrpc-echo-deadline
hook. grpcio exposes no way to see whether a received message was compressed, so
expect_compressed is not checked (grpc's own Python server does not check it either); the
client_compressed_* cases therefore cannot pass against this server.
"""

from concurrent import futures
import signal
import socket
import sys
import threading
import time

import grpc

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import interop_common  # noqa: E402  (must follow the line above)

empty_pb2, messages_pb2, test_pb2_grpc = interop_common.load_protos()

ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
ECHO_DEADLINE_KEY = "x-polyrpc-echo-deadline"
TIME_REMAINING_KEY = "x-polyrpc-time-remaining-ms"
CODES = {code.value[0]: code for code in grpc.StatusCode}


def _start_call(context):
    """Echoes request metadata as the interop doc asks; returns nothing, sets trailers."""
    initial = []
    trailing = []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL_KEY:
            initial.append((key, value))
        elif key == ECHO_TRAILING_KEY:
            trailing.append((key, value))
        elif key == ECHO_DEADLINE_KEY and value == "1":
            remaining = context.time_remaining()
            # No deadline: report a value the client can never mistake for a propagated one.
            ms = -1 if remaining is None else int(remaining * 1000)
            trailing.append((TIME_REMAINING_KEY, str(ms)))
    if initial:
        context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


def _maybe_abort(request, context):
    if request.HasField("response_status") and request.response_status.code != 0:
        code = CODES.get(request.response_status.code, grpc.StatusCode.UNKNOWN)
        context.abort(code, request.response_status.message)


def _payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def _sleep_us(interval_us, context):
    """Sleeps unless the call ends first; returns False when the call is gone."""
    deadline = time.monotonic() + interval_us / 1e6
    while context.is_active():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.05))
    return False


class TestService(test_pb2_grpc.TestServiceServicer):

    def EmptyCall(self, request, context):
        _start_call(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        if request.HasField("response_compressed"):
            context.set_compression(grpc.Compression.Gzip if request.response_compressed.value
                                    else grpc.Compression.NoCompression)
        _start_call(context)
        _maybe_abort(request, context)
        response = messages_pb2.SimpleResponse(payload=_payload(request.response_size))
        if request.fill_server_id:
            # As grpc-go's interop server (its pick_first_unary case needs them).
            response.server_id = SERVER_ID[0]
            response.hostname = socket.gethostname()
        return response

    def CacheableUnaryCall(self, request, context):
        return self.UnaryCall(request, context)

    def StreamingOutputCall(self, request, context):
        params = list(request.response_parameters)
        any_compressed = any(p.compressed.value for p in params)
        if any_compressed:
            context.set_compression(grpc.Compression.Gzip)
        _start_call(context)
        for p in params:
            if p.interval_us > 0 and not _sleep_us(p.interval_us, context):
                return
            if any_compressed and not p.compressed.value:
                context.disable_next_message_compression()
            yield messages_pb2.StreamingOutputCallResponse(payload=_payload(p.size))
        _maybe_abort(request, context)

    def StreamingInputCall(self, request_iterator, context):
        _start_call(context)
        total = 0
        for request in request_iterator:
            total += len(request.payload.body)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        _start_call(context)
        for request in request_iterator:
            _maybe_abort(request, context)
            for p in request.response_parameters:
                if p.interval_us > 0 and not _sleep_us(p.interval_us, context):
                    return
                yield messages_pb2.StreamingOutputCallResponse(payload=_payload(p.size))

    def HalfDuplexCall(self, request_iterator, context):
        _start_call(context)
        requests = list(request_iterator)
        for request in requests:
            _maybe_abort(request, context)
        for request in requests:
            for p in request.response_parameters:
                if p.interval_us > 0 and not _sleep_us(p.interval_us, context):
                    return
                yield messages_pb2.StreamingOutputCallResponse(payload=_payload(p.size))


SERVER_ID = [None]  # --server_id, for fill_server_id


def main():
    flags = interop_common.parse_flags(sys.argv[1:], {
        "port": 0,
        "use_tls": False,
        "cert_dir": interop_common.default_cert_dir(),
        "bind": "127.0.0.1",
        "server_id": "grpcio",
    })
    SERVER_ID[0] = flags["server_id"]
    if flags["port"] <= 0:
        sys.stderr.write("--port=N is required\n")
        return 2
    # Enough workers that every call of the concurrent_streams case runs at once.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=200),
                         maximum_concurrent_rpcs=None)
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    # 127.0.0.1 unless --bind names another address ("::": every interface).
    bind = flags["bind"]
    address = "%s:%d" % ("[%s]" % bind if ":" in bind else bind, flags["port"])
    if flags["use_tls"]:
        key = interop_common.read_cert_file(flags["cert_dir"], "server.key")
        cert = interop_common.read_cert_file(flags["cert_dir"], "server.pem")
        bound = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        bound = server.add_insecure_port(address)
    if bound != flags["port"]:
        sys.stderr.write("could not bind port %d\n" % flags["port"])
        return 1
    server.start()
    sys.stderr.write("grpcio interop server listening on %s (tls=%s)\n" %
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
