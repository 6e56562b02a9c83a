#!/usr/bin/env bash
# Artifact refresh under load, then overload and recovery, on one release offerd.
#
#   loadtest/refresh-and-overload.sh
#   ROUNDS=2 DURATION=8 OVERLOAD_CONNECTIONS=2000 loadtest/refresh-and-overload.sh
#
# 1. Starts offerd on a file artifact (the peers' request a: TEST_ARTIFACT_AB_SIMPLE) with
#    artifact.polling_interval_secs = 1, on its built-in defaults otherwise (offline,
#    access log on), on a free loopback port.
# 2. Refresh: ROUNDS rounds of two wrk runs (peers' post.lua, request a, CONNECTIONS
#    connections, DURATION s), alternating: without swaps, then with the file replaced
#    every second (atomic rename) by the other of two valid versions (their offers
#    differ). Per run: req/s, p99, non-2xx, socket errors, swaps written, and swaps
#    offerd applied (offerd_artifact_refreshes_total{result="success"}; failures too).
# 3. Overload: wrk with OVERLOAD_CONNECTIONS connections (ulimit -n raised) for
#    OVERLOAD_DURATION s, and beside it a probe, `loadtest run` with PROBE_CONNECTIONS
#    (wrk cannot tell the latency of the 503s from that of the 200s; the probe's requests
#    queue with wrk's): answers/s, non-2xx, offerd_overloaded_total, latency of all answers
#    (wrk) and of the probe's 2xx and non-2xx apart, offerd's peak RSS during it (VmRSS
#    sampled every 0.2 s) and VmHWM.
# 4. Recovery: a wrk run like step 2's right after, and offerd's RSS after it.
#
# Environment: ROUNDS=3 DURATION=10 CONNECTIONS=32 OVERLOAD_CONNECTIONS=4000
# OVERLOAD_DURATION=10 PROBE_CONNECTIONS=64, OFFERD / LOADTEST (binaries; default target/release/), PEERS
# (default ../shared/peers, read only: post.lua and the request). Any OFFERD_* variable
# passes through to offerd (e.g. OFFERD_DECISION__MAX_IN_FLIGHT=64). Loopback only; every
# step is bounded; offerd and the swapper are stopped on exit.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
LOADTEST="${LOADTEST:-$REPO/target/release/loadtest}"
PEERS="${PEERS:-$REPO/../shared/peers}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
OVERLOAD_CONNECTIONS="${OVERLOAD_CONNECTIONS:-4000}"
OVERLOAD_DURATION="${OVERLOAD_DURATION:-10}"
PROBE_CONNECTIONS="${PROBE_CONNECTIONS:-64}"

int_in() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
int_in "$ROUNDS" 1 10 || { echo "ROUNDS must be 1..10" >&2; exit 2; }
int_in "$DURATION" 2 120 || { echo "DURATION must be 2..120 s" >&2; exit 2; }
int_in "$CONNECTIONS" 2 1024 || { echo "CONNECTIONS must be 2..1024" >&2; exit 2; }
int_in "$OVERLOAD_CONNECTIONS" 1 8192 || { echo "OVERLOAD_CONNECTIONS must be 1..8192" >&2; exit 2; }
int_in "$OVERLOAD_DURATION" 4 60 || { echo "OVERLOAD_DURATION must be 4..60 s" >&2; exit 2; }
int_in "$PROBE_CONNECTIONS" 1 1024 || { echo "PROBE_CONNECTIONS must be 1..1024" >&2; exit 2; }
for bin in "$OFFERD" "$LOADTEST"; do
  [[ -x "$bin" ]] || { echo "no $bin: cargo build --release -p offerd -p loadtest" >&2; exit 2; }
