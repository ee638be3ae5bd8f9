#!/usr/bin/env python3
"""grpc.testing.TestService interop client on real gRPC (grpcio), the Python reference peer.

Usage: python3 conformance/grpcio/interop_client.py --server_host=H --server_port=N
    --test_case=NAME [--use_tls=true --use_test_ca=true --server_host_override=foo.test.google.fr]
    [--cert_dir=DIR]
Exit status: 0 the case passed; 1 it failed (one line on stderr says why); 2 the case is not
supported by this client ("unsupported test case: NAME").
"""

import queue
import sys
import threading
import time

import grpc

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import interop_common  # noqa: E402  (must follow the line above)

empty_pb2, messages_pb2, test_pb2_grpc = interop_common.load_protos()

TIMEOUT = 20.0  # bounds every call, so a broken peer fails the case instead of hanging it
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"


class CaseFailed(Exception):
    pass


class Unsupported(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailed(message)


def zeros(n):
    return b"\0" * n


def expect_code(call_or_error, code, what):
    got = call_or_error.code()
    check(got == code, "%s: expected %s, got %s (%s)" % (what, code.name, got.name if got else got,
                                                          call_or_error.details()))


def expect_payload(payload, size, what):
    check(payload.type == messages_pb2.COMPRESSABLE, "%s: payload type %d" % (what, payload.type))
    check(len(payload.body) == size, "%s: payload size %d, want %d" % (what, len(payload.body),
                                                                       size))
    check(payload.body == zeros(size), "%s: payload is not all zero bytes" % what)


class RequestQueue:
    """A request iterator the test feeds one message at a time; close() half-closes."""

    _END = object()

    def __init__(self):
        self._queue = queue.Queue()

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        return item

    def add(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(self._END)


def next_response(responses, what):
    try:
        return next(responses)
    except StopIteration:
        raise CaseFailed("%s: stream ended early" % what)


def expect_end(responses, what):
    """Drains the stream, requiring no further messages and status OK."""
    try:
        next(responses)
    except StopIteration:
        return
    except grpc.RpcError as e:
        raise CaseFailed("%s: ended with %s (%s)" % (what, e.code().name, e.details()))
    raise CaseFailed("%s: unexpected extra response" % what)


def large_request(**kwargs):
    return messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                      response_size=314159, payload=messages_pb2.Payload(
                                          body=zeros(271828)), **kwargs)


def streaming_request(response_size, payload_size, **kwargs):
    return messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=response_size)],
        payload=messages_pb2.Payload(body=zeros(payload_size)), **kwargs)


def unary_error(callable_, request, what):
    """Runs a unary call that must fail; returns the RpcError."""
    try:
        callable_(request, timeout=TIMEOUT)
    except grpc.RpcError as e:
        return e
    raise CaseFailed("%s: call succeeded but was expected to fail" % what)


# --- gRPC's cases (doc/interop-test-descriptions.md) ---

def empty_unary(ctx):
    response = ctx.stub.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
    check(isinstance(response, empty_pb2.Empty), "response is not Empty")
    check(response.ByteSize() == 0, "response is not empty")


def large_unary(ctx):
    response = ctx.stub.UnaryCall(large_request(), timeout=TIMEOUT)
    expect_payload(response.payload, 314159, "UnaryCall")


def client_streaming(ctx):
    sizes = (27182, 8, 1828, 45904)
    requests = [messages_pb2.StreamingInputCallRequest(payload=messages_pb2.Payload(
        body=zeros(n))) for n in sizes]
    response = ctx.stub.StreamingInputCall(iter(requests), timeout=TIMEOUT)
    check(response.aggregated_payload_size == 74922,
          "aggregated_payload_size %d" % response.aggregated_payload_size)


def server_streaming(ctx):
    sizes = (31415, 9, 2653, 58979)
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=n) for n in sizes])
    responses = list(ctx.stub.StreamingOutputCall(request, timeout=TIMEOUT))
    check(len(responses) == len(sizes), "got %d responses" % len(responses))
    for i, (response, size) in enumerate(zip(responses, sizes)):
        expect_payload(response.payload, size, "response %d" % i)


