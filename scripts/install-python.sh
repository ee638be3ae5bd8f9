#!/usr/bin/env bash
# Builds the polyrpc wheel (scripts/build-wheel.sh) and installs it into the build tree's Python
# environment ($BUILD/venv), where the tests import it from. For your own interpreter or
# environment, `pip install .` from the repository root (or the wheel in $BUILD/wheelhouse/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
require_venv
# A build that fails must not leave the previous package behind for the tests to import.
"$VENV_PY" -m pip uninstall -q -y polyrpc 2>/dev/null || true
bash scripts/build-wheel.sh "$@"
wheels=("$WHEELHOUSE"/polyrpc-*.whl)
"$VENV_PY" -m pip install -q --no-index --no-deps --force-reinstall "${wheels[0]}"
echo "install-python: $(basename "${wheels[0]}") installed into $VENV"
