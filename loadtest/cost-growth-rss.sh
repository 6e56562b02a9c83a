#!/usr/bin/env bash
# The real offerd on the synthetic artifacts of `benches/cost_growth.rs` (10, 100, 1,000
# and 5,000 activities): its RSS idle after loading each, and its req/s, p99, RSS and
# peak RSS (VmHWM) after a short wrk run of the 10-mbox request.
#
#   loadtest/cost-growth-rss.sh
#   ROUNDS=2 MBOXES=50 loadtest/cost-growth-rss.sh
#
# The bench writes the artifacts and requests (COST_GROWTH_WRITE, in test mode: one
# pass, no timing) to a temporary folder, removed at the end. Each round starts offerd
# once per size, in increasing size, on its built-in defaults (offline, access log on),
# on a free loopback port.
#
# Environment: ROUNDS=1 DURATION=5 CONNECTIONS=32 MBOXES=10 (1, 10 or 50), OFFERD
# (default target/release/offerd), PEERS (../shared/peers, read only: post.lua).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
PEERS="${PEERS:-$REPO/../shared/peers}"
ROUNDS="${ROUNDS:-1}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
MBOXES="${MBOXES:-10}"

int_in() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
int_in "$ROUNDS" 1 5 || { echo "ROUNDS must be 1..5" >&2; exit 2; }
int_in "$DURATION" 1 60 || { echo "DURATION must be 1..60 s" >&2; exit 2; }
int_in "$CONNECTIONS" 2 1024 || { echo "CONNECTIONS must be 2..1024" >&2; exit 2; }
[[ "$MBOXES" =~ ^(1|10|50)$ ]] || { echo "MBOXES must be 1, 10 or 50" >&2; exit 2; }
[[ -x "$OFFERD" ]] || { echo "no offerd binary at $OFFERD: cargo build --release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cost-growth.XXXXXX")"
OFFERD_PID=""
cleanup() {
  [[ -z "$OFFERD_PID" ]] || { kill "$OFFERD_PID" 2>/dev/null; wait "$OFFERD_PID" 2>/dev/null; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

(cd "$REPO" && COST_GROWTH_WRITE="$WORK" cargo bench --quiet --bench cost_growth -- --test >/dev/null)
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$OFFERD_PID/status"; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "# cost-growth-rss: offerd $("$OFFERD" --version), $MBOXES-mbox request, wrk -c$CONNECTIONS ${DURATION}s; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | activities | artifact MB | RSS idle MB | req/s | p99 ms | non-2xx | RSS after load MB | VmHWM MB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for n in 10 100 1000 5000; do
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    (cd "$REPO" && OFFERD_TARGET__CLIENT=growthclient OFFERD_TARGET__ORGANIZATION_ID=growthOrg@AdobeOrg \
      exec "$OFFERD" --artifact "$WORK/artifact-$n.json" --bind "127.0.0.1:$port") >"$WORK/offerd.log" 2>&1 &
    OFFERD_PID=$!
    for _ in $(seq 1 300); do
      curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
      kill -0 "$OFFERD_PID" 2>/dev/null || { tail -n 20 "$WORK/offerd.log" >&2; exit 1; }
      sleep 0.2
    done
    sleep 1 # the load's transient buffers returned
    idle="$(status_kb VmRSS)"
    res="$(BODY_FILE="$WORK/request-$n-$MBOXES.json" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" \
      -s "$PEERS/post.lua" "http://127.0.0.1:$port/v1/offers" | grep '^RESULT')"
    rss="$(status_kb VmRSS)" hwm="$(status_kb VmHWM)"
    kill "$OFFERD_PID"; wait "$OFFERD_PID" 2>/dev/null || true; OFFERD_PID=""
    size="$(stat -c %s "$WORK/artifact-$n.json")"
    awk -v r="$round" -v n="$n" -v s="$size" -v i="$idle" -v rps="$(field rps "$res")" \
      -v p="$(field p99_us "$res")" -v e="$(field err_status "$res")" -v rss="$rss" -v h="$hwm" \
      'BEGIN { printf "| %d | %d | %.1f | %.1f | %.0f | %.2f | %d | %.1f | %.1f |\n",
               r, n, s / 1048576, i / 1024, rps, p / 1000, e, rss / 1024, h / 1024 }'
  done
done
echo
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