PING_PONG = ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904))


def ping_pong(ctx):
    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, timeout=TIMEOUT)
    for i, (response_size, payload_size) in enumerate(PING_PONG):
        requests.add(streaming_request(response_size, payload_size))
        response = next_response(responses, "round %d" % i)
        expect_payload(response.payload, response_size, "round %d" % i)
    requests.close()
    expect_end(responses, "FullDuplexCall")


def empty_stream(ctx):
    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, timeout=TIMEOUT)
    requests.close()
    expect_end(responses, "FullDuplexCall")


def cancel_after_begin(ctx):
    requests = RequestQueue()
    future = ctx.stub.StreamingInputCall.future(requests, timeout=TIMEOUT)
    future.cancel()
    requests.close()
    check(future.cancelled(), "call not cancelled")
    expect_code(future, grpc.StatusCode.CANCELLED, "StreamingInputCall")


def cancel_after_first_response(ctx):
    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, timeout=TIMEOUT)
    requests.add(streaming_request(31415, 27182))
    expect_payload(next_response(responses, "first").payload, 31415, "first response")
    responses.cancel()
    requests.close()
    try:
        next(responses)
        raise CaseFailed("stream continued after cancel")
    except StopIteration:
        raise CaseFailed("stream ended OK after cancel")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.CANCELLED, "FullDuplexCall")


def timeout_on_sleeping_server(ctx):
    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, timeout=0.001)
    requests.add(messages_pb2.StreamingOutputCallRequest(
        payload=messages_pb2.Payload(body=zeros(27182))))
    try:
        next(responses)
        raise CaseFailed("got a response despite the 1 ms deadline")
    except StopIteration:
        raise CaseFailed("stream ended OK despite the 1 ms deadline")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.DEADLINE_EXCEEDED, "FullDuplexCall")
    finally:
        requests.close()


def _check_echo(call, initial_value, trailing_value, what):
    initial = [v for k, v in call.initial_metadata() if k == ECHO_INITIAL_KEY]
    trailing = [v for k, v in call.trailing_metadata() if k == ECHO_TRAILING_KEY]
    check(initial == [initial_value], "%s: initial metadata echo %r" % (what, initial))
    check(trailing == [trailing_value], "%s: trailing metadata echo %r" % (what, trailing))


def _metadata_echo_case(ctx, initial_value, trailing_value, unary_request, duplex_request,
                        unary_size, duplex_size):
    metadata = ((ECHO_INITIAL_KEY, initial_value), (ECHO_TRAILING_KEY, trailing_value))
    response, call = ctx.stub.UnaryCall.with_call(unary_request, metadata=metadata,
                                                  timeout=TIMEOUT)
    expect_payload(response.payload, unary_size, "UnaryCall")
    _check_echo(call, initial_value, trailing_value, "UnaryCall")

    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, metadata=metadata, timeout=TIMEOUT)
    requests.add(duplex_request)
    expect_payload(next_response(responses, "FullDuplexCall").payload, duplex_size,
                   "FullDuplexCall")
    requests.close()
    expect_end(responses, "FullDuplexCall")
    _check_echo(responses, initial_value, trailing_value, "FullDuplexCall")


def custom_metadata(ctx):
    _metadata_echo_case(ctx, "test_initial_metadata_value", b"\x0a\x0b\x0a\x0b\x0a\x0b",
                        large_request(), streaming_request(314159, 271828), 314159, 314159)


def _status_echo(ctx, message, with_duplex):
    status = messages_pb2.EchoStatus(code=2, message=message)
    request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                         response_size=1,
                                         payload=messages_pb2.Payload(body=zeros(1)),
                                         response_status=status)
    e = unary_error(ctx.stub.UnaryCall, request, "UnaryCall")
    expect_code(e, grpc.StatusCode.UNKNOWN, "UnaryCall")
    check(e.details() == message, "UnaryCall: message %r" % e.details())
    if not with_duplex:
        return
    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, timeout=TIMEOUT)
    requests.add(messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=1)],
        payload=messages_pb2.Payload(body=zeros(1)), response_status=status))
    requests.close()
    try:
        for _ in responses:
            pass
        raise CaseFailed("FullDuplexCall ended OK")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.UNKNOWN, "FullDuplexCall")
        check(e.details() == message, "FullDuplexCall: message %r" % e.details())


