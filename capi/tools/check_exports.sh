#!/usr/bin/env bash
# Checks the dynamic symbol table of libpolyrpc.so: only polyrpc_* may be defined, and the set
# must equal capi/symbols-in-versions (a new symbol needs its line; a missing one is a break).
# Usage: check_exports.sh path/to/libpolyrpc.so path/to/symbols-in-versions
set -euo pipefail
lib=$1
list=$2
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)
bad=$(echo "$exported" | grep -v '^polyrpc_' || true)
if [ -n "$bad" ]; then
  echo "libpolyrpc exports symbols outside the polyrpc_ namespace:" >&2
  echo "$bad" | head -50 >&2
  exit 1
fi
listed=$(grep -v '^#' "$list" | awk 'NF {print $1}' | sort -u)
if [ "$exported" != "$listed" ]; then
  echo "exported symbols and $list differ (< exported only, > listed only):" >&2
  diff <(echo "$exported") <(echo "$listed") >&2 || true
  exit 1
fi
echo "ok: $(echo "$exported" | wc -l) symbols, all polyrpc_*, all listed"
