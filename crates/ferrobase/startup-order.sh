#!/usr/bin/env bash
# Regenerates startup.order, the list of functions the release linker places first in the
# binary's code (see build.rs and docs/decisions.md, "Code layout").
#
#   crates/ferrobase/startup-order.sh [RELEASE_BINARY]
#
# It runs the release build under valgrind's callgrind (Debian package `valgrind`) with a clean
# environment in an empty directory: start-up, the readiness probe, then what a first client
# does (register, list the public rooms, join one); and lists every function that ran (in the
# order callgrind names them), keeping the names the binary defines. Run it from the project
# root after changes to start-up or to those first requests, and after a toolchain or
# dependency update (symbol names change with them), then rebuild: names that no longer exist
# are ignored by the linker, so a stale list costs memory, never correctness. Give it a binary
# built with `cargo build --release -p ferrobase` alone (another package in the same build,
# such as bench, unifies other features into the dependencies and renames their functions).
set -euo pipefail
bin=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
if [ -z "$bin" ]; then
  cargo build -q --release -p ferrobase
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/ferrobase"
fi
out=$PWD/crates/ferrobase/startup.order
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" FERROBASE_BIND="127.0.0.1:$port" FERROBASE_DATA_DIR="$work/data" \
  FERROBASE_LOG_LEVEL=warn FERROBASE_PUBLIC_URL="$url" \
  valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" "$bin" serve) \
  >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  curl -sf "$url/health/ready" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; echo "the server stopped before it was ready"; exit 1; }
  sleep 0.2
done
curl -sf "$url/health/ready" >/dev/null || { echo "the server did not become ready under valgrind"; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
token=$(curl -sf -X POST "$url/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"order@example.org","password":"correct horse battery","name":"Order"}' | json 'd["access_token"]')
room=$(curl -sf -H "Authorization: Bearer $token" "$url/api/v1/chat/rooms?scope=public" |
  json '[r for r in d["items"] if r["name"] == "General"][0]["id"]')
curl -sf -X POST -H "Authorization: Bearer $token" "$url/api/v1/chat/rooms/$room/join" >/dev/null
kill -INT "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid" 2>/dev/null && { echo "the server did not stop within a minute"; exit 1; }
pid=
# callgrind names each function once, `fn=(N) name`, and refers to it later as `(N)`.
nm "$bin" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u > "$work/defined"
[ -s "$work/defined" ] || { echo "$bin has no symbols (stripped?)"; exit 1; }
sed -nE 's/^c?fn=\([0-9]+\) (.+)$/\1/p' "$work/callgrind.out" | awk '!seen[$0]++' |
  awk 'NR == FNR { defined[$0] = 1; next } defined[$0]' "$work/defined" - > "$work/order"
count=$(wc -l < "$work/order")
[ "$count" -ge 1000 ] || { echo "only $count functions found: the list is left as it was"; exit 1; }
mv "$work/order" "$out"
echo "crates/ferrobase/startup.order: $count functions"