def status_code_and_message(ctx):
    _status_echo(ctx, "test status message", True)


def special_status_message(ctx):
    _status_echo(ctx, "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP "
                 "\U0001f608\t\n", False)


def unimplemented_method(ctx):
    e = unary_error(ctx.stub.UnimplementedCall, empty_pb2.Empty(), "UnimplementedCall")
    expect_code(e, grpc.StatusCode.UNIMPLEMENTED, "UnimplementedCall")


def unimplemented_service(ctx):
    stub = test_pb2_grpc.UnimplementedServiceStub(ctx.channel)
    e = unary_error(stub.UnimplementedCall, empty_pb2.Empty(), "UnimplementedService")
    expect_code(e, grpc.StatusCode.UNIMPLEMENTED, "UnimplementedService.UnimplementedCall")


def client_compressed_unary(ctx):
    # grpcio compresses per call, not per message; for unary calls that is the same thing.
    probe = large_request(expect_compressed=messages_pb2.BoolValue(value=True))
    e = unary_error(ctx.stub.UnaryCall, probe, "probe (uncompressed, expect_compressed)")
    expect_code(e, grpc.StatusCode.INVALID_ARGUMENT, "probe (uncompressed, expect_compressed)")
    response = ctx.stub.UnaryCall(probe, compression=grpc.Compression.Gzip, timeout=TIMEOUT)
    expect_payload(response.payload, 314159, "compressed request")
    plain = large_request(expect_compressed=messages_pb2.BoolValue(value=False))
    response = ctx.stub.UnaryCall(plain, timeout=TIMEOUT)
    expect_payload(response.payload, 314159, "uncompressed request")


def server_compressed_unary(ctx):
    # grpcio cannot show whether a received message was compressed, so only the result is
    # checked (the doc makes the flag check "if supported by the implementation").
    for compressed in (True, False):
        request = large_request(response_compressed=messages_pb2.BoolValue(value=compressed))
        response = ctx.stub.UnaryCall(request, timeout=TIMEOUT)
        expect_payload(response.payload, 314159, "response_compressed=%s" % compressed)


def server_compressed_streaming(ctx):
    sizes = (31415, 92653)
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[
            messages_pb2.ResponseParameters(size=31415,
                                            compressed=messages_pb2.BoolValue(value=True)),
            messages_pb2.ResponseParameters(size=92653,
                                            compressed=messages_pb2.BoolValue(value=False))])
    responses = list(ctx.stub.StreamingOutputCall(request, timeout=TIMEOUT))
    check(len(responses) == 2, "got %d responses" % len(responses))
    for i, size in enumerate(sizes):
        expect_payload(responses[i].payload, size, "response %d" % i)


# --- polyrpc's cases (conformance/cases.json) ---

def metadata_binary_unicode(ctx):
    initial = "polyrpc ~!#$%&'()*+,-./:;<=>?@[\\]^_`{|}"
    trailing = bytes(range(256)) + "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f680".encode()
    unary = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE, response_size=1,
                                       payload=messages_pb2.Payload(body=zeros(1)))
    duplex = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=1)])
    _metadata_echo_case(ctx, initial, trailing, unary, duplex, 1, 1)


def large_message_4mib(ctx):
    size = 4194240
    request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                         response_size=size,
                                         payload=messages_pb2.Payload(body=zeros(size)))
    response = ctx.stub.UnaryCall(request, timeout=TIMEOUT)
    expect_payload(response.payload, size, "UnaryCall")


