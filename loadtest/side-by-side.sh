#!/usr/bin/env bash
# offerd, Adobe's Node SDK (node-sdk-cluster, on-device) and actix-web's parse-and-reply
# ceiling (limit-echo), measured side by side in one run with ../shared/peers' bench.sh:
# the same requests, the same wrk settings, servers alternating within each round.
#
#   loadtest/side-by-side.sh                 # 3 rounds of requests a, b, c and d
#   ROUNDS=2 REQUESTS="a-ab-execute" loadtest/side-by-side.sh
#
# Requests: a, b, c from ../shared/peers/requests (the conformance suite), and d: a page
# load on ../shared/real-artifact (property token, Safari, its 14 global-mbox rules).
# offerd runs on its built-in defaults (offline: nothing is sent) with the request's
# artifact and client. It prints, per request, the medians over the rounds and the ratios
# offerd/node and offerd/limit-echo of req/s, with server CPU µs per request and peak RSS.
#
# Environment: ROUNDS=3 CONNECTIONS=32 DURATION=8 WARMUP=2 (bench.sh's knobs pass through,
# e.g. DELAY_MS for a paced run), REQUESTS (names; default all four), OFFERD (binary;
# default target/release/offerd), SCRATCH (where ../shared/peers is copied and built,
# because ../shared may be read-only; default ${TMPDIR:-/tmp}/offerd-peers), SERVERS
# (default "offerd node-sdk-cluster limit-echo").
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$REPO/../shared/peers}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/offerd-peers}"
OFFERD="${OFFERD:-$REPO/target/release/offerd}"
ROUNDS="${ROUNDS:-3}"
REQUESTS="${REQUESTS:-a-ab-execute b-multi-execute-prefetch c-views-prefetch d-real-artifact}"
SERVERS="${SERVERS:-offerd node-sdk-cluster limit-echo}"
export CONNECTIONS="${CONNECTIONS:-32}" DURATION="${DURATION:-8}" WARMUP="${WARMUP:-2}"
export RUNS=1 NO_COLOR=1

[[ -x "$OFFERD" ]] || { echo "no offerd binary at $OFFERD: cargo build --release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }

# --- the scratch copy: peers built once, plus request d ------------------------------
# shellcheck source=loadtest/peers-scratch.sh
source "$REPO/loadtest/peers-scratch.sh"
peers_scratch "$PEERS_SRC" "$SCRATCH" node

REAL="$REPO/../shared/real-artifact/rules.json"
if [[ ! -f "$SCRATCH/requests/d-real-artifact.json" ]]; then
  cp "$REAL" "$SCRATCH/requests/artifacts/REAL_ARTIFACT.json"
  # Request d is also what benches/request_allocations.rs measures.
  cp "$REPO/loadtest/requests/d-real-artifact.json" "$SCRATCH/requests/d-real-artifact.json"
  # The expected answer is the Node SDK's own on-device one (its options), so check.js
  # holds every server to the reference.
  (cd "$SCRATCH" && CLIENT=targettesting ORG=74F652E95F1B16FE0A495C92@AdobeOrg node -e '
    const TargetClient = require("./node-sdk/node_modules/@adobe/target-nodejs-sdk");
    const fs = require("fs");
    const body = JSON.parse(fs.readFileSync("requests/d-real-artifact.json"));
    const client = TargetClient.create({
      client: process.env.CLIENT, organizationId: process.env.ORG, decisioningMethod: "on-device",
      artifactPayload: JSON.parse(fs.readFileSync("requests/artifacts/REAL_ARTIFACT.json")),
      logger: { debug() {}, error() {} },
      events: { clientReady: async () => {
        const { response } = await client.getOffers(body);
        const options = response.execute.pageLoad.options;
        if (!options.length) { console.error("request d decides nothing"); process.exit(1); }
        fs.writeFileSync("requests/d-real-artifact.expected.json",
          JSON.stringify({ status: 200, execute: { pageLoad: { options } } }, null, 2));
        process.exit(0);
      } },
    });')
  node -e '
    const fs = require("fs"); const path = process.argv[1];
    const m = JSON.parse(fs.readFileSync(path));
    m.push({ name: "d-real-artifact", body: "d-real-artifact.json",
      expected: "d-real-artifact.expected.json", artifact: "artifacts/REAL_ARTIFACT.json",
      client: "targettesting", organizationId: "74F652E95F1B16FE0A495C92@AdobeOrg",
      what: "page load on ../shared/real-artifact: property token, 14 global-mbox rules" });
    fs.writeFileSync(path, JSON.stringify(m, null, 2));' "$SCRATCH/requests/manifest.json"
fi

client_of() { # the request's client and organization, from the manifest
  node -e '
    const m = require(process.argv[1]).find(r => r.name === process.argv[2]);
    if (!m) { console.error("no request " + process.argv[2]); process.exit(2); }
    console.log(m.client + " " + m.organizationId);' "$SCRATCH/requests/manifest.json" "$1"
}

RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")"
export RESULTS
echo "# side by side: $ROUNDS rounds, wrk -c$CONNECTIONS ${WARMUP}s + ${DURATION}s; raw rows in $RESULTS"
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); offerd: $OFFERD ($("$OFFERD" --version 2>/dev/null || echo '?'))"
for round in $(seq 1 "$ROUNDS"); do
  for request in $REQUESTS; do
    read -r client org < <(client_of "$request")
    for server in $SERVERS; do
      case "$server" in
        offerd)
          NAME=offerd OFFERD_TARGET__CLIENT="$client" OFFERD_TARGET__ORGANIZATION_ID="$org" \
            OFFERD_LOG__ACCESS="${OFFERD_LOG__ACCESS:-true}" \
            "$SCRATCH/bench.sh" "cmd=$OFFERD --artifact \$ARTIFACT --bind 127.0.0.1:\$PORT" "$request" ;;
        node-sdk-cluster)
          CLIENT="$client" ORG="$org" "$SCRATCH/bench.sh" node-sdk-cluster "$request" ;;
        *)
          "$SCRATCH/bench.sh" "$server" "$request" ;;
      esac
    done
  done
