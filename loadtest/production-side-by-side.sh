#!/usr/bin/env bash
# The production side by side: offerd sending its notifications (with and without a spool,
# over h2c and HTTP/1.1) against offerd offline and Adobe's Node SDK in production mode, in
# ONE run, servers alternating within each round, all sending to ONE counting fake Delivery
# API (`loadtest fake-upstream --delay-ms 50`) that this script starts.
#
#   cargo build --release --locked -p offerd -p loadtest
#   loadtest/production-side-by-side.sh                      # 2 rounds, 32 connections, 2 s + 8 s
#   ROUNDS=1 DURATION=3 WARMUP=1 loadtest/production-side-by-side.sh      # a quick check
#   SERVERS="offerd-spool-h2c node-prod" loadtest/production-side-by-side.sh
#
# Servers (SERVERS, in this order in each round; default all six):
#   offerd-offline     offerd's built-in defaults (upstream.offline = true): nothing is sent,
#                      each notification owed is counted as dropped ("offline")
#   offerd-spool-h2c   online, spool in a fresh directory (OFFERD_SPOOL__DIR), HTTP/2 without
#                      TLS to the fake (OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE=true)
#   offerd-spool-h1    online, spool, HTTP/1.1
#   offerd-spool-h2c-reqwest  as offerd-spool-h2c, with notifications through the general
#                      HTTP client (OFFERD_BATCHER__DIRECT_HTTP2=false); not in the default
#                      set: it measures what the lean notification client saves
#   offerd-memory-h2c  online, no spool (memory only), h2c
#   baseline-spool-h2c as offerd-spool-h2c, run by the binary at BASELINE (an older build):
#                      a change measured before/after in one run; not in the default set
#   node-prod          ../shared/peers node-sdk/server-prod.js (WORKERS=2): the SDK's
#                      notifications and telemetry really sent to the fake (FAKE=127.0.0.1:port)
#   node-offline       node-sdk/server.js (WORKERS=2): notifications answered in process, for
#                      offerd's lead over node offline vs in production (NODE_OFFLINE=0 drops it)
# offerd online runs with OFFERD_UPSTREAM__{SERVER_DOMAIN=127.0.0.1,PORT,SECURE=false,
# PIN_SERVER_DOMAIN=true,OFFLINE=false}; every offerd with OFFERD_LOG__ACCESS=false,
# OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0, OFFERD_TARGET__LEARN_LOCATION_HINT=false, and
# from an empty working directory (no config.toml: built-in defaults otherwise).
# Every server decides the same body (BODY) on the same artifact (ARTIFACT), for the same
# client (CLIENT/ORG: the demo artifact's), checked by a probe before its load (`check`:
# its options must equal the first server's).
#
# Each run: start the server on a free loopback port, wait for /health/ready (30 s at most),
# probe, load it with `loadtest run --connections CONNECTIONS --warmup WARMUPs --duration
# DURATIONs` (the same generator for every server), SIGTERM it and wait (WAIT_EXIT s at most,
# then SIGKILL) for it to drain and exit. Measured per run:
#   req/s, p50, p99           loadtest's RESULT line (the measured window, after the warm-up)
#   server CPU µs/req         utime+stime of the server (node: the primary and its workers)
#                             over the measured window (sampled when the warm-up ends and
#                             when the load ends) / the answers of that window
#   fake, load CPU µs/req     the same for the fake and for the load generator
#   peak RSS                  VmHWM, read until the exit (node: sum of primary + workers)
#   owed, received, lost      received = the fake's `notifications` from the server's start to
#                             its exit; owed = offerd_notifications_owed_total at GET /metrics
#                             just before SIGTERM (node-prod: its 2xx answers, from each
#                             worker's exit line, × the notifications one answer owes, from the
#                             probe); lost = owed − received. offerd offline: owed are dropped
#                             offline (not lost), node offline: answered in process (n/a).
# Then the medians over the rounds as a Markdown table, and the ratios: each online offerd
# / offerd offline, and offerd-spool-h2c / node-prod against offerd-offline / node-offline.
#
# Environment: ROUNDS=2 CONNECTIONS=32 DURATION=8 WARMUP=2 (seconds), SERVERS (a subset, in
# any order), OFFERD (default target/release/offerd), LOADTEST (default
# target/release/loadtest), FAKE_LOADTEST (the loadtest binary the fake runs; default
# LOADTEST), FAKE_DELAY_MS=50, SCRATCH (where ../shared/peers is copied and npm-installed;
# default ${TMPDIR:-/tmp}/offerd-peers), NODE_OFFLINE=1, ARTIFACT, BODY, CLIENT, ORG,
# WAIT_EXIT=30. Raw rows and logs stay in a temp directory (printed); spool directories are
# removed after their run. Loopback only; every run is bounded; everything this script
# starts is stopped when it exits.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$REPO/../shared/peers}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/offerd-peers}"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
LOADTEST="${LOADTEST:-$REPO/target/release/loadtest}"
FAKE_LOADTEST="${FAKE_LOADTEST:-$LOADTEST}"
FAKE_DELAY_MS="${FAKE_DELAY_MS:-50}"
ROUNDS="${ROUNDS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
WAIT_EXIT="${WAIT_EXIT:-30}"
NODE_OFFLINE="${NODE_OFFLINE:-1}"
ARTIFACT="${ARTIFACT:-$REPO/examples/demo-artifact.json}"
BODY="${BODY:-$REPO/examples/requests/execute-one-mbox.json}"
# The demo artifact's client (meta.clientCode) and offerd's default organization
# (config.toml): the allocation hashes the client, so every server must use the same.
CLIENT="${CLIENT:-demo}"
ORG="${ORG:-DEMO00000000000000000000@AdobeOrg}"
ALL_SERVERS="offerd-offline offerd-spool-h2c offerd-spool-h1 offerd-memory-h2c node-prod"
[[ "$NODE_OFFLINE" == 1 ]] && ALL_SERVERS+=" node-offline"
SERVERS="${SERVERS:-$ALL_SERVERS}"

