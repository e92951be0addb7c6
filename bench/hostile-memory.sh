#!/usr/bin/env bash
# packyard's memory under the largest documents its caps allow: the peak resident memory while 4 clients
# read the largest npm package document and 4 others push the largest NuGet package, as a markdown table
# on stdout (progress on stderr). The target is a peak below 150 MiB.
#
#   bench/hostile-memory.sh                                  # builds the release binary first
#   BIN=target/release/packyard bench/hostile-memory.sh      # uses this binary, no build
#
# The npm package has VERSIONS versions (24), each with a readme that fills the 4 MiB version-document cap:
# its full document is about VERSIONS × 4 MiB, its abbreviated one a few KiB. The readers alternate the
# full and the abbreviated document for as long as the pushes last. Each nupkg holds a nuspec of almost
# 4 MiB (the nuspec cap), 65,000 entries whose central directory comes close to its 16 MiB cap, and
# PADDING_MIB (128) of stored data. packyard runs on SQLite with its default settings, except
# `storage.max_file_size`, raised to fit the nupkgs when needed (a file's size is streamed, not held).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

VERSIONS=${VERSIONS:-24}
READERS=${READERS:-4}
PUSHES=${PUSHES:-4}
PADDING_MIB=${PADDING_MIB:-128}
TARGET_MIB=150
export RUST_LOG=${RUST_LOG:-warn}
require curl python3

if [ -z "${BIN:-}" ]; then
  log "building the release binary"
  cargo build --release -p packyard >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/packyard
fi
[ -x "$BIN" ] || die "$BIN not found"
cp "$BIN" "$WORK/packyard"
BIN=$WORK/packyard

# --- the documents -----------------------------------------------------------------------------------
log "writing $VERSIONS npm publish documents and 4 nupkgs"
python3 - "$WORK" "$VERSIONS" "$PADDING_MIB" <<'PY'
import base64, hashlib, io, json, os, sys, tarfile, zipfile
work, versions, padding_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
name = "bench-huge"
for minor in range(versions):
    version = f"1.{minor}.0"
    manifest = {"name": name, "version": version, "main": "index.js",
                "dependencies": {"left-pad": "^1.0.0"}}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in [("package/package.json", json.dumps(manifest).encode()),
                           ("package/index.js", b"module.exports = 42;\n")]:
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    tgz = buffer.getvalue()
    file = f"{name}-{version}.tgz"
    # The readme fills the version document up to just under its 4 MiB cap.
    document = dict(manifest, _id=f"{name}@{version}", readme="r" * (4 * 1024 * 1024 - 4096), dist={
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode(),
        "shasum": hashlib.sha1(tgz).hexdigest(),
        "tarball": f"http://localhost/{name}/-/{file}",
    })
    json.dump({"_id": name, "name": name, "dist-tags": {"latest": version},
               "versions": {version: document}, "access": None,
               "_attachments": {file: {"content_type": "application/octet-stream",
                                       "data": base64.b64encode(tgz).decode(), "length": len(tgz)}}},
              open(f"{work}/npm-{minor}.json", "w"))

padding = os.urandom(padding_mib << 20)
for n in range(4):
    version = f"1.0.{n}"
    description = "d" * (4 * 1024 * 1024 - 8192)
    nuspec = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Bench.Huge</id>
    <version>{version}</version>
    <authors>bench</authors>
    <description>{description}</description>
  </metadata>
