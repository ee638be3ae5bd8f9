"""protoc with the polyrpc plugin wired in, like ``python -m grpc_tools.protoc``::

    python -m polyrpc.tools.protoc -I. --python_out=. --polyrpc_python_out=. foo.proto

``--polyrpc_python_out=DIR`` writes ``foo_pb2_polyrpc.py`` (grpcio-shaped stubs: ``FooStub``,
``FooServicer``, ``add_FooServicer_to_server``) using the ``protoc-gen-polyrpc`` plugin shipped
in this package (``polyrpc/_bin/``) with its ``lang=python`` generator. The compiler is
grpc_tools' bundled protoc when grpcio-tools is installed (``pip install polyrpc[tools]``),
else the system's ``protoc``. Environment: ``POLYRPC_PROTOC_PLUGIN`` overrides the plugin path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import List, Optional, Sequence

PLUGIN_NAME = "protoc-gen-polyrpc"


def plugin_path() -> Optional[str]:
    """The protoc-gen-polyrpc binary to use, or None if there is none."""
    override = os.environ.get("POLYRPC_PROTOC_PLUGIN")
    if override:
        return override
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bin",
                        PLUGIN_NAME)
    if os.access(here, os.X_OK):
        return here
    return shutil.which(PLUGIN_NAME)


def _rewrite(args: Sequence[str]) -> List[str]:
    """Turns --polyrpc_python_out=[OPTS:]DIR into the plugin's lang=python parameter."""
    out = []
    for arg in args:
        if arg.startswith("--polyrpc_python_out="):
            value = arg[len("--polyrpc_python_out="):]
            opts, sep, directory = value.rpartition(":") if ":" in value else ("", "", value)
            params = "lang=python" + ("," + opts if opts else "")
            out.append("--polyrpc_python_out=%s:%s" % (params, directory))
        elif arg.startswith("--polyrpc_python_opt="):
            out.append(arg)
        else:
            out.append(arg)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs protoc; returns its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    wants_plugin = any(a.startswith("--polyrpc_python_out") for a in args)
    if wants_plugin:
        plugin = plugin_path()
        if plugin is None:
            sys.stderr.write(
                "polyrpc.tools.protoc: the protoc-gen-polyrpc plugin is not available: this "
                "polyrpc was built without codegen/ (rebuild with `pip install .` from a tree "
                "that has codegen/, or set POLYRPC_PROTOC_PLUGIN=/path/to/protoc-gen-polyrpc)\n")
            return 2
        args = ["--plugin=protoc-gen-polyrpc_python=" + plugin] + _rewrite(args)
    try:
        from grpc_tools import protoc as grpc_protoc  # type: ignore[import-not-found]
    except ImportError:
        grpc_protoc = None
    if grpc_protoc is not None:
        import grpc_tools  # type: ignore[import-not-found]
        well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        return int(grpc_protoc.main(["protoc"] + args + ["-I" + well_known]))
    protoc = shutil.which("protoc")
    if protoc is None:
        sys.stderr.write("polyrpc.tools.protoc: neither grpcio-tools (pip install "
                         "polyrpc[tools]) nor a system protoc was found\n")
        return 2
    return subprocess.call([protoc] + args)


if __name__ == "__main__":
    sys.exit(main())
