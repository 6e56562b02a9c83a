#!/usr/bin/env bash
# offerd's CPU per request for one feature flag, side by side: `POST /v1/attributes` for
# mbox search-feature and `POST /ofrep/v1/evaluate/flags/search-feature.max_results` for the
# same visitor and context (loadtest/requests/ofrep-*.json, the README's mapping), on one
# offerd (built-in defaults: the embedded demo, offline, access log on), alternating
# within each round.
#
#   cargo build --release --locked -p offerd -p loadtest
#   loadtest/ofrep-cpu.sh                       # ROUNDS=3 DURATION=5 CONNECTIONS=32
#
# CPU is offerd's own (utime + stime from /proc/PID/stat) over each measured run, divided
# by the answers; a 1 s warm-up run precedes each. Prints one line per run and the medians.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
LOADTEST="${LOADTEST:-$REPO/target/release/loadtest}"
ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-5}" CONNECTIONS="${CONNECTIONS:-32}"
FLAG="${FLAG:-search-feature.max_results}"

scratch="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(cd "$scratch" && exec env -i PATH="$PATH" "$OFFERD" --bind "127.0.0.1:$port") >"$scratch/offerd.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready" && break
  sleep 0.1
done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz="$(getconf CLK_TCK)"

# One measured run of `body` at `path`: prints `name rps cpu_us_per_request`.
measure() {
  local name="$1" path="$2" body="$3" before after result answered
  "$LOADTEST" run --target "http://127.0.0.1:$port$path" --body "$body" \
    --connections "$CONNECTIONS" --duration 1s --warmup 0s >/dev/null
  before="$(ticks)"
  result="$("$LOADTEST" run --target "http://127.0.0.1:$port$path" --body "$body" \
    --connections "$CONNECTIONS" --duration "${DURATION}s" --warmup 0s | grep '^RESULT')"
  after="$(ticks)"
  answered="$(sed -E 's/.* ok=([0-9]+) non2xx=([0-9]+).*/\1 \2/' <<<"$result" | awk '{print $1 + $2}')"
  non2xx="$(sed -E 's/.* non2xx=([0-9]+).*/\1/' <<<"$result")"
  [ "$non2xx" = 0 ] || { echo "ofrep-cpu: $name answered $non2xx non-2xx" >&2; exit 1; }
  awk -v n="$name" -v r="$result" -v t="$((after - before))" -v hz="$hz" -v a="$answered" 'BEGIN {
    split(r, f, " "); for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
    printf "%s %.0f %.1f\n", n, v["rps"], t * 1e6 / hz / a }'
}

results="$scratch/results"
for round in $(seq "$ROUNDS"); do
  # Alternate which goes first, so neither always runs on a warmer machine.
  if [ $((round % 2)) = 1 ]; then order="attributes ofrep"; else order="ofrep attributes"; fi
  for name in $order; do
    if [ "$name" = attributes ]; then
      measure attributes /v1/attributes "$REPO/loadtest/requests/ofrep-attributes.json"
    else
      measure ofrep "/ofrep/v1/evaluate/flags/$FLAG" "$REPO/loadtest/requests/ofrep-flag.json"
    fi
  done | tee -a "$results" | sed "s/^/round $round: /"
done
echo "medians over $ROUNDS rounds (req/s, offerd CPU µs per request):"
for name in attributes ofrep; do
  # The median of each column apart (sorted numerically; the middle line).
  rps="$(grep "^$name " "$results" | awk '{print $2}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
  cpu="$(grep "^$name " "$results" | awk '{print $3}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
  printf '%-10s %8s req/s  %6s µs/req\n' "$name" "$rps" "$cpu"
done
