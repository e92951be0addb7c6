#!/usr/bin/env bash
# Cached Maven downloads through packyard, beside the static file servers a user could run instead.
#
#   bench/maven-download.sh
#
# Builds the release binary, serves a 1 KiB and a 32 MiB jar from a fake upstream (python3 -m http.server),
# puts packyard in front of it as a Maven virtual registry, warms the cache, then loads each file with wrk
# through packyard and, as the baseline of the same run, straight from the static server (and from nginx
# when it is installed). Loopback only; each load lasts DURATION (10s). Prints a markdown table on stdout;
# progress goes to stderr.
#
# Environment: DURATION (10s), THREADS (2), CONNECTIONS (16), RUST_LOG for packyard (warn: no request log).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
export RUST_LOG=${RUST_LOG:-warn}

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

for tool in cargo curl python3 wrk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required (wrk: scripts/install-test-deps.sh installs it)"
done

log "building the release binary"
cargo build --release -p packyard >&2
BIN=${CARGO_TARGET_DIR:-target}/release/packyard
[ -x "$BIN" ] || die "$BIN not found after the build"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 30 s) until a URL answers at all.
wait_for() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "$1 did not answer within 30 s"
}

# --- the fake upstream: a Maven layout with a 1 KiB and a 32 MiB jar -----------------------------------
TINY=org/bench/tiny/1.0/tiny-1.0.jar
BIG=org/bench/big/1.0/big-1.0.jar
mkdir -p "$WORK/upstream/$(dirname "$TINY")" "$WORK/upstream/$(dirname "$BIG")"
head -c 1024 /dev/urandom >"$WORK/upstream/$TINY"
head -c $((32 * 1024 * 1024)) /dev/urandom >"$WORK/upstream/$BIG"

UPSTREAM_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/upstream" "$UPSTREAM_PORT" \
  >"$WORK/upstream.log" 2>&1 &
PYTHON_PID=$!
PIDS+=("$PYTHON_PID")
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT
wait_for "$UPSTREAM/$TINY"

# --- packyard ----------------------------------------------------------------------------------------
PORT=$(free_port)
export PACKYARD__SERVER__LISTEN=127.0.0.1:$PORT
export PACKYARD__SERVER__DATA_DIR=$WORK/data
export PACKYARD__UPSTREAM__ALLOW_LOCAL_NETWORK=true
TOKEN=$("$BIN" admin bootstrap --username admin 2>>"$WORK/packyard.log")
"$BIN" serve >>"$WORK/packyard.log" 2>&1 &
PACKYARD_PID=$!
PIDS+=("$PACKYARD_PID")
BASE=http://127.0.0.1:$PORT
wait_for "$BASE/-/readiness"

# POSTs JSON to the GitLab API and prints the new object's id; shows the answer when it is not a success.
create() {
  local url=$1 body=$2 answer status
  answer=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST -H "PRIVATE-TOKEN: $TOKEN" \
    -H 'Content-Type: application/json' -d "$body" "$BASE/api/v4/$url")
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  case $status in
    2??) python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$answer" ;;
    *) die "POST /api/v4/$url answered $status: $answer" ;;
  esac
}

log "creating a group, a Maven virtual registry and its upstream"
GROUP_ID=$(create groups '{"name":"bench","path":"bench"}')
REGISTRY_ID=$(create "groups/$GROUP_ID/-/virtual_registries/packages/maven/registries" '{"name":"bench"}')
create "virtual_registries/packages/maven/registries/$REGISTRY_ID/upstreams" \
  "{\"url\":\"$UPSTREAM\",\"name\":\"fake upstream\"}" >/dev/null
MAVEN=$BASE/api/v4/virtual_registries/packages/maven/$REGISTRY_ID

log "warming the cache"
for file in "$TINY" "$BIG"; do
  expected=$(sha1sum <"$WORK/upstream/$file" | cut -d' ' -f1)
  got=$(curl -fsS --max-time 60 -H "PRIVATE-TOKEN: $TOKEN" "$MAVEN/$file" | sha1sum | cut -d' ' -f1)
  [ "$got" = "$expected" ] || die "$file came through packyard with sha1 $got, expected $expected"
  # The entry is committed once the fill completes; a cache hit carries x-checksum-sha1.
  for _ in $(seq 1 100); do
    curl -fsS --max-time 60 -o /dev/null -D "$WORK/headers" -H "PRIVATE-TOKEN: $TOKEN" "$MAVEN/$file"
    grep -qi "^x-checksum-sha1: $expected" "$WORK/headers" && continue 2
    sleep 0.1
  done
  die "$file was not served from the cache after warming"