die() { echo "production-side-by-side: $*" >&2; exit 2; }
for knob in ROUNDS CONNECTIONS DURATION WARMUP WAIT_EXIT FAKE_DELAY_MS; do
  [[ "${!knob}" =~ ^[0-9]+$ ]] || die "$knob must be a whole number (got ${!knob})"
done
((ROUNDS >= 1 && DURATION >= 1 && DURATION <= 600 && WARMUP <= 600 && WAIT_EXIT <= 600)) ||
  die "need ROUNDS >= 1, 1 <= DURATION <= 600, WARMUP <= 600, WAIT_EXIT <= 600"
for server in $SERVERS; do
  known="offerd-offline offerd-spool-h2c offerd-spool-h2c-reqwest offerd-spool-h1 offerd-memory-h2c baseline-spool-h2c node-prod node-offline"
  [[ " $known " == *" $server "* ]] || die "unknown server $server (known: $known)"
done
[[ -x "$LOADTEST" ]] || die "no loadtest binary at $LOADTEST: cargo build --release -p loadtest"
[[ -x "$FAKE_LOADTEST" ]] || die "no loadtest binary at $FAKE_LOADTEST (FAKE_LOADTEST)"
[[ " $SERVERS " != *" offerd-"* || -x "$OFFERD" ]] || die "no offerd binary at $OFFERD: cargo build --release -p offerd"
[[ " $SERVERS " != *" baseline-"* || -x "${BASELINE:-}" ]] || die "baseline-spool-h2c needs BASELINE=<an offerd binary>"
[[ -f "$ARTIFACT" && -f "$BODY" ]] || die "artifact $ARTIFACT or body $BODY not found"
ARTIFACT="$(cd "$(dirname "$ARTIFACT")" && pwd)/$(basename "$ARTIFACT")"
BODY="$(cd "$(dirname "$BODY")" && pwd)/$(basename "$BODY")"
for tool in curl python3; do command -v "$tool" >/dev/null || die "$tool not found"; done

if [[ " $SERVERS " == *" node-"* ]]; then
  command -v node >/dev/null || die "node not found"
  # shellcheck source=loadtest/peers-scratch.sh
  source "$REPO/loadtest/peers-scratch.sh"
  peers_scratch "$PEERS_SRC" "$SCRATCH" node no-limit-echo
