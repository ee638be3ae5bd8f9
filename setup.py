"""Builds the polyrpc Python package: `pip install .` / `pip wheel .` from the repository root.

build_ext configures bindings/python/CMakeLists.txt as a standalone CMake project in
build/python-ext (it pulls in the whole tree), builds the native module polyrpc._polyrpc linked
against the STATIC libpolyrpc (so the wheel needs no libpolyrpc.so at run time, only the
system's libnghttp2, libuv, libssl and zlib) and, when the codegen exists, the protoc plugin,
which is shipped as polyrpc/_bin/protoc-gen-polyrpc, and the command-line tool, shipped as
polyrpc/_bin/polyrpc (console script "polyrpc").

The build takes the machine-wide build lock (/tmp/polyrpc-build.lock, as tools/locked does) so
it never competes with other builds for the cores. Set POLYRPC_BUILD_LOCK= (empty) to skip it,
e.g. when the caller already holds the lock. POLYRPC_BUILD_JOBS sets -j (default 2).

For the repository's own scripts (scripts/build-wheel.sh), not needed for `pip install .`:
POLYRPC_BUILD_DIR is the build tree the CMake tree goes under (default build/);
POLYRPC_PYTHON_EXT_DIR the CMake tree itself (default <build tree>/python-ext);
POLYRPC_CMAKE_ARGS extra CMake arguments (shell words), which come last and so win.
"""

import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_ROOT = os.path.join(ROOT, os.environ.get("POLYRPC_BUILD_DIR") or "build")
BUILD_DIR = os.path.join(ROOT, os.environ.get("POLYRPC_PYTHON_EXT_DIR") or
                         os.path.join(BUILD_ROOT, "python-ext"))
PLUGIN = "protoc-gen-polyrpc"


@contextlib.contextmanager
def build_lock():
    path = os.environ.get("POLYRPC_BUILD_LOCK", "/tmp/polyrpc-build.lock")
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        import pybind11

        jobs = os.environ.get("POLYRPC_BUILD_JOBS", "2")
        configure = [
            "cmake", "-S", os.path.join(ROOT, "bindings", "python"), "-B", BUILD_DIR,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DPOLYRPC_BUILD_TESTS=OFF", "-DPOLYRPC_BUILD_CONFORMANCE=OFF",
            "-DPOLYRPC_BUILD_CODEGEN=ON",
            "-DPython_EXECUTABLE=" + sys.executable,
            "-Dpybind11_DIR=" + pybind11.get_cmake_dir(),
        ] + shlex.split(os.environ.get("POLYRPC_CMAKE_ARGS", ""))
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        if os.path.exists(os.path.join(BUILD_DIR, "CMakeCache.txt")):
            configure = [a for a in configure if a not in ("-G", "Ninja")]
        targets = ["polyrpc_python"]
        with build_lock():
            subprocess.check_call(configure)
            codegen = os.path.exists(os.path.join(ROOT, "codegen", "CMakeLists.txt"))
            if codegen:
                targets.append(PLUGIN)
            if os.path.exists(os.path.join(ROOT, "cli", "CMakeLists.txt")):
                targets.append("polyrpc_cli")
            subprocess.check_call(["cmake", "--build", BUILD_DIR, "-j", jobs, "--target"] + targets)

        built = None
        module_dir = os.path.join(BUILD_DIR, "polyrpc")
        for name in os.listdir(module_dir):
            if name.startswith("_polyrpc") and name.endswith(".so"):
                built = os.path.join(module_dir, name)
        if built is None:
            raise RuntimeError("the native module was not built in " + module_dir)
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(built, dest)

        plugin = os.path.join(BUILD_DIR, "codegen", PLUGIN)
        if os.path.exists(plugin):
            bin_dir = os.path.join(os.path.dirname(dest), "_bin")
            os.makedirs(bin_dir, exist_ok=True)
            shutil.copyfile(plugin, os.path.join(bin_dir, PLUGIN))
            os.chmod(os.path.join(bin_dir, PLUGIN), 0o755)

        # The command-line tool (console script "polyrpc", polyrpc/tools/cli.py runs it).
        cli = os.path.join(BUILD_DIR, "cli", "polyrpc")
        if os.path.exists(cli):
            bin_dir = os.path.join(os.path.dirname(dest), "_bin")
            os.makedirs(bin_dir, exist_ok=True)
            shutil.copyfile(cli, os.path.join(bin_dir, "polyrpc"))
            os.chmod(os.path.join(bin_dir, "polyrpc"), 0o755)


setup(
    ext_modules=[CMakeExtension("polyrpc._polyrpc")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
    # setuptools' own staging (build/lib.*, build/bdist.*) beside the CMake tree, not in the
    # repository's build/ when the build tree is elsewhere.
    options={"build": {"build_base": os.path.join(BUILD_ROOT, "python-setuptools")}},
)