def concurrent_streams(ctx):
    futures = []
    for i in range(100):
        request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                             response_size=i + 1,
                                             payload=messages_pb2.Payload(body=zeros(1)))
        futures.append(ctx.stub.UnaryCall.future(request, timeout=TIMEOUT))
    stream_request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=10) for _ in range(5)])
    streams = [ctx.stub.StreamingOutputCall(stream_request, timeout=TIMEOUT) for _ in range(8)]
    errors = []

    def drain(index, stream):
        try:
            got = list(stream)
            if len(got) != 5 or any(len(r.payload.body) != 10 for r in got):
                errors.append("stream %d: wrong responses" % index)
        except grpc.RpcError as e:
            errors.append("stream %d: %s (%s)" % (index, e.code().name, e.details()))

    threads = [threading.Thread(target=drain, args=(i, s)) for i, s in enumerate(streams)]
    for t in threads:
        t.start()
    for i, future in enumerate(futures):
        try:
            response = future.result()
            if len(response.payload.body) != i + 1:
                errors.append("unary %d: size %d" % (i, len(response.payload.body)))
        except grpc.RpcError as e:
            errors.append("unary %d: %s (%s)" % (i, e.code().name, e.details()))
    for t in threads:
        t.join(TIMEOUT)
        check(not t.is_alive(), "a streaming call did not finish")
    check(not errors, "; ".join(errors[:5]))


def deadline_propagation(ctx):
    request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                         response_size=1,
                                         payload=messages_pb2.Payload(body=zeros(1)))
    _, call = ctx.stub.UnaryCall.with_call(request, timeout=5.0,
                                           metadata=(("x-polyrpc-echo-deadline", "1"),))
    values = [v for k, v in call.trailing_metadata() if k == "x-polyrpc-time-remaining-ms"]
    check(len(values) == 1, "(a) trailing x-polyrpc-time-remaining-ms: %r" % values)
    try:
        remaining = int(values[0])
    except ValueError:
        raise CaseFailed("(a) x-polyrpc-time-remaining-ms is not an integer: %r" % values[0])
    check(0 < remaining <= 5000, "(a) remaining %d ms not in (0, 5000]" % remaining)

    stream_request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=200000)
                             for _ in range(10)])
    start = time.monotonic()
    received = 0
    try:
        for _ in ctx.stub.StreamingOutputCall(stream_request, timeout=1.0):
            received += 1
        raise CaseFailed("(b) stream ended OK after %d responses" % received)
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.DEADLINE_EXCEEDED, "(b) StreamingOutputCall")
    elapsed = time.monotonic() - start
    check(1 <= received < 10, "(b) received %d responses" % received)
    check(elapsed < 3.0, "(b) took %.2f s" % elapsed)


def max_message_size(ctx):
    small_channel = ctx.make_channel([("grpc.max_receive_message_length", 1024 * 1024)])
    try:
        stub = test_pb2_grpc.TestServiceStub(small_channel)
        request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                             response_size=2097152)
        e = unary_error(stub.UnaryCall, request, "(a)")
        expect_code(e, grpc.StatusCode.RESOURCE_EXHAUSTED, "(a) 2 MiB response, 1 MiB limit")
    finally:
        small_channel.close()
    request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                         response_size=1,
                                         payload=messages_pb2.Payload(body=zeros(5242880)))
    e = unary_error(ctx.stub.UnaryCall, request, "(b)")
    expect_code(e, grpc.StatusCode.RESOURCE_EXHAUSTED, "(b) 5 MiB request")
    request = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                         response_size=10,
                                         payload=messages_pb2.Payload(body=zeros(10)))
    response = ctx.stub.UnaryCall(request, timeout=TIMEOUT)
    expect_payload(response.payload, 10, "(c) small call")


def cancel_mid_bidi(ctx):
    requests = RequestQueue()
    responses = ctx.stub.FullDuplexCall(requests, timeout=TIMEOUT)
    for i, (response_size, payload_size) in enumerate(PING_PONG[:2]):
        requests.add(streaming_request(response_size, payload_size))
        expect_payload(next_response(responses, "round %d" % i).payload, response_size,
                       "round %d" % i)
    responses.cancel()
    requests.close()
    try:
        next(responses)
        raise CaseFailed("stream continued after cancel")
    except StopIteration:
        raise CaseFailed("stream ended OK after cancel")
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.CANCELLED, "FullDuplexCall")
    response = ctx.stub.UnaryCall(messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=1), timeout=TIMEOUT)
    expect_payload(response.payload, 1, "UnaryCall after cancel")