done
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 2; }
done
ARTIFACT="$PEERS/requests/artifacts/TEST_ARTIFACT_AB_SIMPLE.json"
BODY="$PEERS/requests/a-ab-execute.json"
[[ -f "$ARTIFACT" && -f "$BODY" && -f "$PEERS/post.lua" ]] || { echo "peers not found at $PEERS" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/refresh-overload.XXXXXX")"
OFFERD_PID="" SWAPPER_PID="" SAMPLER_PID="" FLOOD_PID=""
cleanup() {
  for pid in "$SWAPPER_PID" "$SAMPLER_PID" "$FLOOD_PID" "$OFFERD_PID"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two valid versions of the artifact; their offers differ, so a swap changes answers.
python3 - "$ARTIFACT" "$WORK" <<'EOF'
import json, sys
artifact = json.load(open(sys.argv[1]))
json.dump(artifact, open(sys.argv[2] + "/v1.json", "w"))
for rules in artifact["rules"]["mboxes"].values():
    for rule in rules:
        for option in rule["consequence"]["options"]:
            if isinstance(option.get("content"), dict):
                option["content"]["importantValue"] = option["content"].get("importantValue", 0) + 1
artifact["meta"]["swap"] = "v2"
json.dump(artifact, open(sys.argv[2] + "/v2.json", "w"))
EOF
cp "$WORK/v1.json" "$WORK/rules.json"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
ulimit -n "$(ulimit -Hn)"
((OVERLOAD_CONNECTIONS + 256 <= $(ulimit -n))) ||
  { echo "ulimit -n $(ulimit -n) is too low for $OVERLOAD_CONNECTIONS connections" >&2; exit 2; }
(cd "$REPO" && OFFERD_SERVER__BIND="127.0.0.1:$PORT" OFFERD_ARTIFACT__LOCATION="$WORK/rules.json" \
  OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=1 OFFERD_TARGET__CLIENT=someClientId \
  OFFERD_TARGET__ORGANIZATION_ID=someOrgId exec "$OFFERD") >"$WORK/offerd.log" 2>&1 &
OFFERD_PID=$!
for _ in $(seq 1 150); do
  curl -fsS "$BASE/health/ready" >/dev/null 2>&1 && break
  kill -0 "$OFFERD_PID" 2>/dev/null || { tail -n 20 "$WORK/offerd.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$BASE/health/ready" >/dev/null || { echo "offerd not ready in 30 s" >&2; exit 1; }

metric() { # a sample's value from /metrics (0 when absent)
  curl -fsS "$BASE/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$OFFERD_PID/status"; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
wrk_run() { # SECONDS [CONNECTIONS]
  BODY_FILE="$BODY" wrk -t2 -c"${2:-$CONNECTIONS}" -d"${1}s" --timeout 10s -s "$PEERS/post.lua" \
    "$BASE/v1/offers" | grep '^RESULT'
}
# Every second, the other version replaces rules.json: written beside it, then renamed,
# so offerd never reads a half-written file.
swapper() {
  local i
  for i in $(seq 1 "$1"); do
    sleep 1
    cp "$WORK/v$((i % 2 + 1)).json" "$WORK/rules.next"
    mv -f "$WORK/rules.next" "$WORK/rules.json"
  done
}

echo "# refresh-and-overload: offerd $("$OFFERD" --version) on 127.0.0.1:$PORT, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
wrk_run 2 >/dev/null # warm-up
ROWS="$WORK/rows.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for mode in steady swapping; do
    ok0="$(metric 'offerd_artifact_refreshes_total{result="success"}')"
    bad0="$(metric 'offerd_artifact_refreshes_total{result="failure"}')"
    written=0
    if [[ "$mode" == swapping ]]; then
      written=$((DURATION - 1))
      swapper "$written" &
      SWAPPER_PID=$!
    fi
    res="$(wrk_run "$DURATION")"
    if [[ -n "$SWAPPER_PID" ]]; then wait "$SWAPPER_PID"; SWAPPER_PID=""; fi
    sleep 1.5 # the last swap's poll
    ok1="$(metric 'offerd_artifact_refreshes_total{result="success"}')"
    bad1="$(metric 'offerd_artifact_refreshes_total{result="failure"}')"
    errors=$(($(field err_connect "$res") + $(field err_read "$res") + $(field err_write "$res") + $(field err_timeout "$res")))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$(field rps "$res")" \
      "$(field p99_us "$res")" "$(field err_status "$res")" "$errors" "$written" \
      "$((ok1 - ok0))" "$((bad1 - bad0))" | tee -a "$ROWS"
  done
done
echo "# /v1/artifact after the swaps: $(curl -fsS "$BASE/v1/artifact" | head -c 400)"

# --- overload ------------------------------------------------------------------------
over0="$(metric offerd_overloaded_total)"
rss_before="$(status_kb VmRSS)"
(peak=0; while kill -0 "$OFFERD_PID" 2>/dev/null; do
   kb="$(status_kb VmRSS)"; ((kb > peak)) && peak=$kb && echo "$peak" >"$WORK/peak"
   sleep 0.2; done) &
SAMPLER_PID=$!
wrk_run "$OVERLOAD_DURATION" "$OVERLOAD_CONNECTIONS" >"$WORK/flood" &
FLOOD_PID=$!
sleep 1 # the flood's connections open
probe="$("$LOADTEST" run --target "$BASE" --body "$BODY" --connections "$PROBE_CONNECTIONS" \
  --warmup 1s --duration "$((OVERLOAD_DURATION - 3))s" | grep '^RESULT')"
wait "$FLOOD_PID"; FLOOD_PID=""
flood="$(cat "$WORK/flood")"
kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
over1="$(metric offerd_overloaded_total)"
rss_after_overload="$(status_kb VmRSS)"
hwm="$(status_kb VmHWM)"
recovery="$(wrk_run "$DURATION")"
rss_after_recovery="$(status_kb VmRSS)"

python3 - "$ROWS" <<EOF
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print()
print("| round | run | req/s | p99 ms | non-2xx | socket errors | swaps written | swaps applied | refresh failures |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {float(r[2]):,.0f} | {int(r[3]) / 1000:.2f} | {r[4]} | {r[5]} | {r[6]} | {r[7]} | {r[8]} |")
def med(mode, i):
    return statistics.median(float(r[i]) for r in rows if r[1] == mode)
s, w = med("steady", 3), med("swapping", 3)
print()
print(f"median p99: steady {s / 1000:.2f} ms, swapping {w / 1000:.2f} ms: {w / s:.2f}x; "
      f"req/s swapping / steady {med('swapping', 2) / med('steady', 2):.2f}")
o = dict(kv.split("=", 1) for kv in """$probe""".split()[1:])
f = dict(kv.split("=", 1) for kv in """$flood""".split()[1:])
rec = dict(kv.split("=", 1) for kv in """$recovery""".split()[1:])
ms = lambda us: int(us) / 1000
print()
ferr = sum(int(f[k]) for k in ("err_connect", "err_read", "err_write", "err_timeout"))
print("| overload: wrk $OVERLOAD_CONNECTIONS connections ${OVERLOAD_DURATION} s + probe $PROBE_CONNECTIONS | |")
print("|---|---:|")
print(f"| wrk: answers/s, non-2xx of all, socket errors | {float(f['rps']):,.0f}, {f['err_status']} of {f['requests']}, {ferr} |")
print(f"| wrk: latency p50 / p99 ms (all answers) | {ms(f['p50_us']):.2f} / {ms(f['p99_us']):.2f} |")
print(f"| offerd_overloaded_total (whole overload) | {$over1 - $over0} |")
print(f"| probe: 2xx / non-2xx / errors | {o['ok']} / {o['non2xx']} / {o['errors']} |")
print(f"| probe: 2xx latency p50 / p99 ms | {ms(o['ok_p50_us']):.2f} / {ms(o['ok_p99_us']):.2f} |")
print(f"| probe: non-2xx latency p50 / p99 ms | {ms(o['non2xx_p50_us']):.2f} / {ms(o['non2xx_p99_us']):.2f} |")
print(f"| RSS before / peak during / after MB | {$rss_before / 1024:.1f} / {$(cat "$WORK/peak" 2>/dev/null || echo 0) / 1024:.1f} / {$rss_after_overload / 1024:.1f} |")
print(f"| VmHWM MB | {$hwm / 1024:.1f} |")
print(f"| recovery run: req/s, p99 ms, non-2xx | {float(rec['rps']):,.0f}, {ms(rec['p99_us']):.2f}, {rec['err_status']} |")
print(f"| RSS after recovery MB | {$rss_after_recovery / 1024:.1f} |")
EOF
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
