#!/usr/bin/env bash
# Builds the packyard container image and proves it works: makes a minimal Debian base image offline with
# debootstrap (no registry needed), copies the release binary into the build context, builds
# packaging/Containerfile with podman, starts the image on a fresh volume, and checks that it becomes ready
# and healthy, runs as its own user, answers an authenticated API call with the token of an administrator
# created by `packyard admin bootstrap`, and keeps its data across a restart.
#
#   cargo build --release -p packyard
#   packaging/build-image.sh [BINARY]          # BINARY defaults to target/release/packyard
#
# Needs root (or rootless podman), podman, curl, and debootstrap when the base image is missing.
# Environment:
#   PACKYARD_IMAGE   image to build (localhost/packyard:latest)
#   BASE_IMAGE       base image to build or reuse (localhost/packyard-base:bookworm)
#   REBUILD_BASE=1   rebuild the base image even when it exists
#   DEBIAN_SUITE     Debian release of the base (bookworm); build the binary on the same or an older one
#   DEBIAN_MIRROR    where debootstrap downloads from (http://deb.debian.org/debian)
#   KEEP=1           leave the checked container and its volume running
#   PODMAN_RUNTIME   OCI runtime for podman (its default, usually crun); crun refuses hybrid cgroup
#                    hierarchies ("cgroups in hybrid mode not supported"): PODMAN_RUNTIME=runc
#   PODMAN_OPTS      extra options for `podman build` and `podman run`; a sandbox without
#                    CAP_SYS_RESOURCE can't raise the limits podman sets by default ("setrlimit ...
#                    operation not permitted"): PODMAN_OPTS="--ulimit nofile=20000:20000 --ulimit nproc=4096:4096"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

binary=${1:-target/release/packyard}
image=${PACKYARD_IMAGE:-localhost/packyard:latest}
base=${BASE_IMAGE:-localhost/packyard-base:bookworm}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
name=packyard-check-$$
read -r -a podman_opts <<<"${PODMAN_OPTS:-}"
podman() { command podman ${PODMAN_RUNTIME:+--runtime "$PODMAN_RUNTIME"} "$@"; }

step() { printf '\n==> %s\n' "$*"; }
fail() {
  printf 'build-image.sh: %s\n' "$*" >&2
  exit 1
}

[ -x "$binary" ] || fail "no binary at $binary: run cargo build --release -p packyard, or pass its path"
command -v podman >/dev/null || fail "podman is not installed (apt-get install podman)"
command -v curl >/dev/null || fail "curl is not installed"

work=$(mktemp -d)
cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    podman volume rm -f "$name-data" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "base image $base"
if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$base"; then
  command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
  # The libraries the binary links besides glibc (ldd shows them: OpenSSL, SQLite), and the CA
  # certificates it verifies HTTPS upstreams with.
  debootstrap --variant=minbase --include=ca-certificates,libssl3,libsqlite3-0 "$suite" "$work/rootfs" "$mirror"
  # What a server never reads at run time.
  rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin \
    "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/usr/share/doc/* \
    "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/info/* "$work"/rootfs/usr/share/locale/* \
    "$work"/rootfs/var/log/*.log "$work"/rootfs/var/log/apt/*
  tar -C "$work/rootfs" --numeric-owner -c . | podman import --change 'CMD ["/bin/bash"]' - "$base"
  rm -rf "$work/rootfs"
else
  echo "reusing it (REBUILD_BASE=1 rebuilds it)"
fi

step "libraries the binary needs"
ldd "$binary"

step "image $image"
mkdir "$work/context"
cp "$binary" "$work/context/packyard"
cp packaging/healthcheck "$work/context/healthcheck"
podman build "${podman_opts[@]}" --format docker --build-arg "BASE=$base" -t "$image" -f packaging/Containerfile "$work/context"
podman run "${podman_opts[@]}" --rm "$image" --version
printf 'image size: %s MB\n' "$(($(podman image inspect --format '{{.Size}}' "$image") / 1000000))"

step "start it on a fresh volume"
podman volume create "$name-data" >/dev/null
podman run "${podman_opts[@]}" -d --name "$name" -p 127.0.0.1::8080 -v "$name-data:/var/lib/packyard" "$image" >/dev/null
base_url="http://$(podman port "$name" 8080/tcp | head -1)"
echo "listening at $base_url"

wait_ready() {
  for _ in $(seq 1 100); do
    if curl -fsS "$base_url/-/readiness" 2>/dev/null; then
      echo
      return 0
    fi
    sleep 0.3
  done
  podman logs "$name" >&2
  fail "$base_url/-/readiness did not answer 200"
}
step "readiness"
wait_ready
curl -fsS "$base_url/-/health"
echo

step "health check (HEALTHCHECK of the image)"
podman healthcheck run "$name" && echo healthy

step "runs as"
uid=$(podman exec "$name" id -u)
podman exec "$name" id
[ "$uid" != 0 ] || fail "the server runs as root"

step "first administrator (packyard admin bootstrap in the container)"
token=$(podman exec "$name" packyard admin bootstrap --username admin)
[ -n "$token" ] || fail "no token printed"
echo "token: ${token:0:6}… (${#token} characters)"

api="$base_url/api/v4"
step "authenticated API call"
status=$(curl -sS -o /dev/null -w '%{http_code}' "$api/groups")
echo "GET /api/v4/groups without a token: $status"
[ "$status" = 401 ] || fail "expected 401 without a token, got $status"
curl -fsS -H "PRIVATE-TOKEN: $token" -H "Content-Type: application/json" -X POST "$api/groups" \
  -d '{"name": "Platform", "path": "platform"}'
echo
groups=$(curl -fsS -H "PRIVATE-TOKEN: $token" "$api/groups")
echo "GET /api/v4/groups: $groups"
[[ $groups == *'"path":"platform"'* ]] || fail "the group is not listed"

step "restart: the data volume keeps the database, the token and the secret key"
podman stop -t 130 "$name" >/dev/null
podman start "$name" >/dev/null
base_url="http://$(podman port "$name" 8080/tcp | head -1)"
api="$base_url/api/v4"
wait_ready
curl -fsS -H "PRIVATE-TOKEN: $token" "$api/groups" | grep -q '"path":"platform"' \
  || fail "the group or the token did not survive a restart"
podman exec "$name" ls -l /var/lib/packyard

step "image $image works"