fi

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/production-side-by-side.XXXXXX")"
mkdir -p "$RUN_DIR/cwd" # offerd's working directory: no config.toml in it
ROWS="$RUN_DIR/rows.tsv"
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# --- processes: everything started is tracked and stopped on exit --------------------
STARTED=() # pids of the fake, the server running, the load running
# shellcheck disable=SC2317 # (called by the EXIT trap)
cleanup() {
  local pid kids=()
  for pid in "${STARTED[@]}"; do
    # node's workers too (children of the primary), before the primary goes.
    mapfile -t -O "${#kids[@]}" kids < <(pgrep -P "$pid" 2>/dev/null || true)
  done
  for pid in "${STARTED[@]}" "${kids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 30); do
    local alive=0
    for pid in "${STARTED[@]}" "${kids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${STARTED[@]}" "${kids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$RUN_DIR"/spool-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM
forget() { # drops a pid from STARTED once it has been reaped
  local keep=() pid
  for pid in "${STARTED[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
  STARTED=("${keep[@]}")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
tree() { echo "$1"; pgrep -P "$1" 2>/dev/null || true; } # a pid and its children
cpu_ticks() { # utime+stime of the pids, summed (those gone count 0)
  local pid total=0 t
  for pid in "$@"; do
    t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  echo "$total"
}
hwm_kib() { # VmHWM of the pids, summed
  local pid total=0 k
  for pid in "$@"; do
    k="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + ${k:-0}))
  done
  echo "$total"
}
fake_stats() { # requests notifications duplicate_notification_ids
  curl -sf --max-time 5 "http://$FAKE/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["requests"], s["notifications"], s["duplicate_notification_ids"])'
}
metric() { # the sample named $2 (labels included) at offerd's /metrics on port $1, or n/a
  curl -sf --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { v = $2 } END { print (v == "" ? "n/a" : v) }'
}
kv() { # the value of key $1 in a `key=value ...` line
  tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# --- the fake Delivery API, one for the whole run ------------------------------------
"$FAKE_LOADTEST" fake-upstream --bind 127.0.0.1:0 --delay-ms "$FAKE_DELAY_MS" \
  >"$RUN_DIR/fake.out" 2>"$RUN_DIR/fake.err" &
FAKE_PID=$!
STARTED+=("$FAKE_PID")
for _ in $(seq 100); do [[ -s "$RUN_DIR/fake.out" ]] && break; sleep 0.05; done
FAKE="$(head -n 1 "$RUN_DIR/fake.out")"
[[ "$FAKE" =~ ^127\.0\.0\.1:([0-9]+)$ ]] || die "the fake did not start: $(cat "$RUN_DIR/fake.err")"
FAKE_PORT="${BASH_REMATCH[1]}"

# --- one run ---------------------------------------------------------------------------
start_server() { # $1 server, $2 port, $3 log; sets SERVER_PID
  local server="$1" port="$2" log="$3" spool="$RUN_DIR/spool-$1-$2"
  local common=(OFFERD_SERVER__BIND="127.0.0.1:$port" OFFERD_ARTIFACT__LOCATION="$ARTIFACT"
    OFFERD_TARGET__CLIENT="$CLIENT" OFFERD_TARGET__ORGANIZATION_ID="$ORG"
    OFFERD_LOG__ACCESS=false OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0
    OFFERD_TARGET__LEARN_LOCATION_HINT=false NO_COLOR=1)
  local online=(OFFERD_UPSTREAM__SERVER_DOMAIN=127.0.0.1 OFFERD_UPSTREAM__PORT="$FAKE_PORT"
    OFFERD_UPSTREAM__SECURE=false OFFERD_UPSTREAM__PIN_SERVER_DOMAIN=true
    OFFERD_UPSTREAM__OFFLINE=false)
  local envs
  case "$server" in
    offerd-offline) envs=("${common[@]}") ;;
    offerd-spool-h2c | baseline-spool-h2c) envs=("${common[@]}" "${online[@]}"
      OFFERD_SPOOL__DIR="$spool" OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE=true) ;;
    offerd-spool-h2c-reqwest) envs=("${common[@]}" "${online[@]}" OFFERD_SPOOL__DIR="$spool"
      OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE=true OFFERD_BATCHER__DIRECT_HTTP2=false) ;;
    offerd-spool-h1) envs=("${common[@]}" "${online[@]}" OFFERD_SPOOL__DIR="$spool") ;;
    offerd-memory-h2c) envs=("${common[@]}" "${online[@]}" OFFERD_UPSTREAM__HTTP2_PRIOR_KNOWLEDGE=true) ;;
    node-prod) envs=(PORT="$port" ARTIFACT="$ARTIFACT" CLIENT="$CLIENT" ORG="$ORG" WORKERS=2
      FAKE="$FAKE") ;;
    node-offline) envs=(PORT="$port" ARTIFACT="$ARTIFACT" CLIENT="$CLIENT" ORG="$ORG" WORKERS=2) ;;
  esac
  [[ "$server" == *-spool-* ]] && mkdir -p "$spool"
  case "$server" in
    offerd-*) (cd "$RUN_DIR/cwd" && exec env "${envs[@]}" "$OFFERD" serve) >"$log" 2>&1 & ;;
    baseline-*) (cd "$RUN_DIR/cwd" && exec env "${envs[@]}" "$BASELINE" serve) >"$log" 2>&1 & ;;
    node-prod) (cd "$SCRATCH" && exec env "${envs[@]}" node node-sdk/server-prod.js) >"$log" 2>&1 & ;;
    node-offline) (cd "$SCRATCH" && exec env "${envs[@]}" node node-sdk/server.js) >"$log" 2>&1 & ;;
  esac
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
}

