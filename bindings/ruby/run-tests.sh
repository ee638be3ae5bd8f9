#!/usr/bin/env bash
# Runs the Ruby binding's minitest suite (rake test) against the gem that
# scripts/install-ruby.sh installed into the build tree, with that tree's Ruby environment
# ($BUILD/ruby/bin/ruby). Usage: bindings/ruby/run-tests.sh [LOG_DIR] [rake args...]
# Prints "ruby: N passed" for the test command's count; the log is LOG_DIR/minitest.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/env.sh
log_dir=${1:-$BUILD/test-logs}
shift || true
mkdir -p "$log_dir"
RUBY=$BUILD/ruby/bin/ruby
if [ ! -x "$RUBY" ]; then
  echo "run-tests: $RUBY missing: run scripts/install-ruby.sh first" >&2
  exit 1
fi
export POLYRPC_CERT_DIR=$BUILD/certs POLYRPC_EXPECT_GEM_DIR=$BUILD/ruby/gems
"$RUBY" -S rake -f bindings/ruby/Rakefile test TESTOPTS="-v" "$@" 2>&1 | tee "$log_dir/minitest.log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ runs, ' "$log_dir/minitest.log" | tail -1)
runs=$(sed -E 's/^([0-9]+) runs.*/\1/' <<<"$summary")
bad=$(sed -E 's/.* ([0-9]+) failures, ([0-9]+) errors, ([0-9]+) skips.*/\1 \2 \3/' <<<"$summary")
read -r failures errors skips <<<"$bad"
if [ -z "$summary" ] || [ "${runs:-0}" -eq 0 ]; then
  echo "run-tests: no test ran" >&2
  exit 1
fi
# A skipped test is a test that did not run: none are expected.
if [ "$skips" != 0 ]; then
  echo "run-tests: $skips tests were skipped" >&2
  rc=1
fi
echo "ruby: $((runs - failures - errors - skips)) passed, $failures failed, $errors errors" |
  tee -a "$log_dir/minitest.log"
exit $rc
