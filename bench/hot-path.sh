#!/usr/bin/env bash
# packyard's hot path beside nginx, in one run: every measure, packyard's number, nginx's number, the ratio
# and its target, as a markdown table on stdout (progress on stderr).
#
#   bench/hot-path.sh                                    # builds the release binary first
#   BIN=target/release/packyard bench/hot-path.sh        # uses this binary, no build
#
# On loopback, with the same files behind both servers: a fake Maven upstream (python3 -m http.server), a
# real OCI registry (docker-registry) and a few hosted files. packyard runs on SQLite, and a second
# instance on PostgreSQL (a fresh database, dropped at the end); nginx runs as a warm proxy_cache in front
# of the same upstreams and as a static file server. See docs/benchmarks.md for what each row measures.
#
# Environment: DURATION (10s) of each load; THREADS (2) and CONNECTIONS (16) of the loads with many
# connections; ROUNDS (1): rounds of every load, packyard and nginx alternating, medians reported;
# POSTGRES (1; 0 skips the PostgreSQL row) with PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres),
# who may create databases without a password; S3 (1; 0 skips the S3 rows): a third instance keeps its
# blobs in a Garage bucket on loopback (GARAGE, default /opt/packyard-test-garage/bin/garage, installed by
# scripts/install-test-deps.sh); BIN (none: build); RUST_LOG (warn: no request log);
# LOADS (all): the loads to run, a space-separated list of small, latency, big, hosted and container
# (for profiling one of them; rows of loads not run show "-").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-1}
POSTGRES=${POSTGRES:-1}
S3=${S3:-1}
GARAGE=${GARAGE:-/opt/packyard-test-garage/bin/garage}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export RUST_LOG=${RUST_LOG:-warn}
LOADS=${LOADS:-small latency big hosted container}
# True when the load named is among LOADS.
wanted() { [[ " $LOADS " == *" $1 "* ]]; }

require curl python3 wrk nginx docker-registry gzip tar
[ "$POSTGRES" = 0 ] || require createdb dropdb pg_isready
[ "$S3" = 0 ] || [ -x "$GARAGE" ] || die "$GARAGE not found (scripts/install-test-deps.sh builds it; S3=0 skips its rows)"

if [ -z "${BIN:-}" ]; then
  log "building the release binary"
  cargo build --release -p packyard >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/packyard
fi
[ -x "$BIN" ] || die "$BIN not found"
# A copy, so that a rebuild during the run changes nothing.
cp "$BIN" "$WORK/packyard"
BIN=$WORK/packyard

# --- the files ---------------------------------------------------------------------------------------
# Maven files in the fake upstream; hosted files and their copies for nginx in static/.
TINY=org/bench/tiny/1.0/tiny-1.0.jar
BIG32=org/bench/big32/1.0/big32-1.0.jar
BIG256=org/bench/big256/1.0/big256-1.0.jar
log "writing the files"
for file in "$TINY:1024" "$BIG32:$((32 << 20))" "$BIG256:$((256 << 20))"; do
  mkdir -p "$WORK/upstream/$(dirname "${file%:*}")"
  head -c "${file#*:}" /dev/urandom >"$WORK/upstream/${file%:*}"
done
mkdir -p "$WORK/static"
head -c 1024 /dev/urandom >"$WORK/static/tool.bin"

# An npm tarball of about 1 KiB and the document `npm publish` would send for it.
NPM_NAME=bench-tiny
NPM_TGZ=$NPM_NAME-1.0.0.tgz
python3 - "$WORK/static/$NPM_TGZ" "$WORK/npm-publish.json" "$NPM_NAME" <<'PY'
import base64, hashlib, io, json, os, sys, tarfile
tgz_path, document_path, name = sys.argv[1:]
version = "1.0.0"
manifest = {"name": name, "version": version, "description": "benchmark package", "main": "index.js"}
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
    for path, data in [("package/package.json", json.dumps(manifest).encode()),
                       ("package/index.js", os.urandom(768))]:
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
tgz = buffer.getvalue()
open(tgz_path, "wb").write(tgz)
file = f"{name}-{version}.tgz"
document = dict(manifest, _id=f"{name}@{version}", dist={
    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode(),
    "shasum": hashlib.sha1(tgz).hexdigest(),
    "tarball": f"http://localhost/{name}/-/{file}",
})
json.dump({"_id": name, "name": name, "description": manifest["description"],
           "dist-tags": {"latest": version}, "versions": {version: document}, "access": None,
           "_attachments": {file: {"content_type": "application/octet-stream",
                                   "data": base64.b64encode(tgz).decode(), "length": len(tgz)}}},
          open(document_path, "w"))
