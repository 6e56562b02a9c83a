#!/usr/bin/env bash
# Fuzzes offerd against its own OpenAPI document with schemathesis (PyPI): starts the
# given binary on its embedded demo on a free port, runs schemathesis on /openapi.json,
# and fails on any 5xx, any response that breaks the document (status, content type,
# headers, body schema), a wrong 405/Allow, a dropped connection or a panic.
#
#   bash tests/schemathesis/run.sh target/release/offerd
#
# Bounded: SCHEMATHESIS_MAX_TIME seconds of testing (default 90; schemathesis keeps
# fuzzing until it is spent) and SCHEMATHESIS_MAX_EXAMPLES cases per operation and
# phase (default 50). SCHEMATHESIS_SEED replays a run (each run prints its seed).
# schemathesis is installed, pinned (requirements.txt), into a venv under
# OFFERD_SCHEMATHESIS_DIR (default target/schemathesis, gitignored), once; the reports
# (NDJSON, JSON) and offerd's log of the last run are kept there too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[[ $# -eq 1 ]] || { echo "usage: $0 path/to/offerd" >&2; exit 64; }
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -x "$bin" ]] || { echo "schemathesis: $1 is not an executable" >&2; exit 64; }
work="${OFFERD_SCHEMATHESIS_DIR:-$repo/target/schemathesis}"
max_time="${SCHEMATHESIS_MAX_TIME:-90}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
start=$SECONDS

# --- schemathesis, pinned, in its own venv --------------------------------------------
venv="$work/venv"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" || [[ ! -x "$venv/bin/st" ]]; then
  echo "== installing schemathesis into $venv"
  command -v python3 >/dev/null || { echo "schemathesis: python3 is needed" >&2; exit 1; }
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip --disable-pip-version-check -q install -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi
echo "== $("$venv/bin/st" --version)"

# --- offerd on the embedded demo ------------------------------------------------------
run="$work/run"
rm -rf "$run"
mkdir -p "$run/cwd" "$run/report"
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
addr="127.0.0.1:$port"
# From an empty directory with nothing of this environment but PATH: the defaults,
# which are the embedded demo, offline.
offerd() { (cd "$run/cwd" && exec env -i PATH="$PATH" "$bin" --bind "$addr" "$@"); }
# Started directly (not through the function), so that $! is offerd itself.
(cd "$run/cwd" && exec env -i PATH="$PATH" "$bin" --bind "$addr") >"$run/offerd.log" 2>&1 &
offerd_pid=$!
trap 'kill "$offerd_pid" 2>/dev/null || true; wait "$offerd_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  offerd ready >/dev/null 2>&1 && break
  kill -0 "$offerd_pid" 2>/dev/null || { cat "$run/offerd.log" >&2; exit 1; }
  sleep 0.1
done
offerd ready >/dev/null 2>&1 || { echo "schemathesis: offerd at $addr never got ready" >&2; exit 1; }
echo "== offerd $(offerd --version | awk '{print $NF}') at $addr: the embedded demo, offline"

# --- the run --------------------------------------------------------------------------
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance
checks+=,unsupported_method,allow_header_conformance
seed=()
[[ -n "${SCHEMATHESIS_SEED:-}" ]] && seed=(--seed "$SCHEMATHESIS_SEED")
status=0
# From the run directory: schemathesis keeps its example database in the working one.
(cd "$run" && "$venv/bin/st" run "http://$addr/openapi.json" \
  --checks "$checks" \
  --max-examples "$max_examples" --max-time "$max_time" "${seed[@]}" \
  --request-timeout 10 --no-color \
  --report ndjson,json --report-dir "$run/report") || status=$?

"$venv/bin/python" "$here/summary.py" "$run/report"/ndjson-*.ndjson || status=1
if ! kill -0 "$offerd_pid" 2>/dev/null; then
  echo "schemathesis: offerd exited during the run; its log: $run/offerd.log" >&2
  status=1
elif grep -q "panicked" "$run/offerd.log"; then
  grep -A2 "panicked" "$run/offerd.log" >&2
  echo "schemathesis: offerd panicked; its log: $run/offerd.log" >&2
  status=1
fi
echo "== schemathesis done in $((SECONDS - start)) s: $([[ $status -eq 0 ]] && echo passed || echo FAILED)"
exit "$status"
