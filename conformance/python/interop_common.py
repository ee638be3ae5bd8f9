"""Shared plumbing of the polyrpc Python interop peers: message classes, stub, flags, TLS files.

The grpc.testing message classes are compiled at startup from Debian's grpc-proto (python_out
only: the service plumbing is polyrpc's own) into a cache under build/gen/python-polyrpc/, so
the repository never carries generated code. Concurrent first starts are safe (private
temporary directory, atomic rename).
"""

import hashlib
import importlib
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_ROOT = os.environ.get("POLYRPC_GRPC_PROTO_ROOT", "/usr/share/grpc-proto")
PROTO_FILES = ("grpc/testing/empty.proto", "grpc/testing/messages.proto",
               "grpc/testing/test.proto")
# Not "grpc": a generated package of that name would shadow grpcio.
GEN_PACKAGE = "polyrpc_testing_gen"

SERVICE = "grpc.testing.TestService"


def _cache_key():
    from google import protobuf
    digest = hashlib.sha256()
    digest.update(protobuf.__version__.encode())
    try:
        from importlib import metadata
        digest.update(metadata.version("grpcio-tools").encode())
    except Exception:  # a missing dist-info only costs a regeneration
        pass
    for name in PROTO_FILES:
        with open(os.path.join(PROTO_ROOT, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def _generate(out_dir):
    from grpc_tools import protoc
    import grpc_tools
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", "-I" + PROTO_ROOT, "-I" + well_known, "--python_out=" + out_dir]
    if protoc.main(args + list(PROTO_FILES)) != 0:
        raise RuntimeError("grpc_tools.protoc failed on " + " ".join(PROTO_FILES))
    pkg = os.path.join(out_dir, GEN_PACKAGE)
    os.rename(os.path.join(out_dir, "grpc", "testing"), pkg)
    shutil.rmtree(os.path.join(out_dir, "grpc"))
    for name in os.listdir(pkg):
        if name.endswith(".py"):
            path = os.path.join(pkg, name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("from grpc.testing import ", "from . import "))
    open(os.path.join(pkg, "__init__.py"), "w").close()


def load_protos():
    """Returns (empty_pb2, messages_pb2), generating them on first use."""
    base = os.environ.get("POLYRPC_PYTHON_GEN_DIR",
                          os.path.join(REPO_ROOT, "build", "gen", "python-polyrpc"))
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
    return (importlib.import_module(GEN_PACKAGE + ".empty_pb2"),
            importlib.import_module(GEN_PACKAGE + ".messages_pb2"))


class TestServiceStub:
    """grpc.testing.TestService client, written by hand on the grpcio-shaped API."""

    def __init__(self, channel, empty_pb2, messages_pb2, service=SERVICE):
        m = messages_pb2

        def path(name):
            return "/%s/%s" % (service, name)

        self.EmptyCall = channel.unary_unary(path("EmptyCall"), empty_pb2.Empty.SerializeToString,
                                             empty_pb2.Empty.FromString)
        self.UnaryCall = channel.unary_unary(path("UnaryCall"), m.SimpleRequest.SerializeToString,
                                             m.SimpleResponse.FromString)
        self.StreamingOutputCall = channel.unary_stream(
            path("StreamingOutputCall"), m.StreamingOutputCallRequest.SerializeToString,
            m.StreamingOutputCallResponse.FromString)
        self.StreamingInputCall = channel.stream_unary(
            path("StreamingInputCall"), m.StreamingInputCallRequest.SerializeToString,
            m.StreamingInputCallResponse.FromString)
        self.FullDuplexCall = channel.stream_stream(
            path("FullDuplexCall"), m.StreamingOutputCallRequest.SerializeToString,
            m.StreamingOutputCallResponse.FromString)
        self.HalfDuplexCall = channel.stream_stream(
            path("HalfDuplexCall"), m.StreamingOutputCallRequest.SerializeToString,
            m.StreamingOutputCallResponse.FromString)
        self.UnimplementedCall = channel.unary_unary(
            path("UnimplementedCall"), empty_pb2.Empty.SerializeToString,
            empty_pb2.Empty.FromString)


def parse_flags(argv, spec):
    """gflags-style arguments: --name=value, --name value, bare --flag for booleans. spec maps
    name -> default; the default's type decides parsing. Unknown flags exit 2."""
    values = dict(spec)
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--"):
            sys.stderr.write("unexpected argument: %s\n" % arg)
            sys.exit(2)
        name, eq, value = arg[2:].partition("=")
        if name not in spec:
            sys.stderr.write("unknown flag: --%s\n" % name)
            sys.exit(2)
        default = spec[name]
        if isinstance(default, bool):
            if not eq:
                value = "true"
            if value.lower() not in ("true", "false", "1", "0"):
                sys.stderr.write("bad boolean for --%s: %s\n" % (name, value))
                sys.exit(2)
            values[name] = value.lower() in ("true", "1")
            continue
        if not eq:
            if i >= len(argv):
                sys.stderr.write("missing value for --%s\n" % name)
                sys.exit(2)
            value = argv[i]
            i += 1
        values[name] = int(value) if isinstance(default, int) else value
    return values


def default_cert_dir():
    return os.environ.get("POLYRPC_TEST_CERTS") or os.path.join(REPO_ROOT, "build", "certs")


def read_cert_file(cert_dir, name):
    with open(os.path.join(cert_dir, name), "rb") as f:
        return f.read()
