# shellcheck shell=bash
# Helpers shared by the benchmarks in bench/: sourced, not run.
#
# Processes, ports and temporary files: `start NAME COMMAND…` runs a process in the background with its
# output in $WORK/NAME.log, and every process started that way is stopped on exit, even on failure or
# Ctrl-C; `at_exit COMMAND` adds a command to run after they are stopped. `free_port` and `wait_for` do
# what they say.
#
# Loads: `load URL PID THREADS CONNECTIONS [wrk options…]` runs wrk and prints one line,
# "requests/s MB/s errors p50_µs peak_MiB", the last being the peak resident memory of the server with
# that pid (and its children) during the load. `record` and `median` keep the values of several rounds.
#
# KEEP=1 keeps the temporary folder $WORK (the servers' logs) at exit.
#
# A script sourcing this file sets `set -euo pipefail` first.

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Dies unless every tool named is installed.
require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "$tool is required (scripts/install-test-deps.sh installs the benchmarks' tools)"
  done
}

WORK=$(mktemp -d)
chmod 711 "$WORK" # nginx workers may run as another user (nobody when started by root)
PIDS=()
AT_EXIT=()

# Stops a process: TERM, then KILL after 5 s.
stop_process() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid command
  for pid in "${PIDS[@]}"; do
    stop_process "$pid"
  done
  for command in "${AT_EXIT[@]}"; do
    eval "$command" || true
  done
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

at_exit() { AT_EXIT+=("$1"); }

# Runs a command in the background, output to $WORK/NAME.log; its pid is in $STARTED_PID.
start() {
  local name=$1
  shift
  "$@" >>"$WORK/$name.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 30 s) until a URL answers with a success.
wait_for() {
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "$1 did not answer within 30 s"
}

# POSTs JSON to packyard's GitLab API: `api_post BASE TOKEN PATH BODY` prints the new object's id, and dies
# with the answer when it is not a success.
api_post() {
  local base=$1 token=$2 path=$3 body=$4 answer status
  answer=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST -H "PRIVATE-TOKEN: $token" \
    -H 'Content-Type: application/json' -d "$body" "$base/api/v4/$path")
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  case $status in
    2??) python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$answer" ;;
    *) die "POST $base/api/v4/$path answered $status: $answer" ;;
  esac
}

# The sha1 or sha256 of a file, or of stdin.
sha1_of() { sha1sum "$@" | cut -d' ' -f1; }
sha256_of() { sha256sum "$@" | cut -d' ' -f1; }

# --- memory ------------------------------------------------------------------------------------------
# A server's processes: the pid and its children (nginx workers).
server_pids() { echo "$1"; pgrep -P "$1" || true; }

# Resets the peak resident memory (VmHWM) of a server's processes (Linux >= 4.0).
reset_peak() {
  local pid
  for pid in $(server_pids "$1"); do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done
}

# A /proc/PID/status field (VmRSS, VmHWM) summed over a server's processes, in MiB.
memory_mib() {
  local pid
  for pid in $(server_pids "$1"); do cat "/proc/$pid/status"; done |
    awk -v field="$2:" '$1 == field { kib += $2 } END { printf "%.1f", kib / 1024 }'
}

# --- loads -------------------------------------------------------------------------------------------
cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.bytes, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, math.floor(latency:percentile(50))))
end
LUA

# Runs wrk for DURATION against a URL, with the wrk options given (-H …); prints
# "requests/s MB/s errors p50_µs peak_MiB" (errors: socket errors and non-2xx answers; 1 MB = 10^6 bytes,
# response headers included) for the server with that pid.
load() {
  local url=$1 pid=$2 threads=$3 connections=$4 result requests bytes micros errors non2xx p50 peak
  shift 4
  reset_peak "$pid"
  result=$(wrk -t"$threads" -c"$connections" -d"$DURATION" --timeout 120s --latency \
    -s "$WORK/report.lua" "$@" "$url" | awk '/^RESULT / { print $2, $3, $4, $5, $6, $7 }')
  [ -n "$result" ] || die "wrk printed no result for $url"
  read -r requests bytes micros errors non2xx p50 <<<"$result"
  peak=$(memory_mib "$pid" VmHWM)
  if [ "$((errors + non2xx))" -gt 0 ]; then
    log "warning: $url: $errors socket errors, $non2xx non-2xx answers"
  fi
  awk -v r="$requests" -v b="$bytes" -v us="$micros" -v e="$((errors + non2xx))" -v p50="$p50" \
    -v peak="$peak" 'BEGIN { printf "%.1f %.1f %d %d %s\n", r / (us / 1e6), b / us, e, p50, peak }'
}

# Keeps one value of a measure (one line per round).
record() {
  mkdir -p "$WORK/results"
  echo "$2" >>"$WORK/results/$1"
}

# The median of a measure's values, or "-" when it has none.
median() {
  [ -s "$WORK/results/$1" ] || { echo -; return; }
  sort -g "$WORK/results/$1" |
    awk '{ v[NR] = $1 }
      END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf (m >= 10 ? "%.1f\n" : "%.3f\n"), m }'
}

# The sum of a measure's values (error counts), or "-".
total() {
  [ -s "$WORK/results/$1" ] || { echo -; return; }
  awk '{ s += $1 } END { print s }' "$WORK/results/$1"
}

# The largest of a measure's values, or "-".
maximum() {
  [ -s "$WORK/results/$1" ] || { echo -; return; }
  sort -g "$WORK/results/$1" | tail -1
}
