#!/usr/bin/env bash
# Builds the tests with a sanitizer in a build directory of its own (build-asan/ or build-tsan/,
# so the normal build is untouched) and runs them. For CI and for anyone touching core/src or
# capi/src.
#   tools/sanitize-check.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer, the whole
#       native suite: the core's tests, the C ABI's tests (capi/tests: C programs, the
#       completion-queue test, dynamic calls against grpc++), the codegen tests (the plugin
#       itself, generated C++ against the core, generated C++ against generated Python), and
#       the raw SWIG modules' smoke tests (Ruby, PHP, C#; the interpreters, which are not built
#       with ASan, run with libasan preloaded and without leak checking, see below).
#   tools/sanitize-check.sh tsan   ThreadSanitizer: the core's tests and the C ABI's tests
#       (every one of them starts threads: blocking calls from several threads, completion
#       queues, shutdown and fork under load). The core shares its I/O loops between I/O
#       threads and blocked callers (runtime/event_loop.h). libuv, nghttp2, OpenSSL and
#       libprotobuf come from Debian uninstrumented; the core's own synchronisation is what it
#       sees (tools/tsan.supp: the false reports that causes).
#   tools/sanitize-check.sh asan|tsan [gtest args]   only the core's gtest binary, with those
#       arguments (e.g. --gtest_filter=Goaway*), as before.
# Not run under a sanitizer, and why (docs/reliability.md, "Sanitizers"): the valgrind tests
# (valgrind cannot run ASan binaries), the ABI, export, header and install checks (they look at
# the library's symbols, not its behaviour), the tests that need the conformance programs
# (codegen_c_e2e, codegen_ruby_e2e) or the installed bindings (pytest, phpunit, nunit, minitest:
# the bindings' own packages are built by their own tools), and the reliability and ecosystem
# labels (h2spec, soak; external tools).
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
WHOLE=1
[ $# -eq 0 ] || WHOLE=0
BUILD_DIR=${BUILD_DIR:-build-$MODE}
JOBS=${JOBS:-2}
source scripts/env.sh  # $VENV_PY: the codegen tests' Python (the polyrpc package is in it)

# Configured every time (seconds; nothing recompiles unless a setting changed), so an older tree
# gets these settings.
CONFIG=(-DCMAKE_BUILD_TYPE=$BUILD_TYPE -DPOLYRPC_SANITIZE=$SANITIZE -DPOLYRPC_BUILD_TESTS=ON
  -DPOLYRPC_BUILD_CONFORMANCE=OFF -DPOLYRPC_BUILD_BENCH=OFF -DPOLYRPC_BUILD_PYTHON=OFF
  -DPOLYRPC_BUILD_CSHARP=OFF -DPOLYRPC_BUILD_FUZZ=OFF)
if [ "$MODE" = asan ]; then
  CONFIG+=(-DPOLYRPC_BUILD_CODEGEN=ON -DPOLYRPC_BUILD_SWIG=ON)
  [ ! -x "$VENV_PY" ] || CONFIG+=("-DPython3_EXECUTABLE=$VENV_PY")
else
  CONFIG+=(-DPOLYRPC_BUILD_CODEGEN=OFF -DPOLYRPC_BUILD_SWIG=OFF)
fi
tools/locked cmake -S . -B "$BUILD_DIR" -G Ninja "${CONFIG[@]}" >/dev/null

# What the runs below need, by name: not "all", which also holds tools that fetch from the
# network (ecosystem/) or programs no sanitizer run uses.
targets=(polyrpc_core_tests)
if [ "$WHOLE" = 1 ]; then
  patterns='^(capi_test_|capi_cq_internal_test|capi_dynamic_|example_'
  [ "$MODE" = asan ] && patterns+='|protoc-gen-polyrpc$|codegen_|polyrpc_swig_'
  patterns+=')'
  mapfile -t more < <(ninja -C "$BUILD_DIR" -t targets all 2>/dev/null | cut -d: -f1 |
    grep -E "$patterns" | grep -Ev '[./]' | sort -u)
  targets+=("${more[@]}")
fi
tools/locked cmake --build "$BUILD_DIR" -j"$JOBS" --target "${targets[@]}"

# asan: detect_leaks, every object the core allocates must be freed by the time the process
# exits. Every mode: the first finding fails the run (TSan exits 66).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# tools/tsan.supp: false reports on descriptor numbers reused after libuv closed them (see there).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tools/tsan.supp}
if [ "$WHOLE" = 0 ]; then
  exec timeout 900 "./$BUILD_DIR/core/polyrpc_core_tests" "$@"
fi

failed=()
run() {  # run NAME COMMAND...: one part of the suite; all parts run, the first failure is kept
  local name=$1 t0=$SECONDS rc=0
  shift
  echo "--- $MODE: $name"
  "$@" || rc=$?
  echo "--- $MODE: $name: $([ $rc = 0 ] && echo ok || echo "FAILED ($rc)") ($((SECONDS - t0)) s)"
  [ $rc = 0 ] || failed+=("$name")
}
# ctest for the labels given, without what cannot or need not run under a sanitizer (above).
EXCLUDE_MORE=
suite() {
  (cd "$BUILD_DIR" && timeout 900 ctest --output-on-failure -j"$JOBS" --timeout 300 -L "$1" \
    -LE valgrind -E "^capi\\.(abi|exports|headers|install$EXCLUDE_MORE)\$" "${@:2}")
}

# TSan cannot follow a multi-threaded process into a fork() that starts threads without exec
# ("starting new threads after multi-threaded fork is not supported"): the tests whose forked
# child runs a polyrpc client or server without exec (a client to kill, a killed backend, the
# fork support of the C ABI) run under ASan and in the normal build only. (faults_test's killed
# servers exec the test binary again, and run here.)
core_args=()
if [ "$MODE" = tsan ]; then
  core_args=(--gtest_filter=-Faults.ClientKilled*:LoadBalancing.RoundRobinAvoidsAKilledServer*)
  EXCLUDE_MORE='|fork'
fi
run "core tests" timeout 900 "./$BUILD_DIR/core/polyrpc_core_tests" "${core_args[@]}"
run "C ABI tests" suite capi
if [ "$MODE" = asan ]; then
  run "codegen tests" suite codegen
  # The interpreters are not built with ASan: the runtime is preloaded into them, so that the
  # SWIG modules and libpolyrpc, which are, find it. libstdc++ is preloaded with it: ASan finds
  # the functions it intercepts (__cxa_throw: the C ABI's errors are C++ exceptions inside) when
  # it starts, in the libraries loaded by then, and ruby, php and mono load libstdc++ only with
  # the extension. tools/asan-no-deepbind.c comes first (hence verify_asan_link_order=0): it
  # drops the RTLD_DEEPBIND with which PHP loads extensions and ASan refuses. Leak checking is
  # off: ruby, php and mono keep what they allocate until exit, by design. Stack use after
  # return is off too: it moves locals to a heap-allocated fake stack, where the conservative
  # garbage collectors of ruby and mono do not look for references.
  swig_suite() (
    gcc -shared -fPIC -O2 -o "$BUILD_DIR/asan-no-deepbind.so" tools/asan-no-deepbind.c -ldl
    export LD_PRELOAD="$PWD/$BUILD_DIR/asan-no-deepbind.so $(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so.6)"
    export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=0:verify_asan_link_order=0
    suite swig
  )
  run "SWIG smoke tests (Ruby, PHP, C#)" swig_suite
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "$MODE: FAILED: ${failed[*]}"
  exit 1
fi
echo "$MODE: every part passed"
