#!/usr/bin/env bash
# Runs every test: the C++/C unit and end-to-end suites (ctest: core, capi, codegen, ABI check,
# valgrind subset), the Python suite (pytest), the whole conformance matrix (every client x
# server x case, plaintext and TLS; about 8 minutes here), the core under ASan+UBSan and under
# TSan, and the benchmark smoke run (correctness only, no timing asserts). Fails if any step fails or if no
# test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${POLYRPC_BUILD_DIR:-build}
LOG_DIR=$BUILD/test-logs
failed=()
ran=0

step() {  # step NAME COMMAND...
  local name=$1; shift
  echo
  echo "=== $name"
  local t0=$SECONDS
  if "$@"; then
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
    failed+=("$name")
  fi
}

set -e
bash scripts/bootstrap.sh
bash scripts/build.sh
set +e
mkdir -p "$LOG_DIR"

step "ctest" bash -c "cd '$BUILD' && ctest --output-on-failure -j2 --timeout 600 --output-junit '$PWD/$LOG_DIR/ctest.xml' 2>&1 | tee '$PWD/$LOG_DIR/ctest.log'; exit \${PIPESTATUS[0]}"
n=$(grep -Eo '[0-9]+ tests passed|tests failed out of [0-9]+' "$LOG_DIR/ctest.log" | grep -Eo '[0-9]+$' | tail -1)
ran=$((ran + ${n:-0}))

step "python install" bash scripts/install-python.sh
step "pytest" bash -c "python3 -m pytest -q -p no:cacheprovider bindings/python/tests --junitxml='$LOG_DIR/pytest.xml' 2>&1 | tee '$LOG_DIR/pytest.log'; exit \${PIPESTATUS[0]}"
n=$(grep -Eo '[0-9]+ passed' "$LOG_DIR/pytest.log" | grep -Eo '[0-9]+' | tail -1)
ran=$((ran + ${n:-0}))

step "conformance" python3 conformance/run --build-dir "$BUILD" --tls both --require-all \
  --json "$LOG_DIR/conformance.json" --markdown "$LOG_DIR/conformance.md"
n=$(python3 -c "import json,sys; d=json.load(open('$LOG_DIR/conformance.json')); print(d.get('summary',{}).get('pass',0))" 2>/dev/null)
ran=$((ran + ${n:-0}))

if [ "${POLYRPC_SKIP_ASAN:-0}" != 1 ]; then
  step "core under ASan+UBSan" bash tools/sanitize-check.sh asan
fi
if [ "${POLYRPC_SKIP_TSAN:-0}" != 1 ]; then
  step "core under TSan" bash tools/sanitize-check.sh tsan
fi
if [ -x bench/run ]; then
  step "bench smoke" python3 bench/run --smoke
fi

echo
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
