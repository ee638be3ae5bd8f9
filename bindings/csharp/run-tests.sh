#!/usr/bin/env bash
# Runs the C# binding's NUnit suite with Debian's nunit-console (NUnit 2.6) on the assemblies in
# the build tree (bindings/csharp/build.sh makes them), and prints "csharp: N passed, N failed".
#   bindings/csharp/run-tests.sh [LOG_DIR]     (results: LOG_DIR/nunit.xml and nunit.log)
#   extra nunit-console options after LOG_DIR, e.g. -run:PolyRpc.Tests.CallsTest
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source scripts/env.sh
LOG=${1:-$BUILD/test-logs}
shift || true
mkdir -p "$LOG"
BIN=$BUILD/bindings/csharp/bin
# Only the build tree: nothing an earlier run or the machine's environment points Mono at.
unset MONO_PATH MONO_CONFIG LD_LIBRARY_PATH
export POLYRPC_TEST_CERTS=$BUILD/certs POLYRPC_BUILD_DIR=$BUILD
cd "$BIN"
timeout 900 nunit-console -nologo -nodots PolyRpc.Tests.dll -xml="$LOG/nunit.xml" "$@" 2>&1 | tee "$LOG/nunit.log"
rc=${PIPESTATUS[0]}
total=$(grep -Eo 'Tests run: [0-9]+' "$LOG/nunit.log" | grep -Eo '[0-9]+' | tail -1)
errors=$(grep -Eo 'Errors: [0-9]+' "$LOG/nunit.log" | grep -Eo '[0-9]+' | tail -1)
failures=$(grep -Eo 'Failures: [0-9]+' "$LOG/nunit.log" | grep -Eo '[0-9]+' | tail -1)
bad=$(( ${errors:-0} + ${failures:-0} ))
echo "csharp: $(( ${total:-0} - bad )) passed, $bad failed" | tee -a "$LOG/nunit.log"
[ "${total:-0}" -gt 0 ] || { echo "csharp: no test ran" >&2; exit 1; }
exit $rc