PY
NPM_SIZE=$(stat -c %s "$WORK/static/$NPM_TGZ")

# A one-layer OCI image: the layer is a gzip'd tar of a 1 KiB random file.
mkdir -p "$WORK/image/root"
head -c 1024 /dev/urandom >"$WORK/image/root/data.bin"
tar -C "$WORK/image/root" --owner=0 --group=0 --mtime=@0 -cf "$WORK/image/layer.tar" data.bin
gzip -n -c "$WORK/image/layer.tar" >"$WORK/image/layer.tar.gz"
LAYER_DIGEST=sha256:$(sha256_of "$WORK/image/layer.tar.gz")
LAYER_SIZE=$(stat -c %s "$WORK/image/layer.tar.gz")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$(sha256_of "$WORK/image/layer.tar")" >"$WORK/image/config.json"
CONFIG_DIGEST=sha256:$(sha256_of "$WORK/image/config.json")
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
  "$OCI_MANIFEST" "$CONFIG_DIGEST" "$(stat -c %s "$WORK/image/config.json")" "$LAYER_DIGEST" "$LAYER_SIZE" \
  >"$WORK/image/manifest.json"
MANIFEST_DIGEST=sha256:$(sha256_of "$WORK/image/manifest.json")
IMAGE=bench/app
TAG=1.0

# --- the upstreams -----------------------------------------------------------------------------------
UPSTREAM_PORT=$(free_port)
start upstream python3 -m http.server --bind 127.0.0.1 --directory "$WORK/upstream" "$UPSTREAM_PORT"
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT
wait_for "$UPSTREAM/$TINY"

REGISTRY_PORT=$(free_port)
cat >"$WORK/registry.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: bench-$$
YAML
start registry docker-registry serve "$WORK/registry.yml"
REGISTRY=http://127.0.0.1:$REGISTRY_PORT
wait_for "$REGISTRY/v2/"

# How many GETs of a path an upstream has answered, from its access log.
upstream_gets() { grep -c "\"GET $2 " "$WORK/$1.log" || true; }

