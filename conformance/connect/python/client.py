"""The connectrpc conformance suite's client under test for the polyrpc Python binding.

Reads length-prefixed connectrpc.conformance.v1.ClientCompatRequest messages on stdin until its
end, makes each RPC with the generated stub (service_pb2_polyrpc.ConformanceServiceStub) on a
channel of its own (TLS, client certificate, compression and receive limit as the request
says), and writes one ClientCompatResponse per request to stdout as the RPCs finish; up to
--parallel run at once. The steps of each stream type, cancellations included, follow the
suite's docs/testing_clients.md; error details come from grpc-status-details-bin.

Usage: python3 client.py [--parallel N]   (default 32)
"""

import argparse
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import connect_common  # noqa: E402
import polyrpc  # noqa: E402

v1, rpc_status_pb2 = connect_common.load()
SERVICE = "connectrpc.conformance.v1.ConformanceService"
_out_lock = threading.Lock()
_CLOSE = object()


def sleep_ms(ms):
    if ms:
        time.sleep(ms / 1000.0)


def unpack(any_message, cls):
    message = cls()
    if not any_message.Unpack(message):
        raise ValueError("request message is not a %s" % cls.DESCRIPTOR.full_name)
    return message


def finish(result, headers, trailers, error=None):
    """The RPC's outcome as the suite records it: headers, trailers, the error and its details."""
    connect_common.add_headers(headers, result.response_headers)
    connect_common.add_headers(trailers, result.response_trailers,
                               skip=connect_common.STATUS_DETAILS_KEY)
    if error is None:
        return
    result.error.code = error.code().value[0]
    result.error.message = error.details() or ""
    for key, value in trailers or ():
        if key == connect_common.STATUS_DETAILS_KEY:
            result.error.details.extend(rpc_status_pb2.RpcStatus.FromString(value).details)


class Requests:
    """The request stream the binding sends from: messages fed one by one, then the end."""

    def __init__(self):
        self._q = queue.Queue()

    def put(self, message):
        self._q.put(message)

    def close(self):
        self._q.put(_CLOSE)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is _CLOSE:
            raise StopIteration
        return item


def count_response(req, received, call):
    received += 1
    if req.cancel.HasField("after_num_responses") and received == req.cancel.after_num_responses:
        call.cancel()
    return received


def do_unary(stub_method, req, kwargs, result, payload_of):
    future = stub_method.future(unpack(req.request_messages[0], payload_of[0]), **kwargs)
    timer = None
    if req.cancel.HasField("after_close_send_ms"):
        timer = threading.Timer(req.cancel.after_close_send_ms / 1000.0, future.cancel)
        timer.start()
    try:
        response = future.result()
        if payload_of[1]:
            result.payloads.add().CopyFrom(response.payload)
        else:
            result.payloads.add()
        finish(result, future.initial_metadata(), future.trailing_metadata())
    except polyrpc.RpcError as e:
        finish(result, e.initial_metadata(), e.trailing_metadata(), e)
    except polyrpc.FutureCancelledError:
        finish(result, future.initial_metadata(), future.trailing_metadata(), future)
    finally:
        if timer is not None:
            timer.cancel()


def do_client_stream(stub, req, kwargs, result):
    requests = Requests()
    future = stub.ClientStream.future(requests, **kwargs)
    for any_message in req.request_messages:
        sleep_ms(req.request_delay_ms)
        requests.put(unpack(any_message, v1.ClientStreamRequest))
    if req.cancel.HasField("before_close_send"):
        future.cancel()
    requests.close()
    timer = None
    if req.cancel.HasField("after_close_send_ms"):
        timer = threading.Timer(req.cancel.after_close_send_ms / 1000.0, future.cancel)
        timer.start()
    try:
        response = future.result()
        result.payloads.add().CopyFrom(response.payload)
        finish(result, future.initial_metadata(), future.trailing_metadata())
    except polyrpc.RpcError as e:
        finish(result, e.initial_metadata(), e.trailing_metadata(), e)
    except polyrpc.FutureCancelledError:
        finish(result, future.initial_metadata(), future.trailing_metadata(), future)
    finally:
        if timer is not None:
            timer.cancel()


def do_server_stream(stub, req, kwargs, result):
    call = stub.ServerStream(unpack(req.request_messages[0], v1.ServerStreamRequest), **kwargs)
    if req.cancel.HasField("after_close_send_ms"):
        sleep_ms(req.cancel.after_close_send_ms)
        call.cancel()
    received = 0
    try:
        for response in call:
            result.payloads.add().CopyFrom(response.payload)
            received = count_response(req, received, call)
        finish(result, call.initial_metadata(), call.trailing_metadata())
    except polyrpc.RpcError:
        finish(result, call.initial_metadata(), call.trailing_metadata(), call)


