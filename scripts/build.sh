#!/usr/bin/env bash
# Configures and builds everything (core, C ABI, codegen, interop programs, benchmarks) into
# ${POLYRPC_BUILD_DIR:-build} with Ninja and ccache, two jobs. Incremental: re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${POLYRPC_BUILD_DIR:-build}
JOBS=${POLYRPC_JOBS:-2}
export CCACHE_DIR=${CCACHE_DIR:-$PWD/$BUILD/.ccache}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOLYRPC_WERROR=ON
fi
tools/locked cmake --build "$BUILD" -j"$JOBS"
tools/gen-test-certs.sh "$BUILD/certs"
