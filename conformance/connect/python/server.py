"""The connectrpc conformance suite's server under test for the polyrpc Python binding.

Reads one length-prefixed connectrpc.conformance.v1.ServerCompatRequest on stdin, starts a
polyrpc.server as it asks (TLS with the runner's certificate, client certificates required when
it gives one, a receive limit), writes a ServerCompatResponse with its address to stdout, and
serves ConformanceService through the generated stubs (service_pb2_polyrpc) until SIGTERM. Each
method behaves as the suite's docs/testing_servers.md and its grpc-go server describe; error
details travel in grpc-status-details-bin (a google.rpc.Status).

Usage: python3 server.py [--bind ADDRESS]   (default 127.0.0.1; never every interface unless
asked)
"""

import argparse
from concurrent import futures
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import connect_common  # noqa: E402
import polyrpc  # noqa: E402
from google.protobuf import any_pb2  # noqa: E402

v1, rpc_status_pb2 = connect_common.load()


def as_any(message):
    a = any_pb2.Any()
    a.Pack(message)
    return a


def request_info(context, requests):
    info = v1.ConformancePayload.RequestInfo()
    connect_common.add_headers(context.invocation_metadata(), info.request_headers)
    remaining = context.time_remaining()
    if remaining is not None:
        info.timeout_ms = max(int(remaining * 1000), 0)
    info.requests.extend(requests)
    return info


class Metadata:
    """The response headers and trailers a definition asks for."""

    def __init__(self, context, definition, send_now):
        self.trailers = connect_common.to_metadata(definition.response_trailers)
        context.set_trailing_metadata(tuple(self.trailers))
        headers = connect_common.to_metadata(definition.response_headers)
        # As grpc-go's server: the headers go out at once, so that the client can read them
        # before the first message (or the error). Half-duplex streams send them later.
        self.pending_headers = None
        if send_now:
            context.send_initial_metadata(tuple(headers))
        else:
            self.pending_headers = tuple(headers)

    def flush(self, context):
        if self.pending_headers is not None:
            context.send_initial_metadata(self.pending_headers)
            self.pending_headers = None


def sleep_ms(ms):
    if ms:
        time.sleep(ms / 1000.0)


def code_of(code):
    return next(c for c in polyrpc.StatusCode if c.value[0] == code)


