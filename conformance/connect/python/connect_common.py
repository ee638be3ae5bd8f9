"""What the polyrpc Python programs under test of the connectrpc conformance suite share.

The suite's messages (connectrpc/conformance/v1/*_pb2.py) and the polyrpc stubs of
ConformanceService (service_pb2_polyrpc.py, protoc-gen-polyrpc lang=python) are generated at
first use from the protos the build copied into BUILD/conformance/connect/proto (install.sh),
into a cache beside them keyed by their content and the protobuf version: nothing generated is
committed. Concurrent first starts are safe (private temporary directory, atomic rename).
Also: the runner's framing (a 4-byte big-endian length before each message) and the
conversions between the suite's Header lists and gRPC metadata.
"""

import base64
import hashlib
import importlib
import os
import shutil
import struct
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = os.environ.get("POLYRPC_BUILD_DIR", os.path.join(REPO_ROOT, "build"))
PROTO_ROOT = os.path.join(BUILD, "conformance", "connect", "proto")
PROTOS = ("connectrpc/conformance/v1/config.proto", "connectrpc/conformance/v1/service.proto",
          "connectrpc/conformance/v1/client_compat.proto",
          "connectrpc/conformance/v1/server_compat.proto", "polyrpc_connect/rpc_status.proto")
PLUGIN = os.path.join(BUILD, "codegen", "protoc-gen-polyrpc")
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _cache_key():
    from google import protobuf
    digest = hashlib.sha256(protobuf.__version__.encode())
    for name in PROTOS:
        with open(os.path.join(PROTO_ROOT, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def _generate(out_dir):
    from grpc_tools import protoc
    import grpc_tools
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", "-I" + PROTO_ROOT, "-I" + well_known, "--python_out=" + out_dir,
            "--plugin=protoc-gen-polyrpc=" + PLUGIN, "--polyrpc_out=lang=python:" + out_dir]
    if protoc.main(args + [os.path.join(PROTO_ROOT, p) for p in PROTOS]) != 0:
        raise RuntimeError("grpc_tools.protoc failed on the suite's protos in " + PROTO_ROOT)


def load():
    """Imports and returns (v1 namespace, rpc_status_pb2): the suite's messages and stubs."""
    if not os.path.exists(os.path.join(PROTO_ROOT, PROTOS[0])):
        sys.exit("connect_common: no protos in %s (build target polyrpc_connect_protos, or "
                 "conformance/connect/install.sh BUILD protos)" % PROTO_ROOT)
    base = os.path.join(BUILD, "conformance", "connect", "python-gen")
    final = os.path.join(base, _cache_key())
    if not os.path.isdir(final):
        os.makedirs(base, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=base)
        try:
            _generate(tmp)
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):
                    raise
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    if final not in sys.path:
        sys.path.insert(0, final)

    class V1:
        pass
    v1 = V1()
    for mod in ("config_pb2", "service_pb2", "client_compat_pb2", "server_compat_pb2",
                "service_pb2_polyrpc"):
        m = importlib.import_module("connectrpc.conformance.v1." + mod)
        for name in dir(m):
            if not name.startswith("_"):
                setattr(v1, name, getattr(m, name))
    return v1, importlib.import_module("polyrpc_connect.rpc_status_pb2")


def read_delimited(stream):
    """One length-prefixed message from a binary stream, or None at its end."""
    prefix = stream.read(4)
    if len(prefix) < 4:
        return None
    (n,) = struct.unpack(">I", prefix)
    data = stream.read(n)
    return data if len(data) == n else None


def write_delimited(stream, data):
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def to_metadata(headers):
    """The suite's headers as gRPC metadata: names lowercased, -bin values decoded."""
    md = []
    for h in headers:
        name = h.name.lower()
        for value in h.value:
            if name.endswith("-bin"):
                try:
                    md.append((name, base64.b64decode(value + "=" * (-len(value) % 4),
                                                      altchars=b"-_" if ("-" in value or "_" in value) else None)))
                    continue
                except ValueError:
                    pass
            md.append((name, value))
    return md


def add_headers(metadata, out, skip=None):
    """gRPC metadata into a repeated Header field: one Header per name (first-seen order), -bin
    values base64-encoded without padding, as connect-go writes them."""
    by_name = {}
    for key, value in metadata or ():
        if key == skip:
            continue
        h = by_name.get(key)
        if h is None:
            h = out.add(name=key)
            by_name[key] = h
        if key.endswith("-bin"):
            raw = value if isinstance(value, bytes) else value.encode()
            h.value.append(base64.b64encode(raw).decode().rstrip("="))
        else:
            h.value.append(value if isinstance(value, str) else value.decode())
