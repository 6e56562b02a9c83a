#!/usr/bin/env bash
# The notification figures of loadtest/README.md: `loadtest e2e` against the counting fake
# at 0, 50 and 200 ms of upstream latency, memory only and with the spool, over HTTP/2
# (h2c) and HTTP/1.1. Alternating, ROUNDS rounds (default 2); prints one markdown row per
# run. Run from the repo root after `cargo build --release --locked -p offerd -p loadtest`,
# with nothing else running (check `uptime`).
set -euo pipefail
ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-10s}"
bin=target/release/loadtest
offerd=target/release/offerd

run() { # label, extra e2e args...
  local label="$1"; shift
  local out
  out="$("$bin" e2e --offerd-bin "$offerd" --duration "$DURATION" "$@" 2>&1)" || true
  local rps rss drain verdict sent lost
  rps="$(sed -n 's/^RESULT rps=\([0-9.]*\).*/\1/p' <<<"$out")"
  rss="$(sed -n 's/^offerd peak RSS (VmHWM): \(.*\)$/\1/p' <<<"$out")"
  drain="$(sed -n 's/^offerd exited .* \([0-9.]*s\) after SIGTERM$/\1/p' <<<"$out")"
  sent="$(sed -n 's/^notifications: sent=\([0-9]*\).*/\1/p' <<<"$out")"
  lost="$(sed -n 's/^notifications: .*lost=\([0-9]*\).*/\1/p' <<<"$out")"
  verdict="$(grep -o 'e2e: [A-Z]*' <<<"$out" || echo 'e2e: ERROR')"
  echo "| $label | $rps | $sent | $lost | $drain | $rss | ${verdict#e2e: } |"
}

echo "| run | decisions/s | owed (= delivered when lost is 0) | lost | drain after SIGTERM | peak RSS | verdict |"
echo "|---|---:|---:|---:|---:|---:|---|"
for round in $(seq "$ROUNDS"); do
  for delay in 0 50 200; do
    run "h2, ${delay} ms, memory" --delay-ms "$delay"
  done
  spool="$(mktemp -d)"
  run "h2, 50 ms, spool (sync=answer)" --delay-ms 50 --spool-dir "$spool"
  rm -rf "$spool"
  run "h2, 50 ms, memory (again)" --delay-ms 50
  run "HTTP/1.1, 50 ms, memory" --delay-ms 50 --http1
done
