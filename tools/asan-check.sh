#!/usr/bin/env bash
# Builds the core tests with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (a build
# directory of its own, so the normal build is untouched) and runs them. For CI and for anyone
# touching core/src. Usage: tools/asan-check.sh [extra gtest args, e.g. --gtest_filter=BadInput*]
# The build takes the machine-wide build lock (tools/locked); the test run does not.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  tools/locked cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DPOLYRPC_SANITIZE=ON -DPOLYRPC_BUILD_CONFORMANCE=OFF -DPOLYRPC_BUILD_CODEGEN=OFF -DPOLYRPC_BUILD_BENCH=OFF
fi
tools/locked cmake --build "$BUILD_DIR" -j"$JOBS" --target polyrpc_core_tests

# detect_leaks: every object the core allocates must be freed by the time the process exits.
# halt_on_error / -fno-sanitize-recover: the first finding fails the run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec timeout 900 "./$BUILD_DIR/core/polyrpc_core_tests" "$@"
