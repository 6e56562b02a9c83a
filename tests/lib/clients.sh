# What the client test runners share (tests/sdk, tests/ofrep, tests/explorer run.sh), sourced
# after `set -euo pipefail` with `label` set (the prefix of their messages):
#   offerd_argument ARG                 sets `bin`: ARG, an executable offerd, as an absolute
#                                       path; exits 2 with the usage otherwise
#   need_shared OVERRIDE FILE...        ../shared's FILEs present, or: under CI=true exit 1
#                                       (a missing suite never passes), else skip (exit 0);
#                                       OVERRIDE names the variable that points elsewhere
#   sha FILE                            the file's sha256
#   install_venv VENV REQUIREMENTS      a venv with pinned requirements, kept while they are
#                                       unchanged (a stamp holds their sha256)
#   start_scratch                       a temp folder `scratch`, a `pids` list, and a trap that
#                                       stops those PIDs, last started first, then removes it
#   port_in_log LOG                     the first loopback port LOG names, waiting 10 s at most

sha() { sha256sum "$1" | cut -d' ' -f1; }

offerd_argument() {
  local usage="usage: bash tests/$label/run.sh PATH/TO/offerd"
  [ -n "${1:-}" ] || { echo "$usage" >&2; exit 2; }
  [ -x "$1" ] || { echo "$label: $1 is not an executable offerd ($usage)" >&2; exit 2; }
  bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

need_shared() {
  local override="$1" file missing=()
  shift
  for file in "$@"; do [ -f "$file" ] || missing+=("$file"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$label: ${missing[*]} missing: put shared/ beside the repo or set $override" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "$label: skipped (not CI)"
  exit 0
}

install_venv() {
  local venv="$1" requirements="$2" stamp="$1/.installed-from"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$(sha "$requirements")" ]; then
    rm -rf "$venv"
    timeout 120 python3 -m venv "$venv"
    timeout 300 "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    sha "$requirements" >"$stamp"
  fi
}

start_scratch() {
  scratch="$(mktemp -d)"
  pids=()
  trap stop_started EXIT
}

# Stops what the runner started, by PID, last started first (offerds before their upstream).
stop_started() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$scratch"
}

port_in_log() {
  local log="$1" port=""
  for _ in $(seq 100); do
    port="$(grep -oE '127\.0\.0\.1:[1-9][0-9]*' "$log" 2>/dev/null | head -1 | cut -d: -f2)" || true
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  echo "$label: no listening port in $log:" >&2
  cat "$log" >&2
  return 1
}
