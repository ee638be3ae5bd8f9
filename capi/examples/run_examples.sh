#!/usr/bin/env bash
# CTest driver of the examples: starts example_server on a free port for two calls, runs
# example_client against it and checks both replies. Usage: run_examples.sh SERVER CLIENT
set -euo pipefail
server=$1
client=$2
out=$(mktemp)
trap 'rm -f "$out"; kill "$spid" 2>/dev/null || true' EXIT
"$server" 0 2 > "$out" &
spid=$!
for _ in $(seq 100); do
  grep -q "listening on port" "$out" && break
  sleep 0.05
done
port=$(sed -n 's/listening on port \([0-9]*\)/\1/p' "$out")
[ -n "$port" ] || { echo "server did not start"; exit 1; }
reply=$(timeout 20 "$client" "127.0.0.1:$port" polyrpc)
expected=$'hello, polyrpc\nhello, polyrpc'
[ "$reply" = "$expected" ] || { echo "unexpected reply: $reply"; exit 1; }
timeout 20 tail --pid="$spid" -f /dev/null  # the server exits after two calls
wait "$spid"
echo "ok: $reply"
