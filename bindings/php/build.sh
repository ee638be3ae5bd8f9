#!/usr/bin/env bash
# Builds the polyrpc PHP extension the way PHP extensions are built (phpize, config.m4,
# pkg-config), and optionally installs it with the C library and the PHP library.
#
#   bindings/php/build.sh             into the build tree (what the tests use):
#                                     $BUILD/bindings/php/prefix   libpolyrpc + polyrpc.pc
#                                     $BUILD/bindings/php/ext/modules/polyrpc.so
#                                     load it with: php -d extension=<that path> ...
#   sudo bindings/php/build.sh --install [--prefix /usr/local]
#                                     on a fresh machine (after scripts/bootstrap.sh): builds
#                                     libpolyrpc, installs it into the prefix (ldconfig), the
#                                     extension into PHP's extension folder with an ini file
#                                     (enabled with phpenmod), and the PHP library into
#                                     /usr/share/php/PolyRPC (require 'PolyRPC/autoload.php').
#   bindings/php/build.sh --install --destdir D   the same, staged under D (as make's DESTDIR):
#                                     nothing outside D changes; no ldconfig, no phpenmod.
#
# Incremental: phpize and configure run again only when config.m4 changes, and the SWIG wrapper
# is regenerated every time but replaced only when it differs, so make recompiles only what
# changed. Every compile takes the machine-wide build lock (tools/locked).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source scripts/env.sh

install=0
prefix=/usr/local
destdir=
while [ $# -gt 0 ]; do
  case "$1" in
    --install) install=1 ;;
    --prefix) prefix=$2; shift ;;
    --prefix=*) prefix=${1#--prefix=} ;;
    --destdir) destdir=$2; shift ;;
    --destdir=*) destdir=${1#--destdir=} ;;
    -h|--help) sed -n 2,18p "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

PHPIZE=$(command -v phpize8.2 || command -v phpize || true)
PHP_CONFIG=$(command -v php-config8.2 || command -v php-config || true)
SWIG=$(command -v swig4.0 || command -v swig || true)
for t in PHPIZE PHP_CONFIG SWIG; do
  if [ -z "${!t}" ]; then
    echo "build.sh: ${t,,} not found (apt install php-dev swig; scripts/bootstrap.sh)" >&2
    exit 1
  fi
done

out=$BUILD/bindings/php
ext=$out/ext
mkdir -p "$out" "$ext"

