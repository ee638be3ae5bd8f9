#!/usr/bin/env bash
# Compares the ABI of a built libpolyrpc.so with the committed baseline (capi/abi/libpolyrpc.abi,
# from abidw of Debian's abigail-tools). Exit 0: compatible (no change, or only additions);
# non-zero: an incompatible change (or a removed symbol).
#   check.sh path/to/libpolyrpc.so            check
#   check.sh --update path/to/libpolyrpc.so   rewrite the baseline, deliberately
# Only the public headers define the ABI: types of the core are filtered out with
# --headers-dir, so refactoring the C++ core never trips this check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
baseline=$here/libpolyrpc.abi
headers=$here/../include/polyrpc
update=0
if [ "${1:-}" = "--update" ]; then
  update=1
  shift
fi
lib=${1:?usage: check.sh [--update] path/to/libpolyrpc.so}
if [ $update = 1 ]; then
  abidw --exported-interfaces-only --headers-dir "$headers" --drop-private-types --no-corpus-path --no-show-locs --out-file "$baseline" "$lib"
  echo "baseline updated: $baseline"
  exit 0
fi
set +e
abidiff --exported-interfaces-only --headers-dir2 "$headers" --drop-private-types --no-show-locs "$baseline" "$lib"
rc=$?
set -e
# abidiff's exit code is a bit field: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
if [ $((rc & 3)) -ne 0 ]; then
  echo "abidiff failed (exit $rc)" >&2
  exit 1
fi
if [ $((rc & 8)) -ne 0 ]; then
  echo "INCOMPATIBLE ABI change against $baseline (see above)." >&2
  echo "If it is deliberate, bump POLYRPC_ABI_VERSION and run: $0 --update $lib" >&2
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  echo "compatible ABI change (additions); record it with: $0 --update $lib"
fi
echo "ok: ABI compatible with the baseline"
