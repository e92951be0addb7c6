#!/usr/bin/env bash
# Install the Debian packages packyard's end-to-end tests and benchmarks need.
#
# Idempotent and fast: it only runs `apt-get update` + `apt-get install` when
# at least one package is missing (checked with `dpkg -s`). Safe to call from
# .ci/run on every run.
#
# Why these packages (see tests/fixtures/maven-app/NOTES.md):
#   - maven, openjdk-17-jdk-headless: the `mvn` client and `javac`.
#   - libmaven-{resources,compiler,jar}-plugin-java: the plugins the default
#     lifecycle runs up to `package`; they land in /usr/share/maven-repo, which
#     the tests serve over HTTP as the "upstream" Maven repositories.
#   - libmaven-{install,deploy}-plugin-java: maven-install-plugin 3.1.0 and
#     maven-deploy-plugin 3.0.0, which `mvn deploy` runs in the hosted Maven
#     end-to-end test (tests/fixtures/maven-lib).
#   - junit5: ships org.junit:junit-bom:debian, which the plexus-compiler POM
#     (a dependency of maven-compiler-plugin) imports but does not depend on.
#   - libcommons-lang3-java: the third-party jar the fixture app depends on
#     (normally already pulled in by maven itself).
#   - wrk: HTTP benchmarks.
#   - nginx-light: the peer of the benchmarks (bench/hot-path.sh), as a
#     static file server and as a proxy_cache in front of the same upstreams.
#   - docker-registry, skopeo, apache2-utils, podman: the container tests
#     (crates/packyard_test_support/src/oci_registry.rs). docker-registry
#     (distribution 2.8) is the real upstream registry, run on loopback;
#     skopeo pushes images to it and pulls them back; htpasswd (apache2-utils)
#     writes the bcrypt line its Basic auth needs; podman pulls as a client
#     would (as root, no daemon, storage in a temporary folder).
#   - docker.io (dockerd 20.10, with containerd and runc as its dependencies), buildah: the other OCI
#     clients of the container end-to-end tests (bins/packyard/tests/e2e_docker.rs, e2e_containerd.rs,
#     e2e_buildah.rs). Each test starts its own dockerd or containerd on a private socket, data root and
#     exec root, so nothing here needs the machine's own daemons running (the package's service is not
#     started in a container without systemd, and the tests do not use it).
#   - gradle: Gradle 4.4 for the Gradle end-to-end test (bins/packyard/tests/e2e_gradle.rs), resolving
#     through a Maven virtual registry and publishing with maven-publish. It runs on the JDK 17 above
#     (see docs/maven.md for what that needs).
#   - sqlite3: the backup and restore test (bins/packyard/tests/backup_restore.rs) runs the operator
#     guide's `sqlite3 .backup` as written.
#   - composer, php-cli, php-zip, unzip: the Composer end-to-end test runs
#     `composer require` against a hosted Composer repository; composer
#     extracts dist zips with php-zip (unzip as its fallback).
#   - r-base-core: R 4.2 (`R CMD build`, `Rscript`) for the hosted CRAN
#     end-to-end test, which builds a source package and installs it.
#   - python3-venv: a virtual environment for twine (below), so the system's
#     Python packages stay as they are.
#
#   - mono-runtime and the libmono-*4.0-cil assemblies NuGet.exe 5.8 loads (found by running it:
#     each missing one is reported as "Could not load file or assembly …"), plus ca-certificates-mono:
#     the NuGet end-to-end test runs NuGet.exe under mono. This is the part of mono-complete it needs.
#
# Also twine (pinned, from the PyPI registry) in its own virtual environment,
# $PACKYARD_TEST_VENV (default /opt/packyard-test-venv): the PyPI end-to-end
# test uploads with it. pip comes with Python.
#
# The other JavaScript and Python clients people use with the hosted npm and PyPI repositories
# (pinned, from the npm and PyPI registries; each test finds its client at the fixed path below, or
# where PACKYARD_TEST_UV, _POETRY, _PDM, _PNPM or _YARN points, and fails when it is missing):
#   - pnpm and yarn (Berry, the @yarnpkg/cli-dist bundle: one JavaScript file, no install scripts, no
#     corepack download at run time) into one npm prefix, $PACKYARD_TEST_NPM_PREFIX (default
#     /opt/packyard-test-npm): e2e_pnpm and e2e_yarn publish with them and install projects from
#     their lock files. pnpm stays on 10.x: 11 and later do not run on the machine's Node 20.
#   - uv into the twine environment (one static binary in a wheel, no dependencies): e2e_uv runs
#     `uv pip install` (it asks for PEP 691 JSON and PEP 658 metadata) and `uv publish`.
#   - poetry and pdm, each in a virtual environment of its own ($PACKYARD_TEST_POETRY_VENV, default
#     /opt/packyard-test-poetry; $PACKYARD_TEST_PDM_VENV, default /opt/packyard-test-pdm), since their
#     dependency trees pin different versions of the same libraries: e2e_poetry publishes with
#     `poetry publish -r` and locks and installs from a source with credentials, e2e_pdm the same
#     with pdm's sources.
#
# And for the web interface's browser test (bins/packyard/tests/e2e_ui.rs, tests/ui/flows.mjs): Debian's
# `chromium`, driven headless by playwright-core (pinned, from the npm registry; no browser download: it
# runs the system's chromium) installed into $PACKYARD_TEST_PLAYWRIGHT (default
# /opt/packyard-test-playwright). The test finds chromium at $PACKYARD_TEST_CHROMIUM (default
# /usr/bin/chromium) and fails under CI when either is missing.
#
# And Garage (pinned, built from crates.io with cargo into /opt/packyard-test-garage): the S3 storage and
# cluster tests run it as their object store (see below).
#
# And schemathesis (pinned, from PyPI, with the hypothesis it was released with) in a virtual environment
# of its own, $PACKYARD_TEST_SCHEMATHESIS_VENV (default /opt/packyard-test-schemathesis): the OpenAPI
# fuzzer of bins/packyard/tests/openapi_fuzz.rs, which finds it at bin/schemathesis there (or where
# PACKYARD_TEST_SCHEMATHESIS points) and fails when it is missing.
set -euo pipefail