stop_server() { # after a failed run: SIGKILL the server (and node's workers), reap it
  local pids
  mapfile -t pids < <(tree "$SERVER_PID")
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  forget "$SERVER_PID"
}

# What the probe answer decided (each execute mbox's and the page load's option contents)
# and how many notifications it owes (execute mboxes and page load with options).
probe_summary() {
  python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
execute = (a.get("response") or {}).get("execute") or {}
decided = [[m.get("name"), [o.get("content") for o in m.get("options") or []]]
           for m in execute.get("mboxes") or []]
page = execute.get("pageLoad") or {}
decided.append(["pageLoad", [o.get("content") for o in page.get("options") or []]])
owed = sum(1 for m in execute.get("mboxes") or [] if m.get("options")) + (1 if page.get("options") else 0)
print(owed, json.dumps(decided, sort_keys=True))' "$1"
}

REF_DECIDED=""
run_one() { # $1 round, $2 server: appends one row to $ROWS
  local round="$1" server="$2" port log
  port="$(free_port)"
  log="$RUN_DIR/$server-r$round.log"
  read -r _ f_notes0 f_dups0 < <(fake_stats)
  start_server "$server" "$port" "$log"
  local base="http://127.0.0.1:$port" ready=0
  for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    if curl -sf --max-time 1 -o /dev/null "$base/health/ready"; then ready=1; break; fi
    sleep 0.1
  done
  if ((!ready)); then
    echo "$server (round $round): not ready within 30 s or exited; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    stop_server
    return 1
  fi
  # The probe: what it decides (checked against the first server's) and what it owes.
  local check="same" owed_each decided
  curl -sf --max-time 10 -X POST -H 'content-type: application/json' --data-binary "@$BODY" \
    "$base/v1/offers" >"$RUN_DIR/probe.json" || { echo "$server: the probe failed" >&2; stop_server; return 1; }
  read -r owed_each decided < <(probe_summary "$RUN_DIR/probe.json")
  if [[ -z "$REF_DECIDED" ]]; then
    REF_DECIDED="$decided"
    echo "# decided by $server (the reference): $decided"
  elif [[ "$decided" != "$REF_DECIDED" ]]; then
    check="DIFFERENT"
    echo "# $server decided otherwise: $decided" >&2
  fi

  # The load; CPU sampled when its warm-up ends and when it ends (the load generator
  # reports its own: `cpu_us` of its measured window).
  local load_out="$RUN_DIR/$server-r$round.load"
  "$LOADTEST" run --target "$base" --body "$BODY" --connections "$CONNECTIONS" \
    --warmup "${WARMUP}s" --duration "${DURATION}s" >"$load_out" 2>&1 &
  local load_pid=$!
  STARTED+=("$load_pid")
  sleep "$WARMUP"
  local pids s0 f0
  mapfile -t pids < <(tree "$SERVER_PID")
  s0="$(cpu_ticks "${pids[@]}")"
  f0="$(cpu_ticks "$FAKE_PID")"
  read -r f_reqs_w0 _ < <(fake_stats)
  local load_status=0
  wait "$load_pid" || load_status=$?
  forget "$load_pid"
  local s1 f1
  mapfile -t pids < <(tree "$SERVER_PID")
  s1="$(cpu_ticks "${pids[@]}")"
  f1="$(cpu_ticks "$FAKE_PID")"
  read -r f_reqs_w1 _ < <(fake_stats)
  local result
  result="$(grep '^RESULT ' "$load_out" || true)"
  if ((load_status != 0)) || [[ -z "$result" ]]; then
    echo "$server (round $round): the load failed (exit $load_status):" >&2
    tail -n 5 "$load_out" >&2
    stop_server
    return 1
  fi

  # Owed, before SIGTERM.
  local owed="n/a" dropped_offline="n/a"
  case "$server" in
    offerd-* | baseline-*)
      owed="$(metric "$port" offerd_notifications_owed_total)"
      dropped_offline="$(metric "$port" 'offerd_notifications_dropped_total{reason="offline"}')" ;;
  esac

  # SIGTERM, then wait for the drain and the exit, sampling the peak RSS.
  local hwm h exit_status="" waited=0
  mapfile -t pids < <(tree "$SERVER_PID")
  hwm="$(hwm_kib "${pids[@]}")"
  kill -TERM "$SERVER_PID"
  while kill -0 "$SERVER_PID" 2>/dev/null && [[ -z "$(awk '$3 == "Z"' "/proc/$SERVER_PID/stat" 2>/dev/null)" ]]; do
    h="$(hwm_kib "${pids[@]}")"
    ((h > hwm)) && hwm=$h
    if ((waited >= WAIT_EXIT * 10)); then
      echo "$server (round $round): still running ${WAIT_EXIT}s after SIGTERM: SIGKILL" >&2
      kill -KILL "${pids[@]}" 2>/dev/null || true
      exit_status="killed"
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  local status=0
  wait "$SERVER_PID" || status=$?
  forget "$SERVER_PID"
  exit_status="${exit_status:-$status}"
  local drain_s
  drain_s="$(awk -v w="$waited" 'BEGIN { printf "%.1f", w / 10 }')"
  rm -rf "$RUN_DIR/spool-$server-$port"

  # What the fake received from this server, start to exit.
  local notes1 dups1
  read -r _ notes1 dups1 < <(fake_stats)
  local received=$((notes1 - f_notes0)) duplicated=$((dups1 - f_dups0))
  if [[ "$server" == node-prod ]]; then
    # Each worker prints `node-sdk-stats {json}` as it exits; 2xx answers × owed per answer.
    owed="$(grep -h '^node-sdk-stats ' "$log" | sed 's/^node-sdk-stats //' | python3 -c '
