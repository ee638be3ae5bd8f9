#!/usr/bin/env python3
"""Checks an installed polyrpc wheel: that it is the one this interpreter's environment holds,
that its native files load their libraries from the wheel and not from the system, and that it
makes real calls.

    python scripts/wheel-check.py [--certs DIR] [--expect-prefix DIR]

1. polyrpc is imported from this interpreter's site-packages (--expect-prefix: from under DIR),
   never from a source tree or another environment.
2. Every native file of the package (the extension module, the bundled protoc plugin) resolves,
   according to ldd, every library outside the C/C++ runtime (libc, libm, libstdc++, ...) from
   the wheel's polyrpc.libs/, and none is missing; libnghttp2, libuv, libssl and libcrypto are
   among those it bundles.
3. An in-process polyrpc server on 127.0.0.1 answers a unary call with what it was sent, and an
   unknown method with UNIMPLEMENTED; with --certs (ca.pem, server.pem, server.key from
   tools/gen-test-certs.sh) the same over TLS, which runs the bundled OpenSSL.
4. The bundled protoc plugin runs: given an empty CodeGeneratorRequest it answers and exits 0.

Stdlib plus polyrpc only, so it runs on a machine that has nothing else (scripts/fresh-check runs
it on a bare Debian root without libnghttp2, libuv or libssl installed). Exit status 0 when every
check passed.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import sysconfig
from concurrent import futures

# What a manylinux wheel may take from the system (auditwheel's policy): the C and C++ runtime.
SYSTEM_LIBS = {"linux-vdso.so.1", "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2",
               "librt.so.1", "libpthread.so.0", "libgcc_s.so.1", "libstdc++.so.6",
               "libresolv.so.2", "libutil.so.1", "libz.so.1"}
MUST_BUNDLE = ("libnghttp2", "libuv", "libssl", "libcrypto")

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def ldd(path):
    """{soname: resolved path or None} for path's whole dependency tree, as the loader sees it."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    libs = {}
    for line in out.splitlines():
        line = line.strip()
        m = re.match(r"(\S+) => not found", line)
        if m:
            libs[m.group(1)] = None
            continue
        m = re.match(r"(\S+) => (\S+) \(0x", line)
        if m:
            libs[m.group(1)] = m.group(2)
            continue
        m = re.match(r"(\S+) \(0x", line)  # the vdso and the loader itself
        if m:
            libs[os.path.basename(m.group(1))] = m.group(1)
    return libs


def check_location(polyrpc, expect_prefix):
    where = os.path.realpath(os.path.dirname(polyrpc.__file__))
    site = os.path.realpath(sysconfig.get_paths()["platlib"])
    check(where == os.path.join(site, "polyrpc"),
          f"polyrpc is imported from this environment's site-packages ({where})")
    if expect_prefix:
        prefix = os.path.realpath(expect_prefix)
        check(where.startswith(prefix + os.sep), f"polyrpc is imported from under {prefix}")
    return where


def check_libraries(pkg_dir):
    libs_dir = os.path.realpath(os.path.join(os.path.dirname(pkg_dir), "polyrpc.libs"))
    check(os.path.isdir(libs_dir), f"the wheel installed its libraries in {libs_dir}")
    natives = glob.glob(os.path.join(pkg_dir, "_polyrpc*.so"))
    check(len(natives) == 1, f"one extension module in {pkg_dir}: {natives}")
    natives += glob.glob(os.path.join(pkg_dir, "_bin", "*"))
    for native in natives:
        name = os.path.relpath(native, pkg_dir)
        libs = ldd(native)
        missing = sorted(k for k, v in libs.items() if v is None)
        check(not missing, f"{name}: no library missing {missing or ''}")
        outside = sorted(f"{k} => {v}" for k, v in libs.items()
                         if v and k not in SYSTEM_LIBS
                         and not os.path.realpath(v).startswith(libs_dir + os.sep))
        check(not outside, f"{name}: every non-runtime library comes from polyrpc.libs/ "
                           f"{outside or ''}")
        if name.startswith("_polyrpc"):
            for stem in MUST_BUNDLE:
                got = [v for k, v in libs.items() if k.startswith(stem + "-") or k.startswith(stem + ".")]
                check(bool(got) and all(os.path.realpath(v).startswith(libs_dir + os.sep) for v in got),
                      f"{name}: {stem} is bundled and loaded from polyrpc.libs/ {got}")
    return natives


def check_calls(polyrpc, certs):
    def echo(request, context):
        return request[::-1]

    handler = polyrpc.method_handlers_generic_handler(
        "smoke.Echo", {"Reverse": polyrpc.unary_unary_rpc_method_handler(echo)})
    server = polyrpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    targets = [("plaintext", server.add_insecure_port("127.0.0.1:0"), None)]
    if certs:
        def read(name):
            with open(os.path.join(certs, name), "rb") as f:
                return f.read()
        creds = polyrpc.ssl_server_credentials([(read("server.key"), read("server.pem"))])
        targets.append(("TLS", server.add_secure_port("127.0.0.1:0", creds),
                        polyrpc.ssl_channel_credentials(root_certificates=read("ca.pem"))))
    server.start()
    try:
        for label, port, creds in targets:
            target = f"127.0.0.1:{port}"
            channel = (polyrpc.secure_channel(target, creds) if creds
                       else polyrpc.insecure_channel(target))
            with channel:
                payload = os.urandom(257)
                reply = channel.unary_unary("/smoke.Echo/Reverse")(payload, timeout=10)
                check(reply == payload[::-1], f"{label} unary call on {target} answers")
                try:
                    channel.unary_unary("/smoke.Echo/Nope")(b"", timeout=10)
                    code = None
                except polyrpc.RpcError as e:
                    code = e.code()
                check(code == polyrpc.StatusCode.UNIMPLEMENTED,
                      f"{label}: an unknown method is UNIMPLEMENTED (got {code})")
    finally:
        server.stop(None)


def check_plugin(natives):
    for native in natives:
        if os.path.basename(native).startswith("protoc-gen-"):
            # An empty CodeGeneratorRequest is zero bytes; the answer is a CodeGeneratorResponse.
            run = subprocess.run([native], input=b"", capture_output=True, timeout=30)
            check(run.returncode == 0, f"{os.path.basename(native)} runs (exit {run.returncode}) "
                                       f"{run.stderr.decode(errors='replace').strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--certs", help="directory with ca.pem, server.pem, server.key: also call over TLS")
    ap.add_argument("--expect-prefix", help="polyrpc must be imported from under this directory")
    args = ap.parse_args()
    # The check must see the installed package only: drop the script's folder (and the current
    # directory) from the path, in case either holds a polyrpc.
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(os.path.dirname(__file__))]
    import polyrpc
    print(f"polyrpc {polyrpc.version()} on Python {sys.version.split()[0]} ({sys.executable})")
    pkg_dir = check_location(polyrpc, args.expect_prefix)
    natives = check_libraries(pkg_dir)
    check_calls(polyrpc, args.certs)
    check_plugin(natives)
    if failures:
        print(f"wheel check: {len(failures)} check(s) FAILED")
        return 1
    print("wheel check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
