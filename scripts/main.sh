#!/usr/bin/env bash
# The main job: install dependencies, build everything, install the Python package (into the
# build tree's environment, $BUILD/venv), and run the full cross-language conformance matrix
# (every client x every server x every case, plaintext and TLS, real gRPC included), then the
# connectrpc conformance suite (conformance/connect/run). Prints each step's time. Exit status:
# non-zero if either failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV

timed() {  # timed NAME COMMAND...
  local name=$1 t0=$SECONDS; shift
  "$@"
  echo "=== main: $name: $((SECONDS - t0)) s"
}

timed bootstrap bash scripts/bootstrap.sh
# Again: the bootstrap may have fetched a Go toolchain into the build tree (env.sh puts it on
# PATH), which what runs from here (the connectrpc runner's go install) must see.
source scripts/env.sh
export PATH=$VENV/bin:$PATH
timed build bash scripts/build.sh
timed "python install" bash scripts/install-python.sh
timed "php install" bash bindings/php/build.sh
timed "ruby install" bash scripts/install-ruby.sh
t0=$SECONDS
rc=0
"$VENV_PY" conformance/run --build-dir "$BUILD" --tls both --require-all "$@" || rc=$?
echo "=== main: conformance: $((SECONDS - t0)) s"
t0=$SECONDS
"$VENV_PY" conformance/connect/run --build-dir "$BUILD" || rc=$?
echo "=== main: connectrpc conformance: $((SECONDS - t0)) s"
exit $rc