import json, sys
ok = sum(json.loads(l)["ok"] for l in sys.stdin if l.strip())
print(ok * int(sys.argv[1]))' "$owed_each")"
  fi
  local lost="n/a"
  case "$server" in
    offerd-offline | node-offline) ;;
    *) [[ "$owed" =~ ^[0-9.]+$ ]] && lost=$(awk -v o="$owed" -v r="$received" 'BEGIN { printf "%d", o - r }') ;;
  esac

  # One row.
  local rps p50 p99 ok non2xx errors answered load_cpu_us
  rps="$(kv rps <<<"$result")"
  p50="$(kv p50_us <<<"$result")"
  p99="$(kv p99_us <<<"$result")"
  ok="$(kv ok <<<"$result")"
  non2xx="$(kv non2xx <<<"$result")"
  errors="$(kv errors <<<"$result")"
  load_cpu_us="$(kv cpu_us <<<"$result")"
  answered=$((ok + non2xx))
  awk -v OFS='\t' -v round="$round" -v server="$server" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
    -v n="$answered" -v s=$((s1 - s0)) -v f=$((f1 - f0)) -v load_cpu="${load_cpu_us:-0}" \
    -v tick="$TICK_US" -v fr=$((f_reqs_w1 - f_reqs_w0)) -v hwm="$hwm" -v owed="$owed" \
    -v received="$received" -v lost="$lost" -v dup="$duplicated" -v dropped="$dropped_offline" \
    -v check="$check" -v exit_status="$exit_status" -v drain="$drain_s" -v non2xx="$non2xx" \
    -v errors="$errors" 'BEGIN {
      srv = n ? s * tick / n : 0; fk = n ? f * tick / n : 0
      ld = n ? load_cpu / n : 0
      fk_del = fr ? f * tick / fr : 0
      print round, server, rps, p50 / 1000, p99 / 1000, sprintf("%.1f", srv), sprintf("%.1f", fk),
        sprintf("%.1f", ld), sprintf("%.1f", hwm / 1024), owed, received, lost, dup, dropped,
        check, exit_status, drain, non2xx, errors, sprintf("%.1f", fk_del)
    }' >>"$ROWS"
  tail -n 1 "$ROWS" | awk -F'\t' '{
    printf "round %s %-18s %9.1f req/s p50 %.2f p99 %.2f ms | CPU µs/req server %s fake %s load %s | RSS %s MB | owed %s received %s lost %s dup %s | %s | exit %s after %ss%s\n",
      $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17,
      ($18 + $19 > 0 ? sprintf(" | NOT ALL 2xx: non-2xx %s, errors %s", $18, $19) : "") }'
}