PACKAGES=(
  maven
  chromium
  openjdk-17-jdk-headless
  libmaven-resources-plugin-java
  libmaven-compiler-plugin-java
  libmaven-jar-plugin-java
  libmaven-install-plugin-java
  libmaven-deploy-plugin-java
  junit5
  libcommons-lang3-java
  wrk
  nginx-light
  docker-registry
  skopeo
  apache2-utils
  podman
  docker.io
  containerd
  buildah
  gradle
  python3-venv
  r-base-core
  curl
  sqlite3
  composer
  php-cli
  php-zip
  unzip
  mono-runtime
  ca-certificates-mono
  libmono-system-core4.0-cil
  libmono-system-net-http4.0-cil
  libmono-system-net-http-webrequest4.0-cil
  libmono-system-xml-linq4.0-cil
  libmono-system-io-compression4.0-cil
  libmono-system-io-compression-filesystem4.0-cil
  libmono-system-runtime-serialization4.0-cil
  libmono-system-componentmodel-composition4.0-cil
  libmono-system-componentmodel-dataannotations4.0-cil
  libmono-microsoft-csharp4.0-cil
  libmono-system-data4.0-cil
  libmono-system-data-services-client4.0-cil
  libmono-system-security4.0-cil
  libmono-microsoft-build-framework4.0-cil
  libmono-microsoft-build-utilities-v4.0-4.0-cil
  libmono-microsoft-build-tasks-v4.0-4.0-cil
  libmono-windowsbase4.0-cil
  libmono-system-configuration4.0-cil
  libmono-system-numerics4.0-cil
  libmono-system-runtime4.0-cil
  libmono-system-transactions4.0-cil
  libmono-system-xaml4.0-cil
  libmono-system-net4.0-cil
  libmono-system-identitymodel4.0-cil
  libmono-system-servicemodel4.0a-cil
  libmono-system-web4.0-cil
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: installing: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "install-test-deps: missing packages: ${missing[*]}" >&2
      echo "  installing them needs root: run this script as root, or install sudo" >&2
      exit 1
    fi
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# twine for the PyPI end-to-end test, in a virtual environment of its own.
TWINE_VERSION=7.0.0
VENV="${PACKYARD_TEST_VENV:-/opt/packyard-test-venv}"
if ! "$VENV/bin/twine" --version 2>/dev/null | grep -q "twine version $TWINE_VERSION "; then
  echo "install-test-deps: installing twine $TWINE_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "twine==$TWINE_VERSION"
fi

# The checks below read what is installed (a wheel's .dist-info, an npm package's package.json) rather
# than starting each tool, so that a machine with everything in place passes them in milliseconds.

# has_dists VENV NAME==VERSION...: every one of them is installed in VENV.
has_dists() {
  local venv="$1" requirement
  shift
  local name
  for requirement in "$@"; do
    name="${requirement%%==*}"
    name="${name%%\[*}"
    compgen -G "$venv/lib/python*/site-packages/$name-${requirement##*==}.dist-info" >/dev/null \
      || return 1
  done
}

# venv_install VENV TOOL NAME==VERSION...: a virtual environment with TOOL and these pins.
venv_install() {
  local venv="$1" tool="$2"
  shift 2
  if [ ! -x "$venv/bin/$tool" ] || ! has_dists "$venv" "$@"; then
    echo "install-test-deps: installing $* into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
  fi
}

# uv beside twine; poetry and pdm each in a virtual environment of its own. pdm asks for hishel>=1.4
# but fails with hishel 2 (which dropped SyncSqliteStorage): pin the 1.x it was released with.
venv_install "$VENV" uv "uv==0.13.9"
venv_install "${PACKYARD_TEST_POETRY_VENV:-/opt/packyard-test-poetry}" poetry "poetry==2.5.1"
venv_install "${PACKYARD_TEST_PDM_VENV:-/opt/packyard-test-pdm}" pdm \
  "pdm==2.29.4" "hishel[httpx2]==1.4.0"
venv_install "${PACKYARD_TEST_SCHEMATHESIS_VENV:-/opt/packyard-test-schemathesis}" schemathesis \
  "schemathesis==4.32.5" "hypothesis==6.170.17"

# pnpm and yarn in one npm prefix.
PNPM_VERSION=10.34.9
YARN_VERSION=4.18.1
NPM_PREFIX="${PACKYARD_TEST_NPM_PREFIX:-/opt/packyard-test-npm}"
npm_version() {
  sed -n 's/^  "version": "\(.*\)",$/\1/p' "$NPM_PREFIX/lib/node_modules/$1/package.json" 2>/dev/null
}
if [ ! -x "$NPM_PREFIX/bin/pnpm" ] || [ ! -x "$NPM_PREFIX/bin/yarn" ] \
  || [ "$(npm_version pnpm)" != "$PNPM_VERSION" ] \
  || [ "$(npm_version @yarnpkg/cli-dist)" != "$YARN_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm is needed to install pnpm and yarn" >&2
    exit 1
  fi
  echo "install-test-deps: installing pnpm $PNPM_VERSION and yarn $YARN_VERSION into $NPM_PREFIX"
  npm install --global --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error \
    "pnpm@$PNPM_VERSION" "@yarnpkg/cli-dist@$YARN_VERSION"
fi

# The real upstream servers of the npm and PyPI virtual registry end-to-end tests, pinned, from the npm
# and PyPI registries: Verdaccio (an npm registry; e2e_npm_virtual publishes packages to it on loopback
# and installs them through packyard) into its own npm prefix, $PACKYARD_TEST_VERDACCIO_PREFIX (default
# /opt/packyard-test-verdaccio, run as bin/verdaccio there), and pypiserver (a PyPI index serving a
# folder; e2e_pypi_virtual puts distributions in it) in a virtual environment of its own,
# $PACKYARD_TEST_PYPISERVER_VENV (default /opt/packyard-test-pypiserver, run as bin/pypi-server).
# 6.8 is the last 6.x that runs on the machine's Node 20 (6.9 and later need Node 22).
VERDACCIO_VERSION=6.8.0
VERDACCIO_PREFIX="${PACKYARD_TEST_VERDACCIO_PREFIX:-/opt/packyard-test-verdaccio}"
if [ ! -x "$VERDACCIO_PREFIX/bin/verdaccio" ] || [ "$(sed -n 's/^  "version": "\(.*\)",$/\1/p' \
  "$VERDACCIO_PREFIX/lib/node_modules/verdaccio/package.json" 2>/dev/null)" != "$VERDACCIO_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm is needed to install Verdaccio" >&2
    exit 1
  fi
  echo "install-test-deps: installing verdaccio $VERDACCIO_VERSION into $VERDACCIO_PREFIX"
  npm install --global --prefix "$VERDACCIO_PREFIX" --no-audit --no-fund --loglevel=error \
    "verdaccio@$VERDACCIO_VERSION"
fi
venv_install "${PACKYARD_TEST_PYPISERVER_VENV:-/opt/packyard-test-pypiserver}" pypi-server \
  "pypiserver==2.4.2"

# playwright-core for the browser test of the web interface.
PLAYWRIGHT_VERSION=1.65.2
PLAYWRIGHT_DIR="${PACKYARD_TEST_PLAYWRIGHT:-/opt/packyard-test-playwright}"
if [ "$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$PLAYWRIGHT_DIR/node_modules/playwright-core/package.json" 2>/dev/null)" \
  != "$PLAYWRIGHT_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm is needed to install playwright-core" >&2
    exit 1
  fi
  echo "install-test-deps: installing playwright-core $PLAYWRIGHT_VERSION into $PLAYWRIGHT_DIR"
  mkdir -p "$PLAYWRIGHT_DIR"
  npm install --prefix "$PLAYWRIGHT_DIR" --no-audit --no-fund --loglevel=error \
    "playwright-core@$PLAYWRIGHT_VERSION"
fi

# Garage, a real S3-compatible object store, for the S3 storage and cluster tests
# (packyard_test_support::S3Server starts one per test on loopback). Built once per machine from
# crates.io (about 15 minutes on two cores, in its own target folder) into $PACKYARD_TEST_GARAGE's
# folder (default /opt/packyard-test-garage/bin/garage).
GARAGE_VERSION=2.5.0
GARAGE="${PACKYARD_TEST_GARAGE:-/opt/packyard-test-garage/bin/garage}"
if [ ! -x "$GARAGE" ] || ! "$GARAGE" --version 2>/dev/null | grep -qE "(:|v)${GARAGE_VERSION//./\\.}( |$)"; then
  echo "install-test-deps: building Garage $GARAGE_VERSION into $(dirname "$(dirname "$GARAGE")")"
  CARGO_TARGET_DIR="${TMPDIR:-/tmp}/packyard-garage-build" cargo install garage \
    --version "$GARAGE_VERSION" --locked --root "$(dirname "$(dirname "$GARAGE")")"
  rm -rf "${TMPDIR:-/tmp}/packyard-garage-build"
fi

# NuGet.exe for the NuGet end-to-end test: the npm registry package nuget-exe carries it (no install
# script runs; `npm pack` only fetches the tarball). Kept as $PACKYARD_NUGET_EXE.
NUGET_EXE_VERSION=5.8.0
NUGET_EXE="${PACKYARD_NUGET_EXE:-/opt/packyard-nuget/nuget.exe}"
if [ ! -s "$NUGET_EXE" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-deps: npm is needed to fetch NuGet.exe (the npm package nuget-exe)" >&2
    exit 1
  fi
  echo "install-test-deps: fetching NuGet.exe $NUGET_EXE_VERSION into $NUGET_EXE"
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "nuget-exe@$NUGET_EXE_VERSION" >/dev/null \
    && tar xzf "nuget-exe-$NUGET_EXE_VERSION.tgz" "package/nuget-$NUGET_EXE_VERSION.exe")
  mkdir -p "$(dirname "$NUGET_EXE")"
  mv "$work/package/nuget-$NUGET_EXE_VERSION.exe" "$NUGET_EXE"
  rm -rf "$work"
fi

# The container tests run this binary by its path.
if [ ! -x /usr/bin/docker-registry ]; then
  echo "install-test-deps: expected /usr/bin/docker-registry, not found" >&2
  exit 1
fi

# Sanity check: the plugin versions pinned in tests/fixtures/maven-{app,lib,consumer}/pom.xml.
repo=/usr/share/maven-repo/org/apache/maven/plugins
for f in \
  "$repo/maven-resources-plugin/3.3.0/maven-resources-plugin-3.3.0.jar" \
  "$repo/maven-compiler-plugin/3.10.1/maven-compiler-plugin-3.10.1.jar" \
  "$repo/maven-jar-plugin/3.3.0/maven-jar-plugin-3.3.0.jar" \
  "$repo/maven-install-plugin/3.1.0/maven-install-plugin-3.1.0.jar" \
  "$repo/maven-deploy-plugin/3.0.0/maven-deploy-plugin-3.0.0.jar" \
  /usr/share/maven-repo/org/junit/junit-bom/debian/junit-bom-debian.pom \
  /usr/share/maven-repo/org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar; do
  if [ ! -e "$f" ]; then
    echo "install-test-deps: expected $f, not found" >&2
    echo "  (Debian package versions changed? update the fixture pom.xml)" >&2
    exit 1
  fi
done
echo "install-test-deps: ok (${#PACKAGES[@]} packages present)"