log "pushing the image to the registry"
push_blob() {
  local file=$1 digest location separator='?'
  digest=sha256:$(sha256_of "$file")
  location=$(curl -fsS -o /dev/null -D - -X POST "$REGISTRY/v2/$IMAGE/blobs/uploads/" |
    awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
  [ -n "$location" ] || die "the registry gave no upload location"
  case $location in /*) location=$REGISTRY$location ;; esac
  case $location in *\?*) separator='&' ;; esac
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
    "$location${separator}digest=$digest" || die "the registry refused blob $digest"
}
push_blob "$WORK/image/layer.tar.gz"
push_blob "$WORK/image/config.json"
curl -fsS -o /dev/null -X PUT -H "Content-Type: $OCI_MANIFEST" --data-binary "@$WORK/image/manifest.json" \
  "$REGISTRY/v2/$IMAGE/manifests/$TAG" || die "the registry refused the manifest"

# --- nginx: a proxy_cache in front of both upstreams, and a static file server -----------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  types { application/java-archive jar; }
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  proxy_cache_path $WORK/nginx/cache levels=1:2 keys_zone=bench:10m max_size=4g inactive=1d use_temp_path=off;
  upstream maven { server 127.0.0.1:$UPSTREAM_PORT; }
  upstream registry { server 127.0.0.1:$REGISTRY_PORT; keepalive 16; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    proxy_cache bench;
    proxy_cache_valid 200 1d;
    proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location /static/ { alias $WORK/static/; }
    # Manifests: the answer depends on Accept.
    location /v2/ { proxy_pass http://registry; proxy_cache_key \$request_uri|\$http_accept; }
    location ~ ^/v2/.*/blobs/ { proxy_pass http://registry; }
    location / { proxy_pass http://maven; }
  }
}
CONF
start nginx nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;'
NGINX_PID=$STARTED_PID
NGINX=http://127.0.0.1:$NGINX_PORT
wait_for "$NGINX/static/tool.bin"
sleep 1 # the workers and the cache loader settle
record idle.nginx "$(memory_mib "$NGINX_PID" VmRSS)"

# --- packyard ----------------------------------------------------------------------------------------
declare -A PY_BASE PY_PID PY_TOKEN

# Starts an instance NAME with these extra settings (VAR=value), its data in $WORK/NAME, and bootstraps
# its administrator's token.
start_packyard() {
  local name=$1 port settings
  shift
  port=$(free_port)
  settings=(PACKYARD__SERVER__LISTEN="127.0.0.1:$port" PACKYARD__SERVER__DATA_DIR="$WORK/$name"
    PACKYARD__UPSTREAM__ALLOW_LOCAL_NETWORK=true "$@")
  PY_TOKEN[$name]=$(env "${settings[@]}" "$BIN" admin bootstrap --username admin 2>>"$WORK/$name.log") ||
    die "admin bootstrap failed for packyard ($name): $(tail -5 "$WORK/$name.log")"
  start "$name" env "${settings[@]}" "$BIN" serve
  PY_PID[$name]=$STARTED_PID
  PY_BASE[$name]=http://127.0.0.1:$port
  wait_for "${PY_BASE[$name]}/-/readiness"
}

# POSTs JSON to an instance's GitLab API and prints the new object's id.
api() { api_post "${PY_BASE[$1]}" "${PY_TOKEN[$1]}" "$2" "$3"; }

# Creates group "bench" and a Maven virtual registry in front of the fake upstream; prints its URL.
maven_registry() {
  local name=$1 group registry
  group=$(api "$name" groups '{"name":"bench","path":"bench"}')
  registry=$(api "$name" "groups/$group/-/virtual_registries/packages/maven/registries" '{"name":"bench"}')
  api "$name" "virtual_registries/packages/maven/registries/$registry/upstreams" \
    "{\"url\":\"$UPSTREAM\",\"name\":\"fake upstream\"}" >/dev/null
  echo "${PY_BASE[$name]}/api/v4/virtual_registries/packages/maven/$registry"
}

# GETs a URL (with these curl options) until it is answered without a request to the upstream (named as
# in upstream_gets) for that path; checks every body's digest (sha1 or sha256).
warm() {
  local algo=$1 expected=$2 upstream=$3 path=$4 url=$5 before got
  shift 5
  for _ in $(seq 1 50); do
    before=$(upstream_gets "$upstream" "$path")
    got=$(curl -fsS --max-time 300 "$@" "$url" | "${algo}sum" | cut -d' ' -f1) || die "GET $url failed"
    [ "$got" = "$expected" ] || die "GET $url answered a body with $algo $got, expected $expected"
    [ "$(upstream_gets "$upstream" "$path")" = "$before" ] && return 0
    sleep 0.2
  done
  die "GET $url still reached the upstream after warming"
}

# GETs a URL once and checks the body's digest (hosted and static files).
check() {
  local algo=$1 expected=$2 url=$3 got
  shift 3
  got=$(curl -fsS --max-time 60 "$@" "$url" | "${algo}sum" | cut -d' ' -f1) || die "GET $url failed"
  [ "$got" = "$expected" ] || die "GET $url answered a body with $algo $got, expected $expected"
}

log "starting packyard on SQLite"
start_packyard sqlite
BASE=${PY_BASE[sqlite]}
PID=${PY_PID[sqlite]}
TOKEN=${PY_TOKEN[sqlite]}
record idle.packyard "$(memory_mib "$PID" VmRSS)"
MAVEN=$(maven_registry sqlite)
GROUP=$(curl -fsS -H "PRIVATE-TOKEN: $TOKEN" "$BASE/api/v4/groups/bench" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

if [ "$POSTGRES" != 0 ]; then
  pg_isready -q || die "PostgreSQL does not answer on $PGHOST:$PGPORT (POSTGRES=0 skips its row)"
  DATABASE=packyard_bench_$$
  log "starting packyard on PostgreSQL (database $DATABASE)"
  createdb "$DATABASE" || die "createdb $DATABASE failed"
  # Runs after every process is stopped, so nothing holds the database.
  at_exit "dropdb --if-exists '$DATABASE'"
  start_packyard postgres PACKYARD__DATABASE__URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DATABASE"
  MAVEN_PG=$(maven_registry postgres)
fi

if [ "$S3" != 0 ]; then
  # A single-node Garage with one bucket and key, and an instance (on SQLite) that keeps its blobs there.
  S3_PORT=$(free_port)
  S3_KEY=GK$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  S3_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >"$WORK/garage.toml" <<TOML
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$(free_port)"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
TOML
  log "starting Garage and packyard with S3 storage"
  start garage env GARAGE_DEFAULT_ACCESS_KEY="$S3_KEY" GARAGE_DEFAULT_SECRET_KEY="$S3_SECRET" \
    GARAGE_DEFAULT_BUCKET=bench "$GARAGE" -c "$WORK/garage.toml" server --single-node --default-bucket
  # Garage answers once its bucket exists (403 to a request without a signature); packyard refuses to
  # start on a store that takes no writes.
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/bench")" = 403 ] && break
    sleep 0.2
  done
  sleep 1
  start_packyard s3 PACKYARD__STORAGE__URL=s3://bench/blobs \
    PACKYARD__STORAGE__S3__ENDPOINT="http://127.0.0.1:$S3_PORT" PACKYARD__STORAGE__S3__REGION=garage \
    PACKYARD__STORAGE__S3__ACCESS_KEY_ID="$S3_KEY" PACKYARD__STORAGE__S3__SECRET_ACCESS_KEY="$S3_SECRET" \
    PACKYARD__STORAGE__S3__PATH_STYLE=true PACKYARD__STORAGE__S3__ALLOW_HTTP=true
  MAVEN_S3=$(maven_registry s3)
fi

log "warming the caches"
for file in "$TINY" "$BIG32" "$BIG256"; do
  sha1=$(sha1_of "$WORK/upstream/$file")
  warm sha1 "$sha1" upstream "/$file" "$MAVEN/$file" -H "PRIVATE-TOKEN: $TOKEN"
  warm sha1 "$sha1" upstream "/$file" "$NGINX/$file"
done
[ "$(upstream_gets upstream "/$TINY")" -gt 0 ] || die "the upstream's log shows no GET: cannot tell cache hits"
if [ "$POSTGRES" != 0 ]; then
  warm sha1 "$(sha1_of "$WORK/upstream/$TINY")" upstream "/$TINY" "$MAVEN_PG/$TINY" \
    -H "PRIVATE-TOKEN: ${PY_TOKEN[postgres]}"
fi
if [ "$S3" != 0 ]; then
  for file in "$TINY" "$BIG32"; do
    warm sha1 "$(sha1_of "$WORK/upstream/$file")" upstream "/$file" "$MAVEN_S3/$file" \
      -H "PRIVATE-TOKEN: ${PY_TOKEN[s3]}"
  done
fi

log "publishing the hosted files"
HOSTED=$BASE/company/bench/package/-
curl -fsS -o /dev/null -H "PRIVATE-TOKEN: $TOKEN" --upload-file "$WORK/static/tool.bin" \
  "$HOSTED/generic/tool/1.0.0/tool.bin" || die "the generic upload failed"
status=$(curl -sS -o "$WORK/npm-answer" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary "@$WORK/npm-publish.json" "$HOSTED/npm/$NPM_NAME")
[ "$status" = 200 ] || die "npm publish answered $status: $(cat "$WORK/npm-answer")"
GENERIC_URL=$HOSTED/generic/tool/1.0.0/tool.bin
NPM_URL=$HOSTED/npm/$NPM_NAME/-/$NPM_TGZ
check sha1 "$(sha1_of "$WORK/static/tool.bin")" "$GENERIC_URL" -H "PRIVATE-TOKEN: $TOKEN"
check sha1 "$(sha1_of "$WORK/static/tool.bin")" "$NGINX/static/tool.bin"
check sha1 "$(sha1_of "$WORK/static/$NPM_TGZ")" "$NPM_URL" -H "Authorization: Bearer $TOKEN"
check sha1 "$(sha1_of "$WORK/static/$NPM_TGZ")" "$NGINX/static/$NPM_TGZ"

log "creating a container virtual registry"
CONTAINER=$(api sqlite "groups/$GROUP/-/virtual_registries/container/registries" '{"name":"bench"}')
api sqlite "virtual_registries/container/registries/$CONTAINER/upstreams" \
  "{\"url\":\"$REGISTRY\",\"name\":\"registry\"}" >/dev/null
V2=$BASE/v2/virtual_registries/container/$CONTAINER/$IMAGE
# A pull token (valid five minutes) for the image, fetched before each load that needs one.
pull_token() {
  curl -fsS -u "admin:$TOKEN" \
    "$BASE/jwt/auth?service=dependency_proxy&scope=repository:virtual_registries/container/$CONTAINER/$IMAGE:pull" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' || die "no pull token from /jwt/auth"
}
JWT=$(pull_token)
for server in "$V2" "$NGINX/v2/$IMAGE"; do
  warm sha256 "${MANIFEST_DIGEST#sha256:}" registry "/v2/$IMAGE/manifests/$TAG" "$server/manifests/$TAG" \
    -H "Authorization: Bearer $JWT" -H "Accept: $OCI_MANIFEST"
  warm sha256 "${MANIFEST_DIGEST#sha256:}" registry "/v2/$IMAGE/manifests/$MANIFEST_DIGEST" \
    "$server/manifests/$MANIFEST_DIGEST" -H "Authorization: Bearer $JWT" -H "Accept: $OCI_MANIFEST"
  warm sha256 "${LAYER_DIGEST#sha256:}" registry "/v2/$IMAGE/blobs/$LAYER_DIGEST" "$server/blobs/$LAYER_DIGEST" \
    -H "Authorization: Bearer $JWT"
done
[ "$(upstream_gets registry "/v2/$IMAGE/blobs/$LAYER_DIGEST")" -gt 0 ] ||
  die "the registry's log shows no GET: cannot tell cache hits"

# --- the loads ---------------------------------------------------------------------------------------
# Runs one load and records its values under KEY.rps, KEY.mbps, KEY.errors, KEY.p50 (ms) and KEY.peak.
measure() {
  local key=$1 rps mbps errors p50 peak
  shift
  log "load: $key"
  read -r rps mbps errors p50 peak <<<"$(load "$@")"
  record "$key.rps" "$rps"
  record "$key.mbps" "$mbps"
  record "$key.errors" "$errors"
  record "$key.p50" "$(awk -v us="$p50" 'BEGIN { printf "%.3f", us / 1000 }')"
  record "$key.peak" "$peak"
}

MANY=("$THREADS" "$CONNECTIONS")
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  if wanted small; then
    measure small.packyard "$MAVEN/$TINY" "$PID" "${MANY[@]}" -H "PRIVATE-TOKEN: $TOKEN"
    measure small.nginx "$NGINX/$TINY" "$NGINX_PID" "${MANY[@]}" -H "PRIVATE-TOKEN: $TOKEN"
    if [ "$POSTGRES" != 0 ]; then
      measure small.postgres "$MAVEN_PG/$TINY" "${PY_PID[postgres]}" "${MANY[@]}" \
        -H "PRIVATE-TOKEN: ${PY_TOKEN[postgres]}"
    fi
  fi

  if [ "$S3" != 0 ] && wanted small; then
    measure small.s3 "$MAVEN_S3/$TINY" "${PY_PID[s3]}" "${MANY[@]}" -H "PRIVATE-TOKEN: ${PY_TOKEN[s3]}"
  fi
  if [ "$S3" != 0 ] && wanted big; then
    measure big32.s3 "$MAVEN_S3/$BIG32" "${PY_PID[s3]}" "${MANY[@]}" -H "PRIVATE-TOKEN: ${PY_TOKEN[s3]}"
  fi

  if wanted latency; then
    measure latency.packyard "$MAVEN/$TINY" "$PID" 1 1 -H "PRIVATE-TOKEN: $TOKEN"
    measure latency.nginx "$NGINX/$TINY" "$NGINX_PID" 1 1 -H "PRIVATE-TOKEN: $TOKEN"
  fi

  if wanted big; then
    for size in 32 256; do
      file=BIG$size
      measure "big$size.packyard" "$MAVEN/${!file}" "$PID" "${MANY[@]}" -H "PRIVATE-TOKEN: $TOKEN"
      measure "big$size.nginx" "$NGINX/${!file}" "$NGINX_PID" "${MANY[@]}" -H "PRIVATE-TOKEN: $TOKEN"
    done
  fi

  if wanted hosted; then
    measure generic.packyard "$GENERIC_URL" "$PID" "${MANY[@]}" -H "PRIVATE-TOKEN: $TOKEN"
    measure generic.nginx "$NGINX/static/tool.bin" "$NGINX_PID" "${MANY[@]}" -H "PRIVATE-TOKEN: $TOKEN"
    measure npm.packyard "$NPM_URL" "$PID" "${MANY[@]}" -H "Authorization: Bearer $TOKEN"
    measure npm.nginx "$NGINX/static/$NPM_TGZ" "$NGINX_PID" "${MANY[@]}" -H "Authorization: Bearer $TOKEN"
  fi

  if wanted container; then
    for what in blob tag digest; do
      case $what in
        blob) path=blobs/$LAYER_DIGEST accept=() ;;
        tag) path=manifests/$TAG accept=(-H "Accept: $OCI_MANIFEST") ;;
        digest) path=manifests/$MANIFEST_DIGEST accept=(-H "Accept: $OCI_MANIFEST") ;;
      esac
      JWT=$(pull_token)
      measure "$what.packyard" "$V2/$path" "$PID" "${MANY[@]}" -H "Authorization: Bearer $JWT" "${accept[@]}"
      measure "$what.nginx" "$NGINX/v2/$IMAGE/$path" "$NGINX_PID" "${MANY[@]}" \
        -H "Authorization: Bearer $JWT" "${accept[@]}"
    done
  fi
