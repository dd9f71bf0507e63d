#!/usr/bin/env bash
# Installs what Gatehouse's tests and demo need, then builds. Idempotent and quiet when everything is present;
# runs before every `npm test` and `npm run demo`. Debian (bookworm) packages need root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

# Debian packages: ClickHouse 18.16 server/client/tools, Redis, HAProxy (benchmarks), the Python driver (tests),
# Prometheus and promtool (the observability test lints /metrics and scrapes it).
PACKAGES=(clickhouse-server clickhouse-client clickhouse-tools redis-server haproxy python3-clickhouse-driver prometheus)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  say "missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    say "need root to install them: apt-get install ${missing[*]}"
    exit 1
  fi
  say "apt-get update"
  "${SUDO[@]}" apt-get update -qq
  say "apt-get install ${missing[*]}"
  # No systemd here: the packages' maintainer scripts may try to start services and fail harmlessly; we start our
  # own servers with their own configs (the default one left in /etc/clickhouse-server is not used).
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do
    installed "$p" || { say "package $p is still not installed"; exit 1; }
  done
fi

# Node dependencies: npm ci when node_modules is absent or older than the lock file.
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# TypeScript build (dist/, used by bin/gatehouse.js): only when a source or config is newer than the last build.
STAMP=dist/.build-stamp
if [ ! -f "$STAMP" ] || [ ! -f dist/bin/cli.js ] \
  || [ -n "$(find src bin benchmarks tsconfig.json tsconfig.build.json package.json -newer "$STAMP" -print -quit 2>/dev/null)" ]; then
  say "npm run build"
  npm run --silent build
  touch "$STAMP"
fi