def do_bidi_stream(stub, req, kwargs, result):
    full_duplex = req.stream_type == v1.STREAM_TYPE_FULL_DUPLEX_BIDI_STREAM
    requests = Requests()
    call = stub.BidiStream(requests, **kwargs)
    received = 0
    try:
        for i, any_message in enumerate(req.request_messages):
            sleep_ms(req.request_delay_ms)
            if not call.is_active():
                result.num_unsent_requests = len(req.request_messages) - i
                break
            requests.put(unpack(any_message, v1.BidiStreamRequest))
            if full_duplex:
                try:
                    response = next(call)
                except StopIteration:
                    result.num_unsent_requests = len(req.request_messages) - i - 1
                    break
                result.payloads.add().CopyFrom(response.payload)
                received = count_response(req, received, call)
        else:
            if req.cancel.HasField("before_close_send"):
                call.cancel()
            requests.close()
            if req.cancel.HasField("after_close_send_ms"):
                sleep_ms(req.cancel.after_close_send_ms)
                call.cancel()
            for response in call:
                result.payloads.add().CopyFrom(response.payload)
                received = count_response(req, received, call)
        requests.close()
        code = call.code()
        finish(result, call.initial_metadata(), call.trailing_metadata(),
               call if code is not None and code != polyrpc.StatusCode.OK else None)
    except polyrpc.RpcError:
        requests.close()
        finish(result, call.initial_metadata(), call.trailing_metadata(), call)


def make_channel(req):
    options = []
    if req.message_receive_limit:
        options.append(("grpc.max_receive_message_length", req.message_receive_limit))
    host = "[%s]" % req.host if ":" in req.host else req.host
    target = "%s:%d" % (host, req.port)
    if req.server_tls_cert:
        creds = polyrpc.ssl_channel_credentials(
            root_certificates=req.server_tls_cert,
            private_key=req.client_tls_creds.key or None,
            certificate_chain=req.client_tls_creds.cert or None)
        return polyrpc.secure_channel(target, creds, options=options)
    return polyrpc.insecure_channel(target, options=options)


def invoke(req):
    resp = v1.ClientCompatResponse(test_name=req.test_name)
    if req.protocol != v1.PROTOCOL_GRPC:
        resp.error.message = "only the gRPC protocol is supported"
        return resp
    if req.service != SERVICE:
        resp.error.message = "unknown service " + req.service
        return resp
    if req.compression not in (v1.COMPRESSION_UNSPECIFIED, v1.COMPRESSION_IDENTITY,
                               v1.COMPRESSION_GZIP):
        resp.error.message = "unsupported compression"
        return resp
    kwargs = {"metadata": connect_common.to_metadata(req.request_headers)}
    if req.HasField("timeout_ms"):
        kwargs["timeout"] = req.timeout_ms / 1000.0
    if req.compression == v1.COMPRESSION_GZIP:
        kwargs["compression"] = polyrpc.Compression.Gzip
    result = resp.response
    try:
        with make_channel(req) as channel:
            stub = v1.ConformanceServiceStub(channel)
            if req.method == "Unary":
                do_unary(stub.Unary, req, kwargs, result, (v1.UnaryRequest, True))
            elif req.method == "Unimplemented":
                do_unary(stub.Unimplemented, req, kwargs, result, (v1.UnimplementedRequest, False))
            elif req.method == "ClientStream":
                do_client_stream(stub, req, kwargs, result)
            elif req.method == "ServerStream":
                do_server_stream(stub, req, kwargs, result)
            elif req.method == "BidiStream":
                do_bidi_stream(stub, req, kwargs, result)
            else:
                resp.error.message = "unsupported method " + req.method
    except Exception as e:  # noqa: BLE001 - reported to the runner as this test's failure
        resp.ClearField("response")
        resp.error.message = "%s: %s" % (type(e).__name__, e)
    return resp


def run_one(req, slots):
    try:
        data = invoke(req).SerializeToString()
        with _out_lock:
            connect_common.write_delimited(sys.stdout.buffer, data)
    finally:
        slots.release()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parallel", type=int, default=32)
    args = parser.parse_args()
    slots = threading.Semaphore(args.parallel)
    threads = []
    while True:
        data = connect_common.read_delimited(sys.stdin.buffer)
        if data is None:
            break
        slots.acquire()
        t = threading.Thread(target=run_one, args=(v1.ClientCompatRequest.FromString(data), slots))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
