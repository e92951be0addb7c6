#!/usr/bin/env bash
# The cache-entries list of one upstream holding 100k live entries, on SQLite and on PostgreSQL.
#
#   bench/cache-entries.sh
#
# Builds the release binary (or takes BIN), and for each backend: starts packyard on an empty database,
# creates a group, a Maven virtual registry and one upstream through the GitLab API, inserts ENTRIES live
# cache entries of that upstream straight into the database (one INSERT, the same for both backends), then
# times GET /api/v4/virtual_registries/packages/maven/upstreams/:id/cache_entries for the first page, a
# search, a middle page and the last page, over one kept-alive connection. Prints a markdown table with the
# median (p50) and p90 of REQUESTS timed requests per case on stdout; progress goes to stderr.
#
# Environment: BIN (default: build and use target/release/packyard), ENTRIES (100000), REQUESTS (50),
# PER_PAGE (20), BACKENDS ("sqlite postgres"), POSTGRES_URL (postgres://postgres@127.0.0.1:5432, a server
# where this user may create databases; a database packyard_bench_<pid> is created and dropped).
# Needs curl, python3, sqlite3 and psql.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

ENTRIES=${ENTRIES:-100000}
REQUESTS=${REQUESTS:-50}
PER_PAGE=${PER_PAGE:-20}
BACKENDS=${BACKENDS:-sqlite postgres}
POSTGRES_URL=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
export RUST_LOG=${RUST_LOG:-warn}

require curl python3 sqlite3 psql

if [ -z "${BIN:-}" ]; then
  log "building the release binary"
  cargo build --release -p packyard >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/packyard
fi
[ -x "$BIN" ] || die "$BIN not found"

DATABASE=packyard_bench_$$
at_exit "psql -q '$POSTGRES_URL/postgres' -c 'DROP DATABASE IF EXISTS $DATABASE' >/dev/null 2>&1"

# POSTs JSON to the GitLab API and prints the new object's id.
create() { api_post "$BASE" "$TOKEN" "$1" "$2"; }

# ENTRIES live entries of one upstream, oldest first, in Maven layout: 1000 artifacts
# (org/bench/lib<n>) of 1.0 to 1.<ENTRIES/1000> each, all on one blob. Portable SQL: it runs as is on
# both backends, and the database's own triggers keep whatever they keep.
fill_sql() {
  local group=$1 upstream=$2
  cat <<SQL
INSERT INTO blobs (sha256, size, created_at) VALUES ('bench', 1, '2026-01-01 00:00:00');
INSERT INTO cache_entries (group_id, upstream_id, relative_path, blob_sha256, size, file_sha1, content_type,
    upstream_checked_at, downloads_count, downloaded_at, status, created_at, updated_at)
WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $ENTRIES - 1)
SELECT $group, $upstream,
    'org/bench/lib' || CAST(i % 1000 AS TEXT) || '/1.' || CAST(i / 1000 AS TEXT) || '/lib'
        || CAST(i % 1000 AS TEXT) || '-1.' || CAST(i / 1000 AS TEXT) || '.jar',
    'bench', 1, 'da39a3ee5e6b4b0d3255bfef95601890afd80709', 'application/java-archive',
    '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00'
FROM n;
SQL
}