def server_closes_connection(ctx):
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=10, interval_us=100000)
                             for _ in range(4)])
    start = time.monotonic()
    responses = ctx.stub.StreamingOutputCall(
        request, timeout=TIMEOUT, metadata=(("x-polyrpc-close-connection", "1"),))
    received = 0
    try:
        for response in responses:
            expect_payload(response.payload, 10, "response %d" % received)
            received += 1
        raise CaseFailed("stream ended OK after %d responses (connection not closed)" % received)
    except grpc.RpcError as e:
        expect_code(e, grpc.StatusCode.UNAVAILABLE, "StreamingOutputCall")
    elapsed = time.monotonic() - start
    check(received >= 1, "no response before the connection closed")
    check(elapsed < 5.0, "UNAVAILABLE took %.2f s" % elapsed)
    # wait_for_ready: the channel may not have noticed the closed connection yet; and one retry
    # on UNAVAILABLE: the call may have been written to the dying connection (cases.json).
    follow_up = messages_pb2.SimpleRequest(response_type=messages_pb2.COMPRESSABLE,
                                           response_size=1)
    try:
        response = ctx.stub.UnaryCall(follow_up, timeout=TIMEOUT, wait_for_ready=True)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        response = ctx.stub.UnaryCall(follow_up, timeout=TIMEOUT, wait_for_ready=True)
    expect_payload(response.payload, 1, "UnaryCall after reconnect")


CASES = {f.__name__: f for f in (
    empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
    cancel_after_begin, cancel_after_first_response, timeout_on_sleeping_server,
    custom_metadata, status_code_and_message, special_status_message, unimplemented_method,
    unimplemented_service, client_compressed_unary, server_compressed_unary,
    server_compressed_streaming, metadata_binary_unicode, large_message_4mib,
    concurrent_streams, deadline_propagation, max_message_size, cancel_mid_bidi,
    server_closes_connection)}
# Cases grpcio cannot express, with the reason (printed on exit 2 is only the name).
UNSUPPORTED = {
    "client_compressed_streaming": "grpcio compresses per call; it cannot send one message "
                                   "compressed and the next uncompressed on the same stream",
    "compression_unsupported": "grpcio cannot label a request with an arbitrary grpc-encoding",
}


class Context:

    def __init__(self, flags):
        self.flags = flags
        self.channel = self.make_channel([])
        self.stub = test_pb2_grpc.TestServiceStub(self.channel)

    def make_channel(self, options):
        flags = self.flags
        target = "%s:%d" % (flags["server_host"], flags["server_port"])
        options = list(options)
        if flags["server_host_override"]:
            options.append(("grpc.default_authority", flags["server_host_override"]))
        if not flags["use_tls"]:
            return grpc.insecure_channel(target, options=options)
        if flags["server_host_override"]:
            options.append(("grpc.ssl_target_name_override", flags["server_host_override"]))
        root = None
        if flags["use_test_ca"]:
            root = interop_common.read_cert_file(flags["cert_dir"], "ca.pem")
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root),
                                   options=options)


def main():
    flags = interop_common.parse_flags(sys.argv[1:], {
        "server_host": "localhost",
        "server_port": 0,
        "server_host_override": "",
        "test_case": "",
        "use_tls": False,
        "use_test_ca": False,
        "cert_dir": interop_common.default_cert_dir(),
    })
    name = flags["test_case"]
    if name in UNSUPPORTED or name not in CASES:
        print("unsupported test case: %s" % name, file=sys.stderr)
        return 2
    if flags["server_port"] <= 0:
        print("--server_port=N is required", file=sys.stderr)
        return 2
    ctx = Context(flags)
    try:
        CASES[name](ctx)
    except CaseFailed as e:
        print("%s failed: %s" % (name, e), file=sys.stderr)
        return 1
    except grpc.RpcError as e:
        print("%s failed: unexpected %s (%s)" % (name, e.code().name, e.details()),
              file=sys.stderr)
        return 1
    except Exception as e:  # a bug in the case itself still ends with a one-line reason
        print("%s failed: %s: %s" % (name, type(e).__name__, e), file=sys.stderr)
        return 1
    finally:
        ctx.channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
