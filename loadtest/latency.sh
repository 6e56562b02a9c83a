#!/usr/bin/env bash
# Paced latency of offerd on request a (the peers' a-ab-execute), side by side with
# limit-echo (actix-web's parse-and-reply ceiling), with ../shared/peers' bench.sh.
#
#   loadtest/latency.sh
#   ROUNDS=2 SCRATCH=/work/scratch/peers loadtest/latency.sh
#
# 1. Calibration: offerd's peak req/s, closed loop (wrk -c32, no delay).
# 2. Then ROUNDS rounds of, in this order:
#    - offerd at its peak again (closed loop, -c32);
#    - offerd and limit-echo at about half that peak: DELAY_MS=HALF_DELAY_MS (default 10)
#      and as many connections as make half the calibrated peak (bench.sh paces each
#      connection by a random 0.5-1.5 x DELAY_MS delay before each request, floored to
#      whole ms, so ~ connections * 1000 / (DELAY_MS - 0.5 + latency) req/s);
#    - offerd and limit-echo at the peers' paced rate: DELAY_MS=100, -c32 (~320 req/s,
#      ../shared/peers/RESULTS.md).
# It prints each run's req/s and p99 and, per setting, the medians: offerd's p99 at half
# its peak (target <= 2 ms) and offerd's p99 minus limit-echo's at the same pacing
# (target <= 0.5 ms).
#
# Environment: ROUNDS=3 DURATION=8 WARMUP=2 HALF_DELAY_MS=10 OFFERD (default
# target/release/offerd), SCRATCH (a copy of ../shared/peers with limit-echo built;
# made like side-by-side.sh's if missing; default ${TMPDIR:-/tmp}/offerd-peers),
# MAX_OTHER_CPU / RETRIES (bench.sh's; defaults 30 / 2 here: the machine is shared).
# offerd runs on its built-in defaults (offline, access log on) with the request's
# artifact and client.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$REPO/../shared/peers}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/offerd-peers}"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
ROUNDS="${ROUNDS:-3}"
HALF_DELAY_MS="${HALF_DELAY_MS:-10}"
export DURATION="${DURATION:-8}" WARMUP="${WARMUP:-2}" THREADS=2 RUNS=1 NO_COLOR=1
export MAX_OTHER_CPU="${MAX_OTHER_CPU:-30}" RETRIES="${RETRIES:-2}"
REQUEST=a-ab-execute

int_in() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
int_in "$ROUNDS" 1 10 || { echo "ROUNDS must be 1..10" >&2; exit 2; }
int_in "$HALF_DELAY_MS" 2 100 || { echo "HALF_DELAY_MS must be 2..100" >&2; exit 2; }
[[ -x "$OFFERD" ]] || { echo "no offerd binary at $OFFERD: cargo build --release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
# shellcheck source=loadtest/peers-scratch.sh
source "$REPO/loadtest/peers-scratch.sh"
peers_scratch "$PEERS_SRC" "$SCRATCH"

RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/latency.XXXXXX")"
export RESULTS
trap 'rm -rf "$RESULTS"' EXIT

offerd() { # CONNECTIONS [DELAY_MS]: one bench.sh run of offerd
  CONNECTIONS="$1" DELAY_MS="${2:-}" NAME=offerd OFFERD_TARGET__CLIENT=someClientId \
    OFFERD_TARGET__ORGANIZATION_ID=someOrgId \
    "$SCRATCH/bench.sh" "cmd=$OFFERD --artifact \$ARTIFACT --bind 127.0.0.1:\$PORT" "$REQUEST"
}
limit_echo() { CONNECTIONS="$1" DELAY_MS="${2:-}" "$SCRATCH/bench.sh" limit-echo "$REQUEST"; }
# bench.sh treats an empty DELAY_MS as unset.

echo "# latency: $ROUNDS rounds, ${WARMUP}s + ${DURATION}s per run; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
offerd 32 | grep -v '^#'
PEAK="$(python3 - "$RESULTS" <<'EOF'
import csv, glob, sys
rows = [r for p in glob.glob(sys.argv[1] + "/*.tsv") for r in csv.DictReader(open(p), delimiter="\t")]
print(int(float(rows[-1]["rps"])))
EOF
)"
rm -f "$RESULTS"/*.tsv # the calibration is not a measured run
HALF_CONNECTIONS="$(python3 -c "
peak, d = $PEAK, $HALF_DELAY_MS
# per-connection cycle: the mean floored delay (d - 0.5 ms) plus ~0.3 ms of latency
print(max(2, min(1024, round(peak / 2 * (d - 0.5 + 0.3) / 1000))))")"
echo "# calibrated peak $PEAK req/s: half-peak runs use DELAY_MS=$HALF_DELAY_MS with $HALF_CONNECTIONS connections"

for _ in $(seq 1 "$ROUNDS"); do
  offerd 32
  offerd "$HALF_CONNECTIONS" "$HALF_DELAY_MS"
  limit_echo "$HALF_CONNECTIONS" "$HALF_DELAY_MS"
  offerd 32 100
  limit_echo 32 100
done | grep -v '^#'

python3 - "$RESULTS" "$HALF_DELAY_MS" <<'EOF'
import csv, glob, statistics, sys
rows = [r for p in sorted(glob.glob(sys.argv[1] + "/*.tsv"))
        for r in csv.DictReader(open(p), delimiter="\t")]
half = sys.argv[2]
def setting(r):
    label = r["server"]
    if "+delay100ms" in label:
        return "peers' pacing (DELAY_MS=100, -c32)"
    if "+delay" in label:
        return f"half of peak (DELAY_MS={half}, -c{r['connections']})"
    return "peak (closed loop, -c32)"
table = {}
for r in rows:
    server = r["server"].split("+")[0]
    table.setdefault((setting(r), server), []).append(r)
print()
print("| setting | server | runs | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
for (s, server), rs in table.items():
    print(f"| {s} | {server} | {len(rs)} | {med(rs, 'rps'):,.0f} | {med(rs, 'p50_ms'):.2f} | "
          f"{med(rs, 'p99_ms'):.2f} | {med(rs, 'p999_ms'):.2f} | {sum(int(r['non2xx']) for r in rs)} |")
print()
peak = [rs for (s, server), rs in table.items() if server == "offerd" and s.startswith("peak")][0]
for s in sorted({s for s, _ in table if s != "peak (closed loop, -c32)"}):
    o, l = table.get((s, "offerd")), table.get((s, "limit-echo"))
    if not (o and l):
        continue
    extra = ""
    if s.startswith("half"):
        extra = f"; offerd at {100 * med(o, 'rps') / med(peak, 'rps'):.0f} % of its peak"
    print(f"{s}: p99 offerd {med(o, 'p99_ms'):.2f} ms, limit-echo {med(l, 'p99_ms'):.2f} ms, "
          f"difference {med(o, 'p99_ms') - med(l, 'p99_ms'):+.2f} ms{extra}")
EOF
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
