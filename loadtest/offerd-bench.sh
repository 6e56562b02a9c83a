#!/usr/bin/env bash
# Starts offerd the way /work/shared/peers/bench.sh expects of a `cmd=` server: on
# 127.0.0.1:$PORT with the suite artifact $ARTIFACT and the suite's client and org, its
# notifications and telemetry going to a `loadtest fake-upstream` at $UPSTREAM
# (host:port, loopback). A short command keeps bench.sh's result file name short:
#
#   UPSTREAM=127.0.0.1:PORT /work/shared/peers/bench.sh "cmd=$PWD/loadtest/offerd-bench.sh"
#
# OFFERD (default: target/release/offerd beside this script's repo) picks the binary;
# any other OFFERD_* variable set by the caller still applies.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${ARTIFACT:?ARTIFACT (the artifact file) must be set}"
: "${PORT:=8080}"
: "${UPSTREAM:?UPSTREAM=127.0.0.1:PORT of a running 'loadtest fake-upstream' must be set}"
[[ "$UPSTREAM" =~ ^(127\.[0-9.]+|localhost):([0-9]+)$ ]] ||
  { echo "UPSTREAM must be a loopback host:port (got $UPSTREAM)" >&2; exit 2; }
export OFFERD_TARGET__CLIENT="${OFFERD_TARGET__CLIENT:-someClientId}"
export OFFERD_TARGET__ORGANIZATION_ID="${OFFERD_TARGET__ORGANIZATION_ID:-someOrgId}"
export OFFERD_UPSTREAM__SERVER_DOMAIN="${BASH_REMATCH[1]}"
export OFFERD_UPSTREAM__PORT="${BASH_REMATCH[2]}"
export OFFERD_UPSTREAM__SECURE=false
export OFFERD_UPSTREAM__PIN_SERVER_DOMAIN=true
export OFFERD_UPSTREAM__OFFLINE=false
export OFFERD_ARTIFACT__POLLING_INTERVAL_SECS=0
export NO_COLOR=1
exec "${OFFERD:-$REPO/target/release/offerd}" --artifact "$ARTIFACT" --bind "127.0.0.1:$PORT"
