#!/usr/bin/env bash
# Runs schemathesis against the OpenAPI document of a freshly started server: no 5xx, and every
# answer must match the documented status codes, content types and schemas.
# Usage: .ci/schemathesis.sh PATH_TO_FERROBASE_BINARY
set -euo pipefail
binary=$1
venv=${FERROBASE_VENV:-/var/tmp/ferrobase-venv}
[ -x "$venv/bin/st" ] || { echo "schemathesis is not installed in $venv (.ci/run installs it)"; exit 1; }

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# A studio provider that is not there: generations are taken (202) and then fail and return
# their credit, instead of every order answering 503 `generation_not_configured`.
FERROBASE_BIND=127.0.0.1:$port FERROBASE_DATA_DIR=$data FERROBASE_LOG_LEVEL=warn \
  FERROBASE_STUDIO__PROVIDER_URL=http://127.0.0.1:9 "$binary" serve > "$data/server.log" 2>&1 &
server=$!
cleanup() { kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "$base/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/health/ready" >/dev/null

token=$(curl -fsS -H 'content-type: application/json' \
  -d '{"email":"schemathesis@example.com","password":"schemathesis password","name":"Schemathesis"}' \
  "$base/api/v1/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Operations that would end the fuzzer's own session are covered by the API suite instead.
fuzz() {
  "$venv/bin/st" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path-regex '^/api/v1/auth/(logout|logout-all|password/change)$' \
    --exclude-name 'DELETE /api/v1/users/me' \
    --phases examples,coverage,fuzzing \
    --max-examples 25 \
    --workers 2 \
    --max-time 120 \
    --warnings off 2>&1 | tee "$data/st.log"
  return "${PIPESTATUS[0]}"
}
# One retry, only when the tool itself crashed (a CPython/hypothesis internal error seen on this
# machine: "AST constructor recursion depth mismatch") and it found no failure of our API.
if ! fuzz; then
  if grep -q 'AST constructor recursion depth mismatch' "$data/st.log" && ! grep -qE 'FAILURES|Failures:' "$data/st.log"; then
    echo "schemathesis crashed internally (not a finding); running it once more"
    fuzz
  else
    exit 1
  fi
fi
if grep -q 'panicked' "$data/server.log"; then
  echo "the server panicked during schemathesis:"; cat "$data/server.log"; exit 1
fi