HEAD="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# production side by side: $ROUNDS round(s) of: $SERVERS"
echo "# loadtest run --connections $CONNECTIONS --warmup ${WARMUP}s --duration ${DURATION}s; fake $FAKE (--delay-ms $FAKE_DELAY_MS)"
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the start; HEAD $HEAD"
[[ " $SERVERS " == *" offerd-"* ]] && echo "# offerd: $OFFERD ($("$OFFERD" --version 2>/dev/null || echo '?'))"
echo "# artifact $ARTIFACT, body $BODY, client $CLIENT; raw rows and logs in $RUN_DIR"
printf 'round\tserver\trps\tp50_ms\tp99_ms\tserver_cpu_us\tfake_cpu_us\tload_cpu_us\tpeak_rss_mb\towed\treceived\tlost\tduplicated\tdropped_offline\tcheck\texit\tdrain_s\tnon2xx\terrors\tfake_cpu_us_per_delivery\n' >"$ROWS"
failed=0
for round in $(seq 1 "$ROUNDS"); do
  for server in $SERVERS; do
    run_one "$round" "$server" || failed=1
  done
done
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end"

python3 - "$ROWS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
order = []
for r in rows:
    if r["server"] not in order:
        order.append(r["server"])
def runs(server):
    return [r for r in rows if r["server"] == server]
def med(server, key):
    values = []
    for r in runs(server):
        try:
            values.append(float(r[key]))
        except ValueError:
            pass
    return statistics.median(values) if values else float("nan")
def joined(server, key):
    return "/".join(r[key] for r in runs(server))
print()
print("| server | runs | req/s | p50 ms | p99 ms | server CPU µs/req | fake CPU µs/req | load CPU µs/req "
      "| peak RSS MB | owed | received | lost | check |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
def check(s):
    marks = {r["check"] for r in runs(s)}
    if any(int(r["non2xx"] or 0) + int(r["errors"] or 0) for r in runs(s)):
        marks.add("non-2xx or errors")
    if any(r["exit"] != "0" for r in runs(s)):
        marks.add("exit " + "/".join(r["exit"] for r in runs(s)))
    return ", ".join(sorted(marks))
for s in order:
    owed = joined(s, "owed")
    if s == "offerd-offline":
        owed = joined(s, "dropped_offline") + " dropped offline"
    print(f"| {s} | {len(runs(s))} | {med(s, 'rps'):,.0f} | {med(s, 'p50_ms'):.2f} | {med(s, 'p99_ms'):.2f} "
          f"| {med(s, 'server_cpu_us'):.1f} | {med(s, 'fake_cpu_us'):.1f} | {med(s, 'load_cpu_us'):.1f} "
          f"| {med(s, 'peak_rss_mb'):.1f} | {owed} | {joined(s, 'received')} | {joined(s, 'lost')} "
          f"| {check(s)} |")
print()
print("(medians over the rounds; owed, received and lost per run, in round order)")
if "offerd-offline" in order:
    online = [s for s in order if s.startswith("offerd-") and s != "offerd-offline"]
    if online:
        print()
        print("| offerd online / offline | req/s | CPU µs/req |")
        print("|---|---:|---:|")
        for s in online:
            print(f"| {s} | {100 * med(s, 'rps') / med('offerd-offline', 'rps'):.0f} % "
                  f"| {med(s, 'server_cpu_us') / med('offerd-offline', 'server_cpu_us'):.2f}× |")
pairs = [("production", "offerd-spool-h2c", "node-prod"), ("offline", "offerd-offline", "node-offline")]
pairs = [p for p in pairs if p[1] in order and p[2] in order]
if pairs:
    print()
    print("offerd's lead over node, production vs offline:")
    print()
    print("| setting | offerd / node req/s | node / offerd CPU µs/req |")
    print("|---|---:|---:|")
    for name, o, n in pairs:
        print(f"| {name} ({o} / {n}) | {med(o, 'rps') / med(n, 'rps'):.1f}× "
              f"| {med(n, 'server_cpu_us') / med(o, 'server_cpu_us'):.1f}× |")
EOF
exit "$failed"
