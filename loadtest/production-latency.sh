#!/usr/bin/env bash
# Paced latency in production mode: offerd online (spool, h2c, sending every notification
# to a counting fake Delivery API with 50 ms of latency) against offerd offline, at the
# same paced rate: half of the online peak. The question it answers: does delivering
# notifications cost a caller latency below saturation? (Issue 15: the online p99 must be
# within 2x of offline's at that rate.)
#
#   cargo build --release --locked -p offerd -p loadtest
#   loadtest/production-latency.sh
#   ROUNDS=2 loadtest/production-latency.sh
#
# 1. Calibration: offerd online's peak req/s, closed loop (wrk -c32, no delay).
# 2. ROUNDS rounds of: offerd offline, then offerd online, each paced at about half that
#    peak: DELAY_MS=HALF_DELAY_MS (default 10) with as many connections as make half the
#    calibrated peak (../shared/peers bench.sh paces each connection by a random
#    0.5-1.5 x DELAY_MS before each request).
# It prints each run and the medians: p50/p99 of both, and the ratio of their p99s.
#
# Both run on request a (the peers' a-ab-execute) with its artifact, from the peers' scratch
# copy (no config.toml: built-in defaults, access log off). Online: OFFERD_UPSTREAM__* point
# at the fake this script starts (`loadtest fake-upstream --delay-ms FAKE_DELAY_MS`), a
# fresh spool directory per run, h2c. bench.sh's "other CPU" check is relaxed
# (MAX_OTHER_CPU=100 by default), since the fake is busy during online runs by design.
#
# Environment: ROUNDS=3 DURATION=8 WARMUP=2 HALF_DELAY_MS=10 FAKE_DELAY_MS=50, OFFERD
# (default target/release/offerd), LOADTEST (default target/release/loadtest), SCRATCH
# (default ${TMPDIR:-/tmp}/offerd-peers). Loopback only; bounded; stops what it starts.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$REPO/../shared/peers}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/offerd-peers}"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
LOADTEST="${LOADTEST:-$REPO/target/release/loadtest}"
ROUNDS="${ROUNDS:-3}"
HALF_DELAY_MS="${HALF_DELAY_MS:-10}"
FAKE_DELAY_MS="${FAKE_DELAY_MS:-50}"
export DURATION="${DURATION:-8}" WARMUP="${WARMUP:-2}" THREADS=2 RUNS=1 NO_COLOR=1
export MAX_OTHER_CPU="${MAX_OTHER_CPU:-100}" RETRIES="${RETRIES:-1}"
REQUEST=a-ab-execute