done

# --- the table ---------------------------------------------------------------------------------------
for side in packyard nginx; do
  for size in 32 256; do cat "$WORK/results/big$size.$side.peak" 2>/dev/null || true; done \
    >"$WORK/results/big.$side.peak"
done

# The summed error counts of two loads, "packyard / peer".
errors() { echo "$(total "$1.errors") / $(total "$2.errors")"; }

# One row: label, peer, packyard's and the peer's value, how the target applies ("ratio>=", "ratio<=" or
# "packyard<=" the bound, with its unit), and the errors cell.
row() {
  local label=$1 peer=$2 ours=$3 theirs=$4 rule=$5 bound=$6 unit=$7 errors=$8 ratio met target
  ratio=$(awk -v a="$ours" -v b="$theirs" \
    'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }')
  case $rule in
    ratio\>=) target="≥ $bound" met=$(awk -v r="$ratio" -v t="$bound" 'BEGIN { print (r != "-" && r >= t) ? "yes" : "no" }') ;;
    ratio\<=) target="≤ $bound" met=$(awk -v r="$ratio" -v t="$bound" 'BEGIN { print (r != "-" && r <= t) ? "yes" : "no" }') ;;
    packyard\<=) target="packyard ≤ $bound $unit" met=$(awk -v v="$ours" -v t="$bound" 'BEGIN { print (v != "-" && v <= t) ? "yes" : "no" }') ;;
  esac
  echo "| $label | $peer | $ours | $theirs | $ratio | $target | $met | $errors |"
}

