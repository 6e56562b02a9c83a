#!/usr/bin/env bash
# The decision explorer (/explorer) in a real browser: Debian's chromium, driven over the
# DevTools protocol by playwright-core (pinned, package-lock.json), with axe-core.
#
#   bash tests/explorer/run.sh target/release/offerd
#
# 1. Installs chromium with apt-get when it is missing (CI runs as root, like haproxy in
#    .ci/run), and the npm packages with `npm ci` (node_modules kept while the lock is
#    unchanged).
# 2. Starts three offerds on free loopback ports, offline (nothing leaves the machine):
#    the embedded demo, ../shared/real-artifact/rules.json, and hostile-artifact.json
#    (markup in names, offers and parameters).
# 3. Runs check.mjs: no console errors, activity counts equal the artifacts', three tried
#    requests decide as /v1/offers, the hostile artifact renders as text, keyboard-only
#    use of the form, axe-core with 0 serious or critical violations, and no tried
#    request counted as a decision. Screenshots go to target/explorer-screens/.
#
# Reads ../shared beside the repo (EXPLORER_TESTS_SHARED_DIR overrides it). Without it the
# run is skipped; with CI=true it fails. Exits non-zero when anything failed.
set -euo pipefail
label=explorer

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/clients.sh
source "$repo/tests/lib/clients.sh"
offerd_argument "${1:-}"

shared="${EXPLORER_TESTS_SHARED_DIR:-$repo/../shared}"
real_artifact="$shared/real-artifact/rules.json"
need_shared EXPLORER_TESTS_SHARED_DIR "$real_artifact"
started_at=$SECONDS

# --- 1. chromium and the npm packages, pinned -------------------------------------------------
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "== explorer browser tests: $("$chromium" --version 2>/dev/null || echo chromium), node $(node --version)"
stamp="$here/node_modules/.installed-from"
if [ "$(cat "$stamp" 2>/dev/null)" != "$(sha "$here/package-lock.json")" ]; then
  (cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
  sha "$here/package-lock.json" >"$stamp"
fi

# --- 2. three offerds, offline --------------------------------------------------------------
start_scratch

# One offerd per artifact ("" = the embedded demo); sets `port`. Only these settings, from
# a folder with no config.toml, and none of the caller's OFFERD_* variables.
start_offerd() {
  local name="$1" artifact="$2" log="$scratch/offerd-$1.log"
  (
    cd "$scratch"
    for var in $(compgen -e | grep '^OFFERD_' || true); do unset "$var"; done
    export OFFERD_SERVER__BIND=127.0.0.1:0 OFFERD_SERVER__WORKERS=1
    export OFFERD_SERVER__SHUTDOWN_GRACE_SECS=2 OFFERD_LOG__FORMAT=json
    if [ -n "$artifact" ]; then
      export OFFERD_ARTIFACT__LOCATION="$artifact" OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0
      export OFFERD_EXPLORER__ENABLED=true
    fi
    exec "$bin"
  ) >"$log" 2>&1 &
  pids+=($!)
  port="$(port_in_log "$log")"
  # Node is here anyway (no curl needed): polls readiness for 10 s at most.
  node -e '
    const url = process.argv[1];
    const poll = async (n) => {
      try { if ((await fetch(url)).ok) { process.exit(0); } } catch (_) {}
      if (n === 0) { process.exit(1); }
      setTimeout(() => poll(n - 1), 100);
    };
    poll(100);' "http://127.0.0.1:$port/health/ready" && return 0
  echo "explorer: offerd $name not ready after 10 s" >&2
  cat "$log" >&2
  return 1
}
start_offerd demo ""
demo_port="$port"
start_offerd real "$real_artifact"
real_port="$port"
start_offerd hostile "$here/hostile-artifact.json"
hostile_port="$port"

screens="$repo/target/explorer-screens"
mkdir -p "$screens"
cat >"$scratch/config.json" <<EOF
{
  "chromium": "$chromium",
  "screens": "$screens",
  "profile": "$scratch/chromium-profile",
  "targets": {
    "demo": {"url": "http://127.0.0.1:$demo_port", "artifact": "$repo/examples/demo-artifact.json"},
    "real": {"url": "http://127.0.0.1:$real_port", "artifact": "$real_artifact"},
    "hostile": {"url": "http://127.0.0.1:$hostile_port", "artifact": "$here/hostile-artifact.json"}
  }
}
EOF

# --- 3. the browser --------------------------------------------------------------------------
failed=0
timeout 150 node "$here/check.mjs" "$scratch/config.json" || failed=1
echo "explorer: $((SECONDS - started_at)) s in all; screenshots in $screens"
exit "$failed"