int_in() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
int_in "$ROUNDS" 1 10 || { echo "ROUNDS must be 1..10" >&2; exit 2; }
int_in "$HALF_DELAY_MS" 2 100 || { echo "HALF_DELAY_MS must be 2..100" >&2; exit 2; }
[[ -x "$OFFERD" ]] || { echo "no offerd binary at $OFFERD: cargo build --release" >&2; exit 2; }
[[ -x "$LOADTEST" ]] || { echo "no loadtest binary at $LOADTEST: cargo build --release -p loadtest" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
# shellcheck source=loadtest/peers-scratch.sh
source "$REPO/loadtest/peers-scratch.sh"
peers_scratch "$PEERS_SRC" "$SCRATCH"

RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/production-latency.XXXXXX")"
SPOOLS="$(mktemp -d "${TMPDIR:-/tmp}/production-latency-spools.XXXXXX")"
export RESULTS
FAKE_PID=""
cleanup() {
  [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
  rm -rf "$RESULTS" "$SPOOLS"
}
trap cleanup EXIT

"$LOADTEST" fake-upstream --bind 127.0.0.1:0 --delay-ms "$FAKE_DELAY_MS" >"$RESULTS/fake.out" 2>/dev/null &
FAKE_PID=$!
for _ in $(seq 50); do [[ -s "$RESULTS/fake.out" ]] && break; sleep 0.1; done
FAKE_PORT="$(head -1 "$RESULTS/fake.out" | sed 's/.*://')"
[[ "$FAKE_PORT" =~ ^[0-9]+$ ]] || { echo "the fake did not start" >&2; exit 2; }

offerd() { # MODE (offline|online) CONNECTIONS [DELAY_MS]: one bench.sh run
  local mode="$1" envs=(OFFERD_LOG__ACCESS=false OFFERD_TARGET__CLIENT=someClientId
    OFFERD_TARGET__ORGANIZATION_ID=someOrgId)
  if [[ "$mode" == online ]]; then
    envs+=(OFFERD_UPSTREAM__OFFLINE=false OFFERD_UPSTREAM__SERVER_DOMAIN=127.0.0.1
      OFFERD_UPSTREAM__PORT="$FAKE_PORT" OFFERD_UPSTREAM__SECURE=false
      OFFERD_UPSTREAM__PIN_SERVER_DOMAIN=true OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE=true
      OFFERD_TARGET__LEARN_LOCATION_HINT=false OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0)
  fi
  # A fresh spool per online run (bench.sh starts the server with `bash -c "exec ..."`).
  local spool="OFFERD_SPOOL__DIR=\$(mktemp -d $SPOOLS/run.XXXXXX)"
  [[ "$mode" == online ]] || spool=""
  env "${envs[@]}" CONNECTIONS="$2" DELAY_MS="${3:-}" NAME="offerd-$mode" \
    "$SCRATCH/bench.sh" "cmd=env $spool $OFFERD --artifact \$ARTIFACT --bind 127.0.0.1:\$PORT" "$REQUEST"
}

echo "# production latency: $ROUNDS rounds, ${WARMUP}s + ${DURATION}s per run; fake Target at 127.0.0.1:$FAKE_PORT (+${FAKE_DELAY_MS} ms)"
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); offerd: $OFFERD ($("$OFFERD" --version 2>/dev/null || echo '?'))"
offerd online 32 | grep -v '^#'
PEAK="$(python3 - "$RESULTS" <<'EOF'
import csv, glob, sys
rows = [r for p in glob.glob(sys.argv[1] + "/*.tsv") for r in csv.DictReader(open(p), delimiter="\t")]
print(int(float(rows[-1]["rps"])))
EOF
)"
rm -f "$RESULTS"/*.tsv # the calibration is not a measured run
HALF_CONNECTIONS="$(python3 -c "
peak, d = $PEAK, $HALF_DELAY_MS
# per-connection cycle: the mean floored delay (d - 0.5 ms) plus ~0.5 ms of latency
print(max(2, min(1024, round(peak / 2 * (d - 0.5 + 0.5) / 1000))))")"
echo "# calibrated online peak $PEAK req/s: paced runs use DELAY_MS=$HALF_DELAY_MS with $HALF_CONNECTIONS connections"

for _ in $(seq 1 "$ROUNDS"); do
  offerd offline "$HALF_CONNECTIONS" "$HALF_DELAY_MS"
  offerd online "$HALF_CONNECTIONS" "$HALF_DELAY_MS"
done | grep -v '^#'

python3 - "$RESULTS" "$PEAK" <<'EOF'
import csv, glob, statistics, sys
rows = [r for p in sorted(glob.glob(sys.argv[1] + "/*.tsv"))
        for r in csv.DictReader(open(p), delimiter="\t")]
by = {}
for r in rows:
    by.setdefault(r["server"].split("+")[0], []).append(r)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
print()
print("| server | runs | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx |")
print("|---|---:|---:|---:|---:|---:|---:|")
for server, rs in by.items():
    print(f"| {server} | {len(rs)} | {med(rs, 'rps'):,.0f} | {med(rs, 'p50_ms'):.2f} | "
          f"{med(rs, 'p99_ms'):.2f} | {med(rs, 'p999_ms'):.2f} | {sum(int(r['non2xx']) for r in rs)} |")
on, off = by.get("offerd-online"), by.get("offerd-offline")
if on and off:
    print()
    print(f"at {100 * med(on, 'rps') / float(sys.argv[2]):.0f} % of the online peak: p99 online "
          f"{med(on, 'p99_ms'):.2f} ms / offline {med(off, 'p99_ms'):.2f} ms = "
          f"{med(on, 'p99_ms') / med(off, 'p99_ms'):.2f}x (target <= 2x)")
EOF
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
