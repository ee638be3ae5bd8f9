#!/usr/bin/env bash
# The PHP binding's tests: builds the extension and the generated classes into the build tree
# (bindings/php/build.sh), then runs PHPUnit (Debian's phpunit) under php -n with that
# extension (bindings/php/php.sh): nothing installed on the machine is used, no php.ini read.
#   bindings/php/test.sh [phpunit arguments]     e.g. --filter ClientTest
#   POLYRPC_PHP_MEMORY_CALLS=N                   calls per kind in MemoryTest (default 20000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source scripts/env.sh
export POLYRPC_BUILD_DIR=$BUILD
bash bindings/php/build.sh
PHPUNIT=${PHPUNIT:-$(command -v phpunit)}
mkdir -p "$BUILD/test-logs"
exec bindings/php/php.sh "$PHPUNIT" -c bindings/php/phpunit.xml --log-junit "$BUILD/test-logs/phpunit.xml" "$@"
