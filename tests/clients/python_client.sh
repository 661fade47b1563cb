#!/usr/bin/env bash
# Starts dkd against the test engine and runs the Python client against it.
# usage: python_client.sh DKD_BINARY PROTO_DIR
set -euo pipefail
dkd=$1 proto=$2
dir=$(mktemp -d /tmp/dkdpy.XXXXXX)
engine=${DKD_TEST_ENGINE:-${DOCKER_HOST:-unix:///var/run/docker.sock}}
"$dkd" --engine "$engine" --unix-socket "$dir/s" --tcp 127.0.0.1:0 --port-file "$dir/port" \
  >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 200); do [ -s "$dir/port" ] && break; sleep 0.05; done
[ -s "$dir/port" ] || { cat "$dir/log"; echo "dkd did not start"; exit 1; }
py=/usr/bin/python3; [ -x "$py" ] || py=python3
# Loopback TCP needs dkd's local token (created next to the socket).
DKD_TOKEN_FILE="$dir/local-token" "$py" "$(dirname "$0")/python_client.py" "$proto" \
  "127.0.0.1:$(cat "$dir/port")"
