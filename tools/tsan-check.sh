#!/usr/bin/env bash
# Builds the core tests with ThreadSanitizer in build-tsan/ (a build directory of its own) and
# runs them. The core shares its I/O loops between I/O threads and blocked callers (see
# runtime/event_loop.h): this is the check for that handover. libuv, nghttp2 and OpenSSL come
# from Debian uninstrumented; the core's own synchronisation is what TSan sees.
# Usage: tools/tsan-check.sh [extra gtest args]. The build takes the build lock (tools/locked).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-tsan}
JOBS=${JOBS:-2}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  tools/locked cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
    -DPOLYRPC_BUILD_CONFORMANCE=OFF -DPOLYRPC_BUILD_CODEGEN=OFF -DPOLYRPC_BUILD_BENCH=OFF \
    -DPOLYRPC_BUILD_PYTHON=OFF
fi
tools/locked cmake --build "$BUILD_DIR" -j"$JOBS" --target polyrpc_core_tests

# halt_on_error: the first race fails the run (exit code 66 from TSan).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
exec timeout 900 "./$BUILD_DIR/core/polyrpc_core_tests" "$@"