# A throughput row (requests/s or MB/s) of two loads: label, peer, field, bound, measure key.
throughput_row() {
  row "$1" "$2" "$(median "$5.packyard.$3")" "$(median "$5.nginx.$3")" 'ratio>=' "$4" '' \
    "$(errors "$5.packyard" "$5.nginx")"
}

ROWS=("$(throughput_row '1 KiB jar, Maven virtual registry, token, SQLite: req/s' 'nginx proxy_cache' rps 0.7 small)")
if [ "$POSTGRES" != 0 ]; then
  ROWS+=("$(row '1 KiB jar, Maven virtual registry, token, PostgreSQL: req/s' 'nginx proxy_cache' \
    "$(median small.postgres.rps)" "$(median small.nginx.rps)" 'ratio>=' 0.7 '' \
    "$(errors small.postgres small.nginx)")")
fi
if [ "$S3" != 0 ]; then
  # Beside the same load on local disk (the first rows): the figure operators weigh before a cluster.
  ROWS+=("$(row '1 KiB jar, SQLite, blobs on S3 (Garage): req/s' 'packyard, local disk' \
    "$(median small.s3.rps)" "$(median small.packyard.rps)" 'ratio>=' 0.7 '' \
    "$(errors small.s3 small.packyard)")"
    "$(row '32 MiB jar, blobs on S3 (Garage): MB/s' 'packyard, local disk' \
      "$(median big32.s3.mbps)" "$(median big32.packyard.mbps)" 'ratio>=' 0.2 '' \
      "$(errors big32.s3 big32.packyard)")"
    "$(row "peak RSS serving the 32 MiB jar from S3 to $CONNECTIONS connections: MiB" 'packyard, local disk' \
      "$(maximum big32.s3.peak)" "$(maximum big32.packyard.peak)" 'packyard<=' 64 MiB -)")
