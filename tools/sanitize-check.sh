#!/usr/bin/env bash
# Builds the core tests with a sanitizer in a build directory of its own (build-asan/ or
# build-tsan/, so the normal build is untouched) and runs them. For CI and for anyone touching
# core/src.
#   tools/sanitize-check.sh asan [gtest args]   AddressSanitizer + UndefinedBehaviorSanitizer
#   tools/sanitize-check.sh tsan [gtest args]   ThreadSanitizer: the core shares its I/O loops
#       between I/O threads and blocked callers (runtime/event_loop.h). libuv, nghttp2 and
#       OpenSSL come from Debian uninstrumented; the core's own synchronisation is what it sees.
# The build takes the machine-wide build lock (tools/locked); the test run does not.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-}
case "$MODE" in
  asan) SANITIZE=address; BUILD_TYPE=Debug ;;
  tsan) SANITIZE=thread; BUILD_TYPE=RelWithDebInfo ;;
  *) echo "usage: $0 asan|tsan [gtest args]" >&2; exit 2 ;;
esac
shift
BUILD_DIR=${BUILD_DIR:-build-$MODE}
JOBS=${JOBS:-2}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  tools/locked cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=$BUILD_TYPE \
    -DPOLYRPC_SANITIZE=$SANITIZE -DPOLYRPC_BUILD_CONFORMANCE=OFF -DPOLYRPC_BUILD_CODEGEN=OFF \
    -DPOLYRPC_BUILD_BENCH=OFF -DPOLYRPC_BUILD_PYTHON=OFF
fi
tools/locked cmake --build "$BUILD_DIR" -j"$JOBS" --target polyrpc_core_tests

# asan: detect_leaks, every object the core allocates must be freed by the time the process
# exits. Every mode: the first finding fails the run (TSan exits 66).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# tools/tsan.supp: false reports on descriptor numbers reused after libuv closed them (see there).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tools/tsan.supp}
exec timeout 900 "./$BUILD_DIR/core/polyrpc_core_tests" "$@"
