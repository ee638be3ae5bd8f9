#!/usr/bin/env bash
# Installs every system and Python dependency polyrpc needs on a fresh Debian 12 machine.
# Idempotent: packages already present are left alone. Run as root (or with sudo available).
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libnghttp2-dev libuv1-dev libssl-dev zlib1g-dev openssl
  libgtest-dev googletest
  protobuf-compiler libprotobuf-dev libprotoc-dev
  libgrpc++-dev protobuf-compiler-grpc grpc-proto
  python3-dev pybind11-dev
  nghttp2-client nghttp2-server
  abigail-tools swig valgrind
  libclang-rt-14-dev clang-format
)
PIP_PACKAGES=(grpcio grpcio-tools protobuf pybind11 pytest setuptools wheel)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing apt packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import grpc, grpc_tools, google.protobuf, pybind11, pytest' >/dev/null 2>&1; then
  echo "bootstrap: installing pip packages: ${PIP_PACKAGES[*]}"
  "$PYTHON" -m pip install -q "${PIP_PACKAGES[@]}"
fi
# ghz, the gRPC load generator bench/run uses (optional: without Go the bootstrap still succeeds
# and bench/run reports ghz as missing and skips its rows).
GHZ_VERSION=v0.120.0
if command -v go >/dev/null 2>&1; then
  GHZ_BIN="$(go env GOPATH)/bin/ghz"
  if [ ! -x "$GHZ_BIN" ] && ! command -v ghz >/dev/null 2>&1; then
    echo "bootstrap: installing ghz $GHZ_VERSION (go install)"
    go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION" ||
      echo "bootstrap: WARNING: ghz install failed; bench/run will skip its ghz rows"
  fi
else
  echo "bootstrap: Go not found: ghz not installed; bench/run will skip its ghz rows"
fi
echo "bootstrap: ok"
