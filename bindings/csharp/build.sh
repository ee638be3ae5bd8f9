#!/usr/bin/env bash
# Builds the C# binding into the build tree and checks what it made (the test command's
# "csharp install" step): the CMake targets polyrpc_csharp (PolyRpc.dll, libpolyrpc_csharp.so,
# libpolyrpc.so.1 and the NuGet layout in $BUILD/bindings/csharp/package/), polyrpc_csharp_tests
# (the NUnit suite) and polyrpc_csharp_interop (the conformance programs). Nothing goes outside
# $BUILD: no GAC, no system library path. Incremental; the build takes the machine-wide lock.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source scripts/env.sh
tools/locked cmake --build "$BUILD" -j"${POLYRPC_JOBS:-2}" \
  --target polyrpc_csharp polyrpc_csharp_tests polyrpc_csharp_interop
PKG=$BUILD/bindings/csharp/package
# Every <file src="..."> of the nuspec exists (the NUnit suite checks it again, in C#).
missing=0
while read -r src; do
  [ -f "$PKG/$src" ] || { echo "csharp build: $PKG/$src (listed in PolyRpc.nuspec) is missing" >&2; missing=1; }
done < <(grep -o '<file src="[^"]*"' "$PKG/PolyRpc.nuspec" | sed 's/<file src="//; s/"$//')
[ $missing = 0 ] || exit 1
# The native wrapper finds libpolyrpc.so.1 beside itself, not elsewhere on the machine.
if ldd "$PKG/runtimes/linux-x64/native/libpolyrpc_csharp.so" | grep -q 'libpolyrpc.so.1 => not found'; then
  echo "csharp build: libpolyrpc_csharp.so does not find libpolyrpc.so.1 beside it" >&2
  exit 1
fi
echo "csharp build: $BUILD/bindings/csharp/bin/PolyRpc.dll, package in $PKG ($(grep -c '<file src' "$PKG/PolyRpc.nuspec") files)"