fi
ROWS+=(
  "$(row '1 KiB jar, one connection: p50 latency, ms' 'nginx proxy_cache' \
    "$(median latency.packyard.p50)" "$(median latency.nginx.p50)" 'ratio<=' 2 '' \
    "$(errors latency.packyard latency.nginx)")"
  "$(throughput_row '32 MiB jar: MB/s' 'nginx proxy_cache' mbps 0.95 big32)"
  "$(throughput_row '256 MiB jar: MB/s' 'nginx proxy_cache' mbps 0.95 big256)"
  "$(row "peak RSS serving the large jars to $CONNECTIONS connections: MiB" 'nginx proxy_cache' \
    "$(maximum big.packyard.peak)" "$(maximum big.nginx.peak)" 'packyard<=' 64 MiB -)"
  "$(throughput_row 'hosted generic file, 1 KiB: req/s' 'nginx static' rps 0.5 generic)"
  "$(throughput_row "hosted npm tarball, $NPM_SIZE bytes: req/s" 'nginx static' rps 0.5 npm)"
  "$(throughput_row "container blob, $LAYER_SIZE bytes: req/s" 'nginx proxy_cache' rps 0.5 blob)"
  "$(throughput_row 'container manifest by tag: req/s' 'nginx proxy_cache' rps 0.5 tag)"
  "$(throughput_row 'container manifest by digest: req/s' 'nginx proxy_cache' rps 0.5 digest)"
  "$(row 'idle RSS just after start: MiB' 'nginx, master + workers' \
    "$(median idle.packyard)" "$(median idle.nginx)" 'packyard<=' 20 MiB -)"
)

postgres_version() {
  [ "$POSTGRES" = 0 ] || printf '; PostgreSQL %s' "$(psql -Atc 'SHOW server_version' 2>/dev/null || echo '?')"
}

cat <<TABLE
packyard's hot path beside nginx: loads of $DURATION with wrk -t$THREADS -c$CONNECTIONS (latency: -t1 -c1), \
$ROUNDS round(s), medians; loopback.
$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); \
Linux $(uname -r); $("$BIN" --version); $(nginx -v 2>&1 | sed 's/^nginx version: //'); \
$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $(docker-registry --version | awk '{ print "distribution", $3 }'); \
$(python3 --version)$(postgres_version).

| measure | peer | packyard | peer's | packyard ÷ peer | target | met | errors (packyard / peer) |
| --- | --- | ---: | ---: | ---: | --- | --- | ---: |
$(printf '%s\n' "${ROWS[@]}")
TABLE
