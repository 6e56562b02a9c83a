#!/usr/bin/env bash
# OpenFeature's own SDKs pointed at offerd's OFREP endpoints: the Node server SDK with
# @openfeature/ofrep-provider and the Python SDK with openfeature-provider-ofrep (pinned in
# package-lock.json and requirements.txt). Each evaluates boolean, string, number and
# object flags for many visitors and compares them with /v1/attributes for the same
# visitor and context, and checks an unknown flag, a wrong type, a missing targeting key,
# a remote mbox, the bulk ETag/304 round trip and a wrong token.
#
#   bash tests/ofrep/run.sh target/release/offerd
#
# 1. Installs the clients from the registries, pinned, into target/ofrep (node/ with
#    npm ci, venv/ with pip; kept while the pins are unchanged).
# 2. Starts two offerds on free loopback ports, offline (nothing leaves the machine),
#    with a token: the embedded demo and ../shared/real-artifact/rules.json.
# 3. Runs node/evaluate.js, then python/evaluate.py; each prints `LABEL: N passed, M
#    failed` per artifact and one such line for the client.
#
# Reads ../shared beside the repo (OFREP_TESTS_SHARED_DIR overrides it). Without it the
# run is skipped; with CI=true it fails. Exits non-zero when anything failed.
set -euo pipefail
label=ofrep

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/clients.sh
source "$repo/tests/lib/clients.sh"
offerd_argument "${1:-}"

shared="${OFREP_TESTS_SHARED_DIR:-$repo/../shared}"
real_artifact="$shared/real-artifact/rules.json"
demo_artifact="$repo/examples/demo-artifact.json"
need_shared OFREP_TESTS_SHARED_DIR "$real_artifact"

work="${OFFERD_OFREP_DIR:-$repo/target/ofrep}"
mkdir -p "$work"
echo "== OFREP client tests: node $(node --version), $(python3 --version)"

# --- 1. install, pinned -------------------------------------------------------------------
node_dir="$work/node"
node_stamp="$node_dir/node_modules/.installed-from"
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$(sha "$here/package-lock.json")" ]; then
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
  (cd "$node_dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
  sha "$here/package-lock.json" >"$node_stamp"
fi
venv="$work/venv"
install_venv "$venv" "$here/requirements.txt"
py="$venv/bin/python"
export PYTHONDONTWRITEBYTECODE=1

# --- 2. two offerds -------------------------------------------------------------------------
started_at=$SECONDS
start_scratch

token="ofrep-test-token"
# One offerd per artifact; sets `port`. Only these settings, from a folder with no
# config.toml: the built-in defaults otherwise (on-device, offline), and none of the
# caller's OFFERD_* variables.
start_offerd() {
  local name="$1" artifact="$2" log="$scratch/offerd-$1.log"
  (
    cd "$scratch"
    for var in $(compgen -e | grep '^OFFERD_' || true); do unset "$var"; done
    export OFFERD_SERVER__BIND=127.0.0.1:0 OFFERD_SERVER__WORKERS=1
    export OFFERD_SERVER__SHUTDOWN_GRACE_SECS=2 OFFERD_LOG__FORMAT=json
    export OFFERD_SERVER__AUTH_TOKENS="$token"
    export OFFERD_ARTIFACT__LOCATION="$artifact" OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0
    exec "$bin"
  ) >"$log" 2>&1 &
  pids+=($!)
  port="$(port_in_log "$log")"
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready" && return 0
    sleep 0.1
  done
  echo "ofrep: offerd ($name) not ready after 10 s" >&2
  cat "$log" >&2
  return 1
}
start_offerd demo embedded:demo
demo_port="$port"
start_offerd real "$real_artifact"
real_port="$port"

cat >"$scratch/config.json" <<JSON
{
  "token": "$token",
  "targets": {
    "demo": {"url": "http://127.0.0.1:$demo_port", "artifact": "$demo_artifact"},
    "real": {"url": "http://127.0.0.1:$real_port", "artifact": "$real_artifact"}
  }
}
JSON

# --- 3. the clients -------------------------------------------------------------------------
# Each bounded; a run takes seconds.
failed=0
out="$scratch/out.txt"
NODE_PATH="$node_dir/node_modules" timeout 60 node "$here/node/evaluate.js" "$scratch/config.json" |
  tee -a "$out" || failed=1
timeout 60 "$py" "$here/python/evaluate.py" "$scratch/config.json" | tee -a "$out" || failed=1

if [ "$failed" -ne 0 ]; then
  for name in demo real; do
    echo "-- offerd ($name) warnings and errors:"
    grep -E '"level":"(WARN|ERROR)"' "$scratch/offerd-$name.log" | tail -5 || true
  done
fi
echo "ofrep: $((SECONDS - started_at)) s after the installs"
# The clients' own lines ("ofrep node: N passed, M failed") are the summary; a client
# that died before printing one still fails the run.
for client in node python; do
  grep -q "^ofrep $client: [0-9]* passed, 0 failed$" "$out" || failed=1
done
exit "$failed"