</package>"""
    with zipfile.ZipFile(f"{work}/huge-{n}.nupkg", "w", zipfile.ZIP_STORED) as nupkg:
        nupkg.writestr("Bench.Huge.nuspec", nuspec)
        nupkg.writestr("content/padding.bin", padding)
        # Long names: the central directory approaches its 16 MiB cap.
        for i in range(65_000):
            nupkg.writestr(f"content/{'n' * 180}/{i:08d}.txt", b"")
PY
NUPKG_BYTES=$(stat -c %s "$WORK/huge-0.nupkg")

# --- packyard ----------------------------------------------------------------------------------------
PORT=$(free_port)
SETTINGS=(PACKYARD__SERVER__LISTEN="127.0.0.1:$PORT" PACKYARD__SERVER__DATA_DIR="$WORK/data"
  PACKYARD__STORAGE__MAX_FILE_SIZE=$((NUPKG_BYTES * 2)))
TOKEN=$(env "${SETTINGS[@]}" "$BIN" admin bootstrap --username admin 2>>"$WORK/packyard.log") ||
  die "admin bootstrap failed: $(tail -5 "$WORK/packyard.log")"
start packyard env "${SETTINGS[@]}" "$BIN" serve
PID=$STARTED_PID
BASE=http://127.0.0.1:$PORT
wait_for "$BASE/-/readiness"
api_post "$BASE" "$TOKEN" groups '{"name":"bench","path":"bench"}' >/dev/null
NPM=$BASE/company/bench/package/-/npm
NUGET=$BASE/company/bench/package/-/nuget

log "publishing the npm package"
for minor in $(seq 0 $((VERSIONS - 1))); do
  curl -fsS -o /dev/null --max-time 120 -X PUT -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$WORK/npm-$minor.json" "$NPM/bench-huge" ||
    die "publishing version 1.$minor.0 failed"
done
FULL_BYTES=$(curl -fsS --max-time 300 -H "Authorization: Bearer $TOKEN" "$NPM/bench-huge" | wc -c)
ABBREVIATED_BYTES=$(curl -fsS --max-time 60 -H "Authorization: Bearer $TOKEN" \
  -H 'Accept: application/vnd.npm.install-v1+json' "$NPM/bench-huge" | wc -c)
log "full document: $FULL_BYTES bytes; abbreviated: $ABBREVIATED_BYTES bytes; nupkg: $NUPKG_BYTES bytes"
IDLE=$(memory_mib "$PID" VmRSS)

# --- the load ----------------------------------------------------------------------------------------
log "4 readers of the package document beside 4 pushes of the nupkg"
reset_peak "$PID"
reader() {
  local accept
  while [ ! -e "$WORK/pushed" ]; do
    for accept in application/json application/vnd.npm.install-v1+json; do
      curl -fsS -o /dev/null --max-time 300 -H "Authorization: Bearer $TOKEN" -H "Accept: $accept" \
        "$NPM/bench-huge" || { echo failed >>"$WORK/reader-failures"; return; }
      echo >>"$WORK/reads"
    done
  done
}
READER_PIDS=()
for _ in $(seq 1 "$READERS"); do
  reader &
  READER_PIDS+=($!)
done
PUSH_PIDS=()
for n in $(seq 0 $((PUSHES - 1))); do
  curl -sS -o "$WORK/push-$n.out" -w '%{http_code}' --max-time 600 -X PUT -H "X-NuGet-ApiKey: $TOKEN" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/huge-$n.nupkg" \
    "$NUGET/package" >"$WORK/push-$n.status" &
  PUSH_PIDS+=($!)
done
if [ "$PUSHES" = 0 ]; then sleep 20; fi
# (`wait` without pids would wait for the server too.)
[ "$PUSHES" = 0 ] || wait "${PUSH_PIDS[@]}" || true
touch "$WORK/pushed"
[ "$READERS" = 0 ] || wait "${READER_PIDS[@]}" || true
PEAK=$(memory_mib "$PID" VmHWM)
READS=0
[ ! -e "$WORK/reads" ] || READS=$(wc -l <"$WORK/reads")
for n in $(seq 0 $((PUSHES - 1))); do
  status=$(cat "$WORK/push-$n.status")
  [ "$status" = 201 ] || die "push $n answered $status: $(head -c 300 "$WORK/push-$n.out")"
done
[ ! -e "$WORK/reader-failures" ] || die "a reader failed"
[ "$READERS" = 0 ] || [ "$READS" -ge 8 ] || die "only $READS documents were read during the pushes"

# --- the table ---------------------------------------------------------------------------------------
verdict() { python3 -c "import sys; print('met' if float(sys.argv[1]) < float(sys.argv[2]) else 'NOT met')" "$@"; }
cat <<TABLE
| measure | value |
|---|---|
| full npm document | $((FULL_BYTES >> 20)) MiB ($VERSIONS versions) |
| abbreviated npm document | $((ABBREVIATED_BYTES >> 10)) KiB |
| nupkg pushed (4 at once) | $((NUPKG_BYTES >> 20)) MiB, 65,002 entries, a nuspec of 4 MiB |
| documents read during the pushes | $READS |
| resident memory before the load | $IDLE MiB |
| **peak resident memory during the load** | **$PEAK MiB** (target < $TARGET_MIB MiB: $(verdict "$PEAK" "$TARGET_MIB")) |
TABLE
