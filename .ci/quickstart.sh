#!/usr/bin/env bash
# Runs the README's quickstart (the shell between `<!-- quickstart -->` and `<!-- /quickstart -->`)
# as it is written, against a fresh server from BINARY in a new directory, and checks what it
# printed. usage: .ci/quickstart.sh BINARY
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "$1")
dir=$(mktemp -d)
python3 - "$root/README.md" > "$dir/quickstart.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("<!-- quickstart -->", 1)[1].split("<!-- /quickstart -->", 1)[0]
blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
assert blocks, "the README has no quickstart"
print("\n".join(blocks))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$dir"
FERROBASE_BIND="127.0.0.1:$port" FERROBASE_PUBLIC_URL="http://127.0.0.1:$port" FERROBASE_LOG_LEVEL=warn \
  "$binary" serve > server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/health/ready" > /dev/null || { cat server.log; echo "the server did not start"; exit 1; }
# The binary is `ferrobase` on the PATH (the quickstart falls back to cargo run without one);
# the files the steps write land in a temporary directory under $dir/scratch.
[ "$(basename "$binary")" = ferrobase ] || { echo "the binary must be named ferrobase"; exit 1; }
mkdir scratch
if ! BASE="http://127.0.0.1:$port" PATH="$(dirname "$binary"):$PATH" TMPDIR="$dir/scratch" \
  timeout 300 bash -euo pipefail quickstart.sh > out.log 2>&1; then
  cat out.log; echo "--- server log"; tail -20 server.log; echo "the README's quickstart failed"; exit 1
fi
for expected in '"email_verified": true' '"Hello, @Ada!"' 'gateway: chat.message.created Live!' \
  'socket.io: task:created Live task' '/ticket.svg' 'INV-00001' 'invoice.pdf written' '"Neon portrait"'; do
  grep -qF -- "$expected" out.log || { cat out.log; echo "the quickstart did not print $expected"; exit 1; }
done
head -c 5 scratch/*/invoice.pdf | grep -q '%PDF-' || { echo "invoice.pdf is not a PDF"; exit 1; }
grep -q '<svg' scratch/*/ticket.svg || { echo "ticket.svg is not an SVG"; exit 1; }
[ ! -e ada.json ] || { echo "the quickstart wrote into the server's directory"; exit 1; }
echo "README quickstart: every step ran ($(grep -c . quickstart.sh) lines)"
