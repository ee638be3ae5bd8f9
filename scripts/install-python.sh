#!/usr/bin/env bash
# Installs the polyrpc Python package from this checkout (pip install .), reusing the CMake
# build cache under build/python-ext.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR=${CCACHE_DIR:-$PWD/${POLYRPC_BUILD_DIR:-build}/.ccache}
# setup.py takes the build lock itself around its CMake build.
python3 -m pip install -q --no-build-isolation .
