#!/usr/bin/env bash
# CPU the counting fake Delivery API (`loadtest fake-upstream`) spends per delivery request:
# starts one fake, POSTs a one-notification body (~520 bytes, shaped like offerd's) to
# /rest/v1/delivery, and divides the fake's utime+stime (/proc/<pid>/stat) over each run by
# the delivery requests it answered over that run (its GET /stats `requests`).
#
#   loadtest/fake-cpu.sh                        # loadtest run (HTTP/1.1), then h2load (h2c)
#   LOADTEST=/tmp/loadtest-old DURATION=3 loadtest/fake-cpu.sh
#
# Clients: `loadtest run` (HTTP/1.1 keep-alive, CONNECTIONS connections) and, if installed
# (`apt-get install -y nghttp2-client`), h2load over h2c with H2_CLIENTS connections of
# H2_STREAMS streams each, as offerd sends (few connections, many streams). The body's
# notification id is the same in every request, so after the first request each one is
# counted as a duplicate: the id set stays at one entry (its growth is not measured here).
#
# Environment: LOADTEST (default target/release/loadtest), BODY (default
# loadtest/requests/delivery-one-notification.json), DURATION=5 (seconds per client),
# CONNECTIONS=32, H2_CLIENTS=2, H2_STREAMS=16, CLIENTS="loadtest h2load", ROUNDS=1.
# Loopback only; every run is bounded by DURATION; the fake is stopped on exit.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOADTEST="${LOADTEST:-$REPO/target/release/loadtest}"
BODY="${BODY:-$REPO/loadtest/requests/delivery-one-notification.json}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
H2_CLIENTS="${H2_CLIENTS:-2}"
H2_STREAMS="${H2_STREAMS:-16}"
CLIENTS="${CLIENTS:-loadtest h2load}"
ROUNDS="${ROUNDS:-1}"

[[ -x "$LOADTEST" ]] || { echo "no loadtest binary at $LOADTEST" >&2; exit 2; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
TMP="$(mktemp -d "${TMPDIR:-/tmp}/fake-cpu.XXXXXX")"
FAKE_PID=""
cleanup() {
  [[ -n "$FAKE_PID" ]] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

"$LOADTEST" fake-upstream --bind 127.0.0.1:0 >"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
for _ in $(seq 50); do [[ -s "$TMP/fake.out" ]] && break; sleep 0.1; done
ADDR="$(head -n 1 "$TMP/fake.out")"
[[ -n "$ADDR" ]] || { echo "the fake did not start" >&2; cat "$TMP/fake.err" >&2; exit 2; }
URL="http://$ADDR/rest/v1/delivery"

cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # utime stime
answered() { curl -sf "http://$ADDR/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'; }

echo "# fake CPU per delivery request: $LOADTEST, body $BODY ($(wc -c <"$BODY") bytes), ${DURATION}s per client"
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for client in $CLIENTS; do
    read -r u0 s0 < <(cpu_ticks "$FAKE_PID")
    r0="$(answered)"
    case "$client" in
      loadtest)
        "$LOADTEST" run --target "$URL" --body "$BODY" --connections "$CONNECTIONS" \
          --warmup 0s --duration "${DURATION}s" >"$TMP/client.out" ;;
      h2load)
        command -v h2load >/dev/null || { echo "h2load: not installed, skipped"; continue; }
        h2load -c "$H2_CLIENTS" -m "$H2_STREAMS" -D "$DURATION" -d "$BODY" \
          -H 'content-type: application/json' "$URL" >"$TMP/client.out" ;;
      *) echo "unknown client $client" >&2; exit 2 ;;
    esac
    read -r u1 s1 < <(cpu_ticks "$FAKE_PID")
    r1="$(answered)"
    n=$((r1 - r0))
    awk -v round="$round" -v client="$client" -v n="$n" -v user=$((u1 - u0)) -v sys=$((s1 - s0)) \
      -v tick="$TICK_US" -v d="$DURATION" 'BEGIN {
        printf "round %d %-8s requests=%d (%.0f/s) fake_cpu_ms=%d (user %d, sys %d) fake_cpu_us_per_request=%.2f\n",
          round, client, n, n / d, (user + sys) * tick / 1000, user * tick / 1000, sys * tick / 1000,
          n ? (user + sys) * tick / n : 0 }'
  done
done
curl -sf "http://$ADDR/stats"
echo
