#!/usr/bin/env bash
# Configures and builds everything (core, C ABI, codegen, interop programs, benchmarks) into
# ${POLYRPC_BUILD_DIR:-build} with Ninja and ccache, two jobs. Incremental: re-running is cheap.
# The tests CMake registers run Python from the build tree's environment ($BUILD/venv, made by
# scripts/bootstrap.sh), never whichever python3 is first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
require_venv
JOBS=${POLYRPC_JOBS:-2}

# FindPython3 (codegen and C ABI tests) and FindPython (pybind11) both take the interpreter from
# here; POLYRPC_WERROR stays off because POLYRPC_SHARED_CMAKE_ARGS carries -Werror (see env.sh).
CONFIGURE=(cmake -S . -B "$BUILD" -G Ninja "${POLYRPC_SHARED_CMAKE_ARGS[@]}" -DPOLYRPC_WERROR=OFF
  "-DPython3_EXECUTABLE=$VENV_PY" "-DPython_EXECUTABLE=$VENV_PY" -DPOLYRPC_REQUIRE_BINDINGS=ON)
# Configured every time (a few seconds; nothing recompiles unless a flag changed), so a tree
# configured by hand or by an older version of this script gets these settings back.
tools/locked "${CONFIGURE[@]}" >/dev/null
mkdir -p "$CCACHE_DIR"
ccache -o hash_dir=false
tools/locked cmake --build "$BUILD" -j"$JOBS"
tools/gen-test-certs.sh "$BUILD/certs"