done | grep -v '^#'

python3 - "$RESULTS" <<'EOF'
import csv, glob, statistics, sys
rows = {}
for path in glob.glob(sys.argv[1] + "/*.tsv"):
    for r in csv.DictReader(open(path), delimiter="\t"):
        server = "node-sdk-cluster" if r["server"].startswith("node-sdk-cluster") else r["server"]
        rows.setdefault((r["request"], server), []).append(r)
def med(key, request, server, f=float):
    values = [f(r[key]) for r in rows.get((request, server), []) if r[key] not in ("", "n/a")]
    return statistics.median(values) if values else float("nan")
def cpu_us(request, server):
    values = [float(r["server_cpu_pct"]) * 1e4 / float(r["rps"])
              for r in rows.get((request, server), []) if r["server_cpu_pct"] not in ("", "n/a")]
    return statistics.median(values) if values else float("nan")
print()
print("| request | server | runs | req/s | p99 ms | CPU µs/req | peak RSS MB | check |")
print("|---|---|---:|---:|---:|---:|---:|---|")
requests = sorted({k[0] for k in rows})
for request in requests:
    for server in ("offerd", "node-sdk-cluster", "limit-echo"):
        runs = rows.get((request, server))
        if not runs:
            continue
        checks = "/".join(sorted({r["check"] for r in runs}))
        print(f"| {request} | {server} | {len(runs)} | {med('rps', request, server):,.0f} | "
              f"{med('p99_ms', request, server):.2f} | {cpu_us(request, server):.1f} | "
              f"{med('peak_rss_mb', request, server):.1f} | {checks} |")
print()
print("| request | offerd / node (req/s) | offerd / limit-echo (req/s) | CPU µs/req offerd / limit-echo |")
print("|---|---:|---:|---:|")
for request in requests:
    o, n, l = (med("rps", request, s) for s in ("offerd", "node-sdk-cluster", "limit-echo"))
    print(f"| {request} | {o / n:.1f}× | {100 * o / l:.0f} % | {cpu_us(request, 'offerd') / cpu_us(request, 'limit-echo'):.1f}× |")
EOF