class ConformanceService(v1.ConformanceServiceServicer):
    def _unary_result(self, context, definition, requests, trailers):
        info = request_info(context, requests)
        if definition is not None and definition.WhichOneof("response") == "error":
            error = v1.Error()
            error.CopyFrom(definition.error)
            error.details.append(as_any(info))
            self._abort(context, error, trailers)
        payload = v1.ConformancePayload(request_info=info)
        if definition is not None:
            payload.data = definition.response_data
        return payload

    @staticmethod
    def _abort(context, error, trailers):
        details = rpc_status_pb2.RpcStatus(code=error.code, message=error.message,
                                           details=list(error.details))
        context.set_trailing_metadata(
            tuple(trailers) + ((connect_common.STATUS_DETAILS_KEY, details.SerializeToString()),))
        context.abort(code_of(error.code), error.message)

    def Unary(self, request, context):
        definition = request.response_definition if request.HasField("response_definition") else None
        trailers = ()
        if definition is not None:
            trailers = Metadata(context, definition, True).trailers
            sleep_ms(definition.response_delay_ms)
        return v1.UnaryResponse(
            payload=self._unary_result(context, definition, [as_any(request)], trailers))

    def ClientStream(self, request_iterator, context):
        requests, definition = [], None
        for request in request_iterator:
            if not requests and request.HasField("response_definition"):
                definition = request.response_definition
            requests.append(as_any(request))
        trailers = ()
        if definition is not None:
            trailers = Metadata(context, definition, True).trailers
            sleep_ms(definition.response_delay_ms)
        return v1.ClientStreamResponse(
            payload=self._unary_result(context, definition, requests, trailers))

    def _stream_end(self, context, definition, sent, requests, trailers):
        if not definition.HasField("error"):
            return
        error = v1.Error()
        error.CopyFrom(definition.error)
        if sent == 0:
            error.details.append(as_any(request_info(context, requests)))
        self._abort(context, error, trailers)

    def ServerStream(self, request, context):
        if not request.HasField("response_definition"):
            return
        definition = request.response_definition
        requests = [as_any(request)]
        trailers = Metadata(context, definition, True).trailers
        sent = 0
        for data in definition.response_data:
            payload = v1.ConformancePayload(data=data)
            if sent == 0:
                payload.request_info.CopyFrom(request_info(context, requests))
            sleep_ms(definition.response_delay_ms)
            yield v1.ServerStreamResponse(payload=payload)
            sent += 1
        self._stream_end(context, definition, sent, requests, trailers)

    def BidiStream(self, request_iterator, context):
        requests = []  # since the last response (full duplex), or all of them (half duplex)
        definition, metadata, full_duplex, first, sent = None, None, False, True, 0
        for request in request_iterator:
            requests.append(as_any(request))
            if first:
                first = False
                full_duplex = request.full_duplex
                if request.HasField("response_definition"):
                    definition = request.response_definition
                    metadata = Metadata(context, definition, full_duplex)
            if not full_duplex:
                continue
            if definition is None or sent >= len(definition.response_data):
                break  # nothing left to send: end with the error, if any
            payload = v1.ConformancePayload(data=definition.response_data[sent])
            if sent == 0:
                payload.request_info.CopyFrom(request_info(context, requests))
            else:
                payload.request_info.requests.extend(requests)
            sleep_ms(definition.response_delay_ms)
            yield v1.BidiStreamResponse(payload=payload)
            sent += 1
            requests = []
        if definition is None:
            return
        metadata.flush(context)
        while sent < len(definition.response_data):
            payload = v1.ConformancePayload(data=definition.response_data[sent])
            if sent == 0:
                payload.request_info.CopyFrom(request_info(context, requests))
            sleep_ms(definition.response_delay_ms)
            yield v1.BidiStreamResponse(payload=payload)
            sent += 1
        self._stream_end(context, definition, sent, requests, metadata.trailers)

    # Unimplemented and IdempotentUnary (a Connect GET method) are left to the generated
    # servicer, which answers UNIMPLEMENTED.


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()

    data = connect_common.read_delimited(sys.stdin.buffer)
    if data is None:
        sys.exit("server.py: no ServerCompatRequest on stdin")
    req = v1.ServerCompatRequest.FromString(data)
    if req.protocol != v1.PROTOCOL_GRPC or req.http_version != v1.HTTP_VERSION_2:
        sys.exit("server.py: only gRPC over HTTP/2")

    options = []
    if req.message_receive_limit:
        options.append(("grpc.max_receive_message_length", req.message_receive_limit))
    server = polyrpc.server(futures.ThreadPoolExecutor(max_workers=64), options=options)
    v1.add_ConformanceServiceServicer_to_server(ConformanceService(), server)
    host = "[%s]" % args.bind if ":" in args.bind else args.bind
    if req.use_tls:
        creds = polyrpc.ssl_server_credentials(
            [(req.server_creds.key, req.server_creds.cert)],
            root_certificates=req.client_tls_cert or None,
            require_client_auth=bool(req.client_tls_cert))
        port = server.add_secure_port(host + ":0", creds)
    else:
        port = server.add_insecure_port(host + ":0")
    server.start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    resp = v1.ServerCompatResponse(
        host={"0.0.0.0": "127.0.0.1", "::": "::1"}.get(args.bind, args.bind), port=port)
    if req.use_tls:
        resp.pem_cert = req.server_creds.cert
    connect_common.write_delimited(sys.stdout.buffer, resp.SerializeToString())
    sys.stderr.write("polyrpc-python connect server on %s:%d (tls=%s)\n" %
                     (resp.host, port, req.use_tls))
    while not stop.wait(3600):
        pass
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
