#!/usr/bin/env bash
# Installs libpolyrpc from a build tree into a folder of that tree and builds the examples
# against the installed copy only, twice: with CMake (find_package(polyrpc)) and with
# pkg-config (polyrpc.pc); both pairs must then talk to each other. What a project outside the
# tree, or a binding's build, does. Usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
# A folder of this run's own: two test runs in one build tree must not share it.
top=$build/install-check/run.$$
prefix=$top/prefix
work=$top/work
rm -rf "$top"
mkdir -p "$prefix" "$work"
trap 'rm -rf "$top"' EXIT
cmake --install "$build" --prefix "$prefix" --component polyrpc > "$work/install.log"
for f in include/polyrpc/polyrpc.h lib/libpolyrpc.so.1 lib/pkgconfig/polyrpc.pc \
         lib/cmake/polyrpc/polyrpcConfig.cmake lib/cmake/polyrpc/polyrpcConfigVersion.cmake; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; cat "$work/install.log"; exit 1; }
done
# The package files may name the prefix, nothing else of the build or source tree.
leaks=$(grep -rhoE "($build|$src)[^\" ;]*" "$prefix/lib/cmake" "$prefix/lib/pkgconfig" | grep -v "^$prefix" || true)
if [ -n "$leaks" ]; then
  echo "installed package files point into the build or source tree:"; echo "$leaks"; exit 1
fi
# CMake, out of tree.
cmake -S "$src/capi/examples/installed" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_RPATH="$prefix/lib" > "$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake" > "$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log"; exit 1; }
# pkg-config, out of tree.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion polyrpc)" = "$(sed -n 's/^project(polyrpc VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ]
for ex in client server; do
  # shellcheck disable=SC2046
  cc -std=c99 -pedantic -Wall -Wextra -Werror -o "$work/pc_$ex" "$src/capi/examples/$ex.c" \
     $(pkg-config --cflags --libs polyrpc) -Wl,-rpath,"$prefix/lib"
done
# The programs load the installed library, not the build tree's.
# (Without LD_LIBRARY_PATH: a test runner may have pointed it at the build tree.)
# (grep without -q: -q exits at the first match, ldd then dies of SIGPIPE, and pipefail makes
# that a failure although the library was found.)
env -u LD_LIBRARY_PATH ldd "$work/cmake/example_client" | grep "$prefix/lib/libpolyrpc.so.1" >/dev/null || {
  echo "example_client does not load the installed libpolyrpc:"
  env -u LD_LIBRARY_PATH ldd "$work/cmake/example_client"; exit 1; }
export -n LD_LIBRARY_PATH 2>/dev/null || true
unset LD_LIBRARY_PATH
bash "$src/capi/examples/run_examples.sh" "$work/cmake/example_server" "$work/pc_client"
bash "$src/capi/examples/run_examples.sh" "$work/pc_server" "$work/cmake/example_client"
echo "ok: installed to $prefix; CMake and pkg-config builds work"
