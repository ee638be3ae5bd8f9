#!/usr/bin/env bash
# The public headers must compile on their own, as strict C99 and as C++ (a binding's glue may
# be either). Usage: check_headers.sh CC CXX capi/include
set -euo pipefail
cc=$1
cxx=$2
inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in "$inc"/polyrpc/*.h; do
  name=polyrpc/$(basename "$h")
  printf '#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' "$name" "$name" > "$tmp/t.c"
  "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I "$inc" "$tmp/t.c"
  cp "$tmp/t.c" "$tmp/t.cc"
  "$cxx" -std=c++11 -pedantic -Wall -Wextra -Werror -fsyntax-only -I "$inc" "$tmp/t.cc"
done
# The version macros agree with the runtime value: checked by capi.api (version case).
echo "ok: every header compiles alone as C99 and C++11, twice included"
