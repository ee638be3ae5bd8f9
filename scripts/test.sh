#!/usr/bin/env bash
# Runs every test: the C++/C unit and end-to-end suites (ctest: core, capi, codegen, ABI check,
# valgrind subset), the installed wheel's check, the Python suite (pytest), the whole conformance
# matrix (every client x server x case, plaintext and TLS), the connectrpc conformance suite
# (conformance/connect/run), the core under ASan+UBSan and under TSan, each fuzz target
# briefly, and the benchmark smoke run (correctness only, no timing asserts). Fails if any step
# fails or if no test ran at all. Prints each step's time and, at the end, a table of them all
# (also in $BUILD/test-logs/summary.txt).
#
# Hermetic: what the tests use is built and installed into the build tree first (the Python
# package into $BUILD/venv, see scripts/env.sh), and every Python the tests start is that
# environment's, so nothing an earlier run left on the machine is seen.
#   POLYRPC_SKIP_ASAN=1, POLYRPC_SKIP_TSAN=1  leave out the sanitizer steps
#   POLYRPC_SKIP_FUZZ=1                      leave out the fuzz smoke run
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
LOG_DIR=$BUILD/test-logs
failed=()
ran=0
rows=()
T0=$SECONDS

summary() {
  {
    echo
    echo "=== summary"
    printf '%-28s %-7s %8s\n' step result seconds
    local row
    for row in "${rows[@]}"; do
      IFS='|' read -r name result secs <<<"$row"
      printf '%-28s %-7s %8s\n' "$name" "$result" "$secs"
    done
    printf '%-28s %-7s %8s\n' total "" "$((SECONDS - T0))"
  } | tee "$LOG_DIR/summary.txt"
}

step() {  # step NAME COMMAND...: runs COMMAND, records its result and time
  local name=$1; shift
  echo
  echo "=== $name"
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  local secs=$((SECONDS - t0)) result=ok
  [ $rc = 0 ] || { result=FAILED; failed+=("$name"); }
  echo "=== $name: $result ($secs s)"
  rows+=("$name|$result|$secs")
  return $rc
}

setup_step() {  # a step everything after it needs: its failure ends the run
  step "$@" && return
  summary
  echo "FAILED: $1"
  exit 1
}

# Which Python and which polyrpc the tests see is not up to the caller's environment.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV
export PYTHONNOUSERSITE=1
mkdir -p "$LOG_DIR"

setup_step "bootstrap" bash scripts/bootstrap.sh
# Again: the bootstrap may have fetched a Go toolchain into the build tree (env.sh puts it on
# PATH), which what runs from here (the connectrpc runner's go install) must see.
source scripts/env.sh
# From here "python3" is the environment's, for whatever runs it by name (the conformance
# registry's entries, scripts of the tests).
export PATH=$VENV/bin:$PATH
setup_step "build" bash scripts/build.sh

# Install into the build tree everything a test imports or loads, before any test runs.
setup_step "python install" bash scripts/install-python.sh
# Bindings of the next languages install here the same way, each into $BUILD (the gem with
# GEM_HOME under $BUILD, the PHP extension and the C# assembly in folders of their own), as a
# setup_step, so that ctest and the conformance matrix find them.
setup_step "php install" bash bindings/php/build.sh
setup_step "csharp install" bash bindings/csharp/build.sh
setup_step "ruby install" bash scripts/install-ruby.sh

step "wheel check" "$VENV_PY" scripts/wheel-check.py --certs "$BUILD/certs" --expect-prefix "$VENV"

step "ctest" bash -c "cd '$BUILD' && ctest --output-on-failure -j2 --timeout 600 --output-junit '$LOG_DIR/ctest.xml' 2>&1 | tee '$LOG_DIR/ctest.log'; exit \${PIPESTATUS[0]}"
n=$(grep -Eo '[0-9]+ tests passed|tests failed out of [0-9]+' "$LOG_DIR/ctest.log" | grep -Eo '[0-9]+$' | tail -1)
ran=$((ran + ${n:-0}))

