#!/usr/bin/env bash
# The main job: install dependencies, build everything, install the Python package, and run the
# full cross-language conformance matrix (every client x every server x every case, plaintext
# and TLS, real gRPC included). Exit status: that of the matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
bash scripts/install-python.sh
exec python3 conformance/run --build-dir "${POLYRPC_BUILD_DIR:-build}" --tls both --require-all "$@"
