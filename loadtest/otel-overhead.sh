#!/usr/bin/env bash
# The cost of OpenTelemetry traces (issue 17), side by side: offerd's closed-loop
# throughput and latency on the one-mbox on-device decision with tracing off, with
# otel.sample_ratio 0.01 and with 1.0, exporting to an OTLP/HTTP sink on loopback (a
# few lines of Python answering 200), its notifications going to `loadtest
# fake-upstream`. The modes alternate for ROUNDS rounds; each run prints loadtest's
# RESULT line prefixed by its mode.
#
#   cargo build --release --locked -p offerd -p loadtest
#   ROUNDS=2 DURATION=10s CONNECTIONS=32 bash loadtest/otel-overhead.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
LOADTEST="${LOADTEST:-$REPO/target/release/loadtest}"
: "${ROUNDS:=2}" "${DURATION:=10s}" "${WARMUP:=2s}" "${CONNECTIONS:=32}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$LOADTEST" fake-upstream --bind 127.0.0.1:0 >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
until [[ -s "$work/fake.out" ]]; do sleep 0.1; done
upstream="$(head -n 1 "$work/fake.out")"
upstream="${upstream##*/}"

sink_port="$(free_port)"
python3 - "$sink_port" >"$work/sink.log" 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
pids+=($!)

run() { # mode ratio
  local mode="$1" ratio="$2" port env=()
  port="$(free_port)"
  [[ "$ratio" != off ]] && env=(OFFERD_OTEL__ENDPOINT="http://127.0.0.1:$sink_port" OFFERD_OTEL__SAMPLE_RATIO="$ratio")
  env "${env[@]}" OFFERD_UPSTREAM__SERVER_DOMAIN="${upstream%:*}" OFFERD_UPSTREAM__PORT="${upstream##*:}" \
    OFFERD_UPSTREAM__SECURE=false OFFERD_UPSTREAM__PIN_SERVER_DOMAIN=true \
    OFFERD_UPSTREAM__OFFLINE=false OFFERD_LOG__ACCESS=false NO_COLOR=1 \
    "$OFFERD" --bind "127.0.0.1:$port" >"$work/offerd-$mode.log" 2>&1 &
  local pid=$!
  until curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; do sleep 0.1; done
  local result
  result="$("$LOADTEST" run --target "http://127.0.0.1:$port" \
    --body "$REPO/examples/requests/execute-one-mbox.json" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" | grep '^RESULT')"
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$mode $result"
}

for round in $(seq "$ROUNDS"); do
  run off off
  run ratio-0.01 0.01
  run ratio-1.0 1.0
done
