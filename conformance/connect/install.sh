#!/usr/bin/env bash
# Brings the connectrpc conformance suite into the build tree, never into the system:
#   install.sh BUILD protos   the suite's protos (connectrpc/conformance/v1/*.proto, from the Go
#                             module's source) and polyrpc's rpc_status.proto into
#                             BUILD/conformance/connect/proto, for the programs under test
#   install.sh BUILD runner   the runner, BUILD/tools/connectconformance (go install)
# Both from the Go module proxy at the version pinned here, checked against the checksum
# database; GOPATH is BUILD/tools/gopath. Quick when already there. Needs Go >= 1.26 (the
# module's go.mod says so; GOTOOLCHAIN=local: no toolchain download).
set -euo pipefail
VERSION=v1.0.7
MODULE=connectrpc.com/conformance
here=$(cd "$(dirname "$0")" && pwd)
[ $# = 2 ] || { echo "usage: install.sh BUILD protos|runner" >&2; exit 2; }
mkdir -p "$1"
build=$(cd "$1" && pwd)
go=$(command -v go || true)
[ -n "$go" ] || { echo "connect/install.sh: no Go toolchain on PATH" >&2; exit 1; }
export GOPATH=$build/tools/gopath GOBIN=$build/tools GOTOOLCHAIN=local GOFLAGS=
case $2 in
  runner)
    stamp=$build/tools/connectconformance-$VERSION.stamp
    if [ ! -x "$build/tools/connectconformance" ] || [ ! -f "$stamp" ]; then
      echo "connect/install.sh: go install $MODULE/cmd/connectconformance@$VERSION into $build/tools"
      (cd "$build" && "$go" install "$MODULE/cmd/connectconformance@$VERSION")
      touch "$stamp"
    fi
    ;;
  protos)
    out=$build/conformance/connect/proto
    dir=$(cd "$build" && "$go" mod download -json "$MODULE@$VERSION" |
          sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$dir/proto/connectrpc/conformance/v1" ] ||
      { echo "connect/install.sh: no protos in '$dir'" >&2; exit 1; }
    mkdir -p "$out/connectrpc/conformance/v1" "$out/polyrpc_connect"
    # Copied only when they differ, so that an unchanged proto does not rebuild its users.
    for f in "$dir"/proto/connectrpc/conformance/v1/*.proto; do
      t=$out/connectrpc/conformance/v1/$(basename "$f")
      cmp -s "$f" "$t" || install -m 644 "$f" "$t"
    done
    t=$out/polyrpc_connect/rpc_status.proto
    cmp -s "$here/proto/polyrpc_connect/rpc_status.proto" "$t" ||
      install -m 644 "$here/proto/polyrpc_connect/rpc_status.proto" "$t"
    ;;
  *) echo "usage: install.sh BUILD protos|runner" >&2; exit 2 ;;
esac