done

# --- nginx (optional peer) ---------------------------------------------------------------------------
NGINX=
if command -v nginx >/dev/null 2>&1; then
  NGINX_PORT=$(free_port)
  mkdir -p "$WORK/nginx/logs"
  chmod 711 "$WORK"   # nginx workers may run as another user (nobody when started by root)
  cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  types { application/java-archive jar; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/upstream;
  }
}
CONF
  nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/logs/stderr.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX=http://127.0.0.1:$NGINX_PORT
  wait_for "$NGINX/$TINY"
fi

# --- load --------------------------------------------------------------------------------------------
cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.bytes, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

# A server's processes: the pid and its children (nginx workers).
server_pids() { echo "$1"; pgrep -P "$1" || true; }
# Resets the peak resident memory (VmHWM) of a server's processes (Linux >= 4.0).
reset_peak() {
  local p
  for p in $(server_pids "$1"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
}
# The summed VmHWM of a server's processes, in MiB.
peak_mib() {
  local p
  for p in $(server_pids "$1"); do cat "/proc/$p/status"; done |
    awk '/^VmHWM:/ { kib += $2 } END { printf "%.1f", kib / 1024 }'
}

# Runs wrk against a URL; prints "requests/s MB/s errors peak_rss_mib" for the server with that pid.
load() {
  local url=$1 pid=$2 result requests bytes micros errors non2xx peak
  reset_peak "$pid"
  result=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 30s -s "$WORK/report.lua" \
    -H "PRIVATE-TOKEN: $TOKEN" "$url" | awk '/^RESULT / { print $2, $3, $4, $5, $6 }')
  [ -n "$result" ] || die "wrk printed no result for $url"
  read -r requests bytes micros errors non2xx <<<"$result"
  peak=$(peak_mib "$pid")
  awk -v r="$requests" -v b="$bytes" -v us="$micros" -v e="$((errors + non2xx))" -v p="$peak" \
    'BEGIN { printf "%.1f %.1f %d %s\n", r / (us / 1e6), b / us, e, p }'
}

ROWS=()
run_case() {
  local label=$1 file=$2 packyard baseline server url pid name rps
  log "loading $label through packyard"
  packyard=$(load "$MAVEN/$file" "$PACKYARD_PID")
  read -r rps _ <<<"$packyard"
  ROWS+=("| $label | packyard | $(row "$packyard" -) |")
  for server in python nginx; do
    case $server in
      python) url=$UPSTREAM/$file pid=$PYTHON_PID name="python3 -m http.server" ;;
      nginx) [ -n "$NGINX" ] || continue; url=$NGINX/$file pid=$NGINX_PID name=nginx ;;
    esac
    log "loading $label from $server"
    baseline=$(load "$url" "$pid")
    ROWS+=("| $label | $name | $(row "$baseline" "$rps") |")
  done
}

# One table row's cells from "rps mbps errors peak"; the ratio is packyard's requests/s over this row's.
row() {
  local rps mbps errors peak ratio=—
  read -r rps mbps errors peak <<<"$1"
  if [ "$2" != - ]; then ratio=$(awk -v p="$2" -v r="$rps" 'BEGIN { printf "%.2f", p / r }'); fi
  echo "$rps | $mbps | $ratio | $errors | $peak"
}

versions_of_peers() {
  if [ -n "$NGINX" ]; then printf '; %s' "$(nginx -v 2>&1 | sed 's/^nginx version: //')"; fi
  printf '; %s' "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
}

run_case "1 KiB jar" "$TINY"
run_case "32 MiB jar" "$BIG"

cat <<TABLE
Cached Maven downloads, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, loopback.
$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); \
Linux $(uname -r); $("$BIN" --version); $(python3 --version)$(versions_of_peers).

| file | server | requests/s | MB/s | packyard ÷ this | errors | peak RSS MiB |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${ROWS[@]}")
TABLE
