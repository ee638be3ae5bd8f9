"""Shared plumbing for the grpcio interop peers: proto code generation, flags, TLS files.

The grpc.testing protos come from Debian's grpc-proto package and are compiled at startup
into a cache under build/gen/grpcio/, so the repository never carries a copy of them.
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
# The generated modules live in their own package: protoc would place them in a package
# called `grpc`, which would shadow grpcio itself.
GEN_PACKAGE = "grpc_testing_gen"


def _cache_key():
    import grpc_tools
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
    """Compiles the protos into out_dir/GEN_PACKAGE, fixing imports to stay inside it."""
    from grpc_tools import protoc
    import grpc_tools
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", "-I" + PROTO_ROOT, "-I" + well_known, "--python_out=" + out_dir,
            "--grpc_python_out=" + out_dir] + list(PROTO_FILES)
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed on " + " ".join(PROTO_FILES))
    src = os.path.join(out_dir, "grpc", "testing")
    pkg = os.path.join(out_dir, GEN_PACKAGE)
    os.rename(src, pkg)
    shutil.rmtree(os.path.join(out_dir, "grpc"))
    for name in os.listdir(pkg):
        if not name.endswith(".py"):
            continue
        path = os.path.join(pkg, name)
        with open(path) as f:
            text = f.read()
        text = text.replace("from grpc.testing import ", "from . import ")
        with open(path, "w") as f:
            f.write(text)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("")


def load_protos():
    """Returns (empty_pb2, messages_pb2, test_pb2_grpc), generating them on first use.

    Concurrent first starts are safe: each generates into a private temporary directory and
    renames it into place; a loser of the rename race just uses the winner's copy.
    """
    base = os.environ.get("POLYRPC_GRPCIO_GEN_DIR",
                          os.path.join(REPO_ROOT, "build", "gen", "grpcio"))
    final = os.path.join(base, _cache_key())
    if not os.path.isdir(final):
        os.makedirs(base, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=base)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared
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
    empty_pb2 = importlib.import_module(GEN_PACKAGE + ".empty_pb2")
    messages_pb2 = importlib.import_module(GEN_PACKAGE + ".messages_pb2")
    test_pb2_grpc = importlib.import_module(GEN_PACKAGE + ".test_pb2_grpc")
    return empty_pb2, messages_pb2, test_pb2_grpc


def parse_flags(argv, spec):
    """Parses gflags-style arguments: --name=value, --name value, and bare --flag for booleans.

    spec maps flag name -> default value; the default's type decides how a value is parsed.
    Unknown flags are an error (exit 2), like gflags.
    """
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
