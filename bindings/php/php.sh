#!/usr/bin/env bash
# Runs PHP with the polyrpc extension of the build tree and no php.ini (-n): the same PHP for
# every test, whatever the machine's configuration says. Loads the Debian extensions that
# php-google-protobuf (ctype) and PHPUnit (dom, mbstring, xml, xmlwriter, tokenizer) need.
#   bindings/php/php.sh script.php ...       (POLYRPC_PHP_EXT: another polyrpc.so)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${POLYRPC_BUILD_DIR:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SO=${POLYRPC_PHP_EXT:-$BUILD/bindings/php/ext/modules/polyrpc.so}
if [ ! -f "$SO" ]; then
  echo "php.sh: $SO missing: run bindings/php/build.sh" >&2
  exit 1
fi
PHP=${PHP:-$(command -v php8.2 || command -v php)}
args=(-n)
extdir=$("$PHP" -n -r 'echo ini_get("extension_dir");')
for e in ctype dom mbstring xml xmlwriter tokenizer posix; do
  [ -f "$extdir/$e.so" ] && args+=(-d "extension=$e")
done
exec "$PHP" "${args[@]}" -d "extension=$SO" -d memory_limit=512M "$@"
