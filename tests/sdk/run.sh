#!/usr/bin/env bash
# Adobe's official Target SDKs pointed at offerd: the Node SDK 2.4.3 and the Python SDK 1.1.0,
# in server-side mode, with the recipes of examples/clients. Their answers must equal their
# own on-device engine's on the same artifact, no call may leave offerd, and notifications
# they send must be delivered by offerd's Batcher.
#
#   bash tests/sdk/run.sh target/release/offerd
#
# 1. Installs the SDKs from the registries, pinned (npm ci from package-lock.json into
#    tests/sdk/node_modules, pip from requirements.txt into tests/sdk/.venv; both gitignored,
#    kept while the pins are unchanged).
# 2. Starts a counting fake Target (fake_target.py) and two offerds on free loopback ports:
#    the conformance suite's TEST_ARTIFACT_AB_MULTI_SIMPLE and ../shared/real-artifact,
#    whose upstream (Delivery API and geo) is the fake, pinned: nothing leaves the machine.
# 3. Runs node/compare.js, then python/compare.py, on the bodies of cases.js.
#
# Reads ../shared beside the repo (SDK_TESTS_SHARED_DIR overrides it). Without it the run
# is skipped; with CI=true it fails. Exits non-zero when anything failed.
set -euo pipefail
label=sdk

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/clients.sh
source "$repo/tests/lib/clients.sh"
offerd_argument "${1:-}"

shared="${SDK_TESTS_SHARED_DIR:-$repo/../shared}"
suite_artifact="$shared/target-sdk-testing/schema/artifacts/TEST_ARTIFACT_AB_MULTI_SIMPLE.json"
real_artifact="$shared/real-artifact/rules.json"
need_shared SDK_TESTS_SHARED_DIR "$suite_artifact" "$real_artifact"

echo "== SDK client tests: node $(node --version), $(python3 --version)"

# --- 1. install, pinned -------------------------------------------------------------------
node_stamp="$here/node_modules/.installed-from"
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$(sha "$here/package-lock.json")" ]; then
  (cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
  sha "$here/package-lock.json" >"$node_stamp"
fi
venv="$here/.venv"
install_venv "$venv" "$here/requirements.txt"
py="$venv/bin/python"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ beside the recipes

# --- 2. the fake Target and two offerds -----------------------------------------------------
started_at=$SECONDS
start_scratch

"$py" "$here/fake_target.py" >"$scratch/fake-target.log" 2>&1 &
pids+=($!)
fake_port="$(port_in_log "$scratch/fake-target.log")"

# Polls URL until it answers 2xx, at most 10 s.
wait_ready() {
  "$py" -c '
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("sdk: not ready after 10 s: " + sys.argv[1])' "$1"
}

# One offerd per artifact; sets `port`. Only these settings, from a folder with no
# config.toml: the built-in defaults otherwise, and none of the caller's OFFERD_* variables.
start_offerd() {
  local name="$1" artifact="$2" log="$scratch/offerd-$1.log"
  (
    cd "$scratch"
    for var in $(compgen -e | grep '^OFFERD_' || true); do unset "$var"; done
    export OFFERD_SERVER__BIND=127.0.0.1:0 OFFERD_SERVER__WORKERS=1
    export OFFERD_SERVER__SHUTDOWN_GRACE_SECS=2
    export OFFERD_LOG__FORMAT=json
    export OFFERD_TARGET__CLIENT=targettesting OFFERD_TARGET__ORGANIZATION_ID=74F652E95F1B16FE0A495C92@AdobeOrg
    export OFFERD_TARGET__DECISIONING_METHOD=on-device
    export OFFERD_ARTIFACT__LOCATION="$artifact" OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0
    # Upstream is the fake, even once an edge cluster is known (pinned).
    export OFFERD_UPSTREAM__OFFLINE=false OFFERD_UPSTREAM__SECURE=false
    export OFFERD_UPSTREAM__SERVER_DOMAIN=127.0.0.1 OFFERD_UPSTREAM__PORT="$fake_port"
    export OFFERD_UPSTREAM__PIN_SERVER_DOMAIN=true
    export OFFERD_GEO__URL="http://127.0.0.1:$fake_port/v1/geo"
    exec "$bin"
  ) >"$log" 2>&1 &
  pids+=($!)
  port="$(port_in_log "$log")"
  wait_ready "http://127.0.0.1:$port/health/ready" || { cat "$log" >&2; return 1; }
}
start_offerd suite "$suite_artifact"
suite_port="$port"
start_offerd real "$real_artifact"
real_port="$port"

node "$here/cases.js" >"$scratch/cases.json"
cat >"$scratch/config.json" <<EOF
{
  "client": "targettesting",
  "organizationId": "74F652E95F1B16FE0A495C92@AdobeOrg",
  "cases": "$scratch/cases.json",
  "fakeTarget": "http://127.0.0.1:$fake_port",
  "targets": {
    "suite": {"url": "http://127.0.0.1:$suite_port", "artifact": "$suite_artifact"},
    "real": {"url": "http://127.0.0.1:$real_port", "artifact": "$real_artifact"}
  }
}
EOF

# --- 3. the SDKs ----------------------------------------------------------------------------
# Each step is bounded (40 s, then 4 x 25 s; with the start-up waits, under 3 minutes in
# all); a run takes seconds.
failed=0
out="$scratch/out.txt"
timeout 40 node "$here/node/compare.js" "$scratch/config.json" | tee -a "$out" || failed=1
for target in suite real; do
  if ! timeout 25 "$py" "$here/python/compare.py" reference "$scratch/config.json" "$target" "$scratch/ref-$target.json"; then
    echo "FAIL python $target: the on-device reference run failed" | tee -a "$out"
    failed=1
    continue
  fi
  timeout 25 "$py" "$here/python/compare.py" offerd "$scratch/config.json" "$target" "$scratch/ref-$target.json" |
    tee -a "$out" || failed=1
done

# offerd's own upstream calls went to the fake and were all Delivery API posts (no geo
# lookup, no artifact download).
"$py" - "http://127.0.0.1:$fake_port/received" <<'EOF' | tee -a "$out" || failed=1
import json, sys, urllib.request
got = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["requests"]
other = [r for r in got if (r["method"], r["path"].split("?")[0]) != ("POST", "/rest/v1/delivery")]
print("offerd upstream: {} calls, all Delivery API posts: {} passed, {} failed".format(
    len(got), 0 if other else 1, 1 if other else 0))
sys.exit("FAIL offerd upstream: unexpected calls {}".format(other[:5]) if other else 0)
EOF

if [ "$failed" -ne 0 ]; then
  for name in suite real; do
    echo "-- offerd ($name) warnings and errors:"
    grep -E '"level":"(WARN|ERROR)"' "$scratch/offerd-$name.log" | tail -5 || true
  done
fi
echo "sdk: $((SECONDS - started_at)) s after the installs"
# One closing line over every summary above ("LABEL: N passed, M failed").
awk -v failed="$failed" '
  / [0-9]+ passed, [0-9]+ failed$/ { p += $(NF-3); f += $(NF-1) }
  END { if (failed && !f) f = 1; printf "sdk: %d passed, %d failed\n", p, f }' "$out"
exit "$failed"