step "pytest" bash -c "'$VENV_PY' -m pytest -q -p no:cacheprovider bindings/python/tests --junitxml='$LOG_DIR/pytest.xml' 2>&1 | tee '$LOG_DIR/pytest.log'; exit \${PIPESTATUS[0]}"
n=$(grep -Eo '[0-9]+ passed' "$LOG_DIR/pytest.log" | grep -Eo '[0-9]+' | tail -1)
ran=$((ran + ${n:-0}))

step "phpunit" bash -c "bindings/php/php.sh \"\$(command -v phpunit)\" -c bindings/php/phpunit.xml --log-junit '$LOG_DIR/phpunit.xml' 2>&1 | tee '$LOG_DIR/phpunit.log'; exit \${PIPESTATUS[0]}"
n=$(grep -Eo '^OK \([0-9]+ tests?' "$LOG_DIR/phpunit.log" | grep -Eo '[0-9]+' | tail -1)
ran=$((ran + ${n:-0}))

step "nunit (C#)" bash bindings/csharp/run-tests.sh "$LOG_DIR"
n=$(grep -Eo '^csharp: [0-9]+ passed' "$LOG_DIR/nunit.log" | grep -Eo '[0-9]+' | tail -1)
ran=$((ran + ${n:-0}))

step "minitest (Ruby)" bash bindings/ruby/run-tests.sh "$LOG_DIR"
n=$(grep -Eo '^ruby: [0-9]+ passed' "$LOG_DIR/minitest.log" 2>/dev/null | grep -Eo '[0-9]+' | tail -1)
ran=$((ran + ${n:-0}))

step "conformance" "$VENV_PY" conformance/run --build-dir "$BUILD" --tls both --require-all \
  --json "$LOG_DIR/conformance.json" --markdown "$LOG_DIR/conformance.md"
n=$("$VENV_PY" -c "import json,sys; d=json.load(open('$LOG_DIR/conformance.json')); print(d.get('summary',{}).get('pass',0))" 2>/dev/null)
ran=$((ran + ${n:-0}))

# What the matrix's clients never ask of the interop servers: fill_server_id (grpc-go's
# pick_first_unary needs it) and the listening address (127.0.0.1 by default, --bind); ~3 s.
step "interop servers: server_id and bind" "$VENV_PY" conformance/server_id_check --build-dir "$BUILD" \
  --require-all

# The connectrpc conformance suite, whole, on the C++ and Python servers and clients (about 20 s).
step "connectrpc conformance" "$VENV_PY" conformance/connect/run --build-dir "$BUILD"
n=$("$VENV_PY" -c "import json; print(json.load(open('$BUILD/conformance/connect/report.json'))['summary']['pass'])" 2>/dev/null)
ran=$((ran + ${n:-0}))

if [ "${POLYRPC_SKIP_ASAN:-0}" != 1 ]; then
  step "core under ASan+UBSan" bash tools/sanitize-check.sh asan
fi
if [ "${POLYRPC_SKIP_TSAN:-0}" != 1 ]; then
  step "core under TSan" bash tools/sanitize-check.sh tsan
fi
# Each libFuzzer target (build-fuzz/, clang, ASan+UBSan) over its committed corpus, every input
# once: the same result on every run of a commit (even a fixed-seed exploration found a new
# input in a fresh root). Open-ended runs are fuzz/run --seconds N; what they find goes into the
# corpus with its fix.
if [ "${POLYRPC_SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzz smoke" bash fuzz/run --runs 0
fi
if [ -x bench/run ]; then
  step "bench smoke" "$VENV_PY" bench/run --smoke --build-dir "$BUILD"
fi

summary
echo "tests run: $ran"
if [ "$ran" -eq 0 ]; then
  echo "FAIL: no test ran"
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