# Times GETs of each case over one kept-alive connection; prints "case|p50|p90|x-total" lines.
measure() {
  python3 - "$BASE" "$TOKEN" "$REQUESTS" "$@" <<'PY'
import http.client, sys, time, urllib.parse
base, token, requests, cases = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
host = urllib.parse.urlsplit(base).netloc
conn = http.client.HTTPConnection(host, timeout=60)
for case in cases:
    name, path = case.split("=", 1)
    times, total = [], None
    for i in range(requests + 5):
        start = time.perf_counter()
        conn.request("GET", path, headers={"PRIVATE-TOKEN": token})
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            sys.exit(f"{path} answered {response.status}")
        total = response.getheader("x-total")
        if i >= 5:  # the first requests warm caches and prepared statements
            times.append(elapsed * 1000)
    times.sort()
    p50 = times[len(times) // 2]
    p90 = times[min(len(times) - 1, (len(times) * 9) // 10)]
    print(f"{name}|{p50:.1f}|{p90:.1f}|{total}")
PY
}

ROWS=()
for backend in $BACKENDS; do
  DATA=$WORK/$backend
  mkdir -p "$DATA"
  export PACKYARD__SERVER__DATA_DIR=$DATA
  export PACKYARD__UPSTREAM__ALLOW_LOCAL_NETWORK=true
  case $backend in
    sqlite)
      unset PACKYARD__DATABASE__URL
      run_sql() { sqlite3 "$DATA/packyard.db"; }
      ;;
    postgres)
      psql -q "$POSTGRES_URL/postgres" -c "CREATE DATABASE $DATABASE" >/dev/null
      export PACKYARD__DATABASE__URL=$POSTGRES_URL/$DATABASE
      run_sql() { psql -q -v ON_ERROR_STOP=1 "$POSTGRES_URL/$DATABASE" >/dev/null; }
      ;;
    *) die "unknown backend $backend" ;;
  esac
  PORT=$(free_port)
  export PACKYARD__SERVER__LISTEN=127.0.0.1:$PORT
  TOKEN=$("$BIN" admin bootstrap --username admin 2>>"$WORK/packyard.log")
  start packyard "$BIN" serve
  PID=$STARTED_PID
  BASE=http://127.0.0.1:$PORT
  wait_for "$BASE/-/readiness"

  log "$backend: creating a group, a Maven virtual registry and its upstream"
  GROUP_ID=$(create groups '{"name":"bench","path":"bench"}')
  REGISTRY_ID=$(create "groups/$GROUP_ID/-/virtual_registries/packages/maven/registries" '{"name":"bench"}')
  UPSTREAM_ID=$(create "virtual_registries/packages/maven/registries/$REGISTRY_ID/upstreams" \
    '{"url":"http://127.0.0.1:1","name":"bench"}')

  log "$backend: inserting $ENTRIES entries"
  started=$(date +%s.%N)
  fill_sql "$GROUP_ID" "$UPSTREAM_ID" | run_sql
  if [ "$backend" = postgres ]; then
    # What autovacuum does after a bulk insert, here at once so that runs compare.
    echo 'VACUUM ANALYZE;' | run_sql
  fi
  log "$backend: inserted in $(python3 -c "import time; print(round(time.time() - $started, 1))") s"

  LIST=/api/v4/virtual_registries/packages/maven/upstreams/$UPSTREAM_ID/cache_entries
  LAST=$(((ENTRIES + PER_PAGE - 1) / PER_PAGE))
  MIDDLE=$(((LAST + 1) / 2))
  log "$backend: timing"
  while IFS='|' read -r name p50 p90 total; do
    ROWS+=("| $backend | $name | $p50 | $p90 | $total |")
  done < <(measure \
    "first page=$LIST?page=1&per_page=$PER_PAGE" \
    "search lib424/=$LIST?search=lib424%2F&per_page=$PER_PAGE" \
    "middle page ($MIDDLE)=$LIST?page=$MIDDLE&per_page=$PER_PAGE" \
    "last page ($LAST)=$LIST?page=$LAST&per_page=$PER_PAGE")

  stop_process "$PID"
done

cat <<TABLE
Cache-entries list of one upstream with $ENTRIES live entries, per_page=$PER_PAGE, $REQUESTS timed requests per case.
$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); \
Linux $(uname -r); $("$BIN" --version); SQLite $(sqlite3 --version | cut -d' ' -f1) (CLI); \
$(psql -At "$POSTGRES_URL/postgres" -c 'SHOW server_version' 2>/dev/null | sed 's/^/PostgreSQL /').

| backend | request | p50 ms | p90 ms | x-total |
| --- | --- | ---: | ---: | ---: |
$(printf '%s\n' "${ROWS[@]}")
TABLE