# 1. libpolyrpc, installed with its pkg-config file into a prefix.
if [ $install = 1 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    tools/locked cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  tools/locked cmake --build "$BUILD" -j"${POLYRPC_JOBS:-2}" --target polyrpc
  lib_prefix=$prefix
else
  if [ ! -e "$BUILD/capi/libpolyrpc.so.1" ]; then
    echo "build.sh: $BUILD/capi/libpolyrpc.so.1 missing: run scripts/build.sh first" >&2
    exit 1
  fi
  lib_prefix=$out/prefix
fi
if [ -n "$destdir" ]; then
  # Staged: build against a copy in the build tree, install the prefix's files under destdir.
  DESTDIR=$destdir cmake --install "$BUILD" --prefix "$lib_prefix" --component polyrpc >"$out/install-lib.log"
  lib_prefix_build=$out/prefix
  cmake --install "$BUILD" --prefix "$lib_prefix_build" --component polyrpc >>"$out/install-lib.log"
else
  cmake --install "$BUILD" --prefix "$lib_prefix" --component polyrpc >"$out/install-lib.log"
  lib_prefix_build=$lib_prefix
  [ $install = 1 ] && command -v ldconfig >/dev/null && ldconfig
fi
export PKG_CONFIG_PATH=$lib_prefix_build/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
pkg-config --exists polyrpc || { echo "build.sh: pkg-config finds no polyrpc in $lib_prefix_build" >&2; exit 1; }

# 2. The sources in a folder of the build tree (phpize writes next to config.m4), the SWIG
#    wrapper generated from the installed headers.
cp -p bindings/php/ext/config.m4 bindings/php/ext/polyrpc_php.c "$ext/"
gen=$out/swig-gen
rm -rf "$gen" && mkdir -p "$gen"
"$SWIG" -php7 -I"$(pkg-config --variable=includedir polyrpc)" -I"$ROOT/bindings/swig" \
  -o "$gen/polyrpc_wrap.cxx" "$ROOT/bindings/swig/polyrpc.i"
for f in polyrpc_wrap.cxx php_polyrpc.h; do
  cmp -s "$gen/$f" "$ext/$f" || cp "$gen/$f" "$ext/$f"
done

# 3. phpize + configure (when config.m4 changed or never ran), make.
stamp=$ext/.configured
want="$(sha256sum bindings/php/ext/config.m4 | cut -d' ' -f1) $lib_prefix_build $PHP_CONFIG"
if [ ! -f "$ext/Makefile" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  (cd "$ext" && "$PHPIZE" >phpize.log && \
     ./configure --with-php-config="$PHP_CONFIG" --with-polyrpc \
       --with-polyrpc-swig="$ROOT/bindings/swig" >configure.log) ||
    { echo "build.sh: phpize/configure failed: see $ext/configure.log" >&2; exit 1; }
  echo "$want" >"$stamp"
fi
"$ROOT/tools/locked" make -C "$ext" -j"${POLYRPC_JOBS:-2}" >"$ext/make.log" 2>&1 ||
  { tail -40 "$ext/make.log"; echo "build.sh: make failed: see $ext/make.log" >&2; exit 1; }
so=$ext/modules/polyrpc.so
php -n -d extension="$so" -r 'exit(function_exists("polyrpc_php_channel_acquire") ? 0 : 1);' ||
  { echo "build.sh: $so does not load" >&2; exit 1; }

if [ $install = 0 ]; then
  # 4. PHP classes of the protos the tests and conformance/php use, generated into the build
  #    tree: protoc's messages (--php_out) and the plugin's clients and service interfaces.
  plugin=${POLYRPC_PHP_PLUGIN:-$BUILD/codegen/protoc-gen-polyrpc}
  gen=$out/gen
  rm -rf "$gen.new" && mkdir -p "$gen.new"
  protoc -I/usr/share/grpc-proto --php_out="$gen.new" --plugin=protoc-gen-polyrpc="$plugin" \
    --polyrpc_out=lang=php:"$gen.new" grpc/testing/test.proto grpc/testing/messages.proto \
    grpc/testing/empty.proto
  protoc -I"$ROOT/codegen/tests/protos" --php_out="$gen.new" --plugin=protoc-gen-polyrpc="$plugin" \
    --polyrpc_out=lang=php:"$gen.new" cgtest/common/types.proto cgtest/routes/route_guide.proto \
    keywords.proto
  rm -rf "$gen" && mv "$gen.new" "$gen"
  echo "build.sh: $so (php -d extension=$so), generated classes in $gen"
  exit 0
fi

# 5. Install: the extension, its ini file, the PHP library.
make -C "$ext" install INSTALL_ROOT="$destdir" >"$ext/install.log"
extdir=$("$PHP_CONFIG" --extension-dir)
phpver=$("$PHP_CONFIG" --version | cut -d. -f1,2)
if [ -d "/etc/php/$phpver/mods-available" ]; then
  mkdir -p "$destdir/etc/php/$phpver/mods-available"
  echo "extension=polyrpc.so" >"$destdir/etc/php/$phpver/mods-available/polyrpc.ini"
  if [ -z "$destdir" ] && command -v phpenmod >/dev/null; then
    phpenmod -v "$phpver" polyrpc
    ini="/etc/php/$phpver/mods-available/polyrpc.ini (enabled with phpenmod)"
  else
    ini="$destdir/etc/php/$phpver/mods-available/polyrpc.ini"
  fi
else
  ini="none written: add extension=polyrpc.so to php.ini"
fi
libdir=$destdir/usr/share/php/PolyRPC
rm -rf "$libdir"
mkdir -p "$libdir"
cp -r bindings/php/src/. "$libdir/"
cp bindings/php/autoload.php "$libdir/autoload.php"
echo "build.sh: installed libpolyrpc into $destdir$lib_prefix, polyrpc.so into $destdir$extdir, ini: $ini,"
echo "          the PHP library into $libdir (require 'PolyRPC/autoload.php', or composer require polyrpc/polyrpc)"
