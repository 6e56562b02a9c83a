#!/usr/bin/env bash
# Run the image built by build-local.sh and check it as `docker run` would start it.
#
# Uses podman (apt-get install podman runc) on buildah's storage under $SCRATCH, with what
# such a VM sandbox needs: runc (crun refuses hybrid cgroups), the cgroupfs manager (no
# systemd), rlimits no higher than the caller's (no CAP_SYS_RESOURCE), and a network
# namespace of its own with only loopback (--network none): offerd listens on 0.0.0.0:8080
# in it, and the checks reach it there with nsenter, so nothing binds on the host. With no
# systemd, podman cannot schedule HEALTHCHECK itself: `podman healthcheck run` runs it.
#
# Checks: uid/gid 10001, working directory, the image's ENTRYPOINT/CMD; 0.0.0.0:8080;
# /health/ready 200; POST /v1/offers with examples/requests/execute-one-mbox.json 200;
# every log line JSON, no ANSI escape; the HEALTHCHECK passes while it runs and its
# command exits 1 with no server; the spool volume writable by 10001 and the rest not;
# SIGTERM exits 0; the image config (docker format: HEALTHCHECK, user, port, volume) and size.
#
#   deploy/image/check-local.sh            # TAG=offerd:local, SCRATCH=/work/scratch/image
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRATCH=${SCRATCH:-/work/scratch/image}
TAG=${TAG:-offerd:local}
NAME=offerd-check-$$
export CONTAINERS_STORAGE_CONF=$SCRATCH/storage.conf
[ -f "$CONTAINERS_STORAGE_CONF" ] || { echo "no $CONTAINERS_STORAGE_CONF: run build-local.sh first" >&2; exit 1; }
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive nice -n 19 ionice -c3 apt-get install -y -q podman runc >/dev/null
fi

nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
P=(podman --runtime runc --cgroup-manager cgroupfs)
RUN=(run --network none --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
quiet() { grep -v 'systemd' >&2 || true; }   # podman's "no systemd for healthcheck timers" noise

pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); printf 'ok    %s: %s\n' "$1" "$3"
  else fail=$((fail + 1)); printf 'FAIL  %s: want %s, got %s\n' "$1" "$2" "$3"; fi
}
cleanup() { "${P[@]}" rm -f -v -t 0 "$NAME" >/dev/null 2>&1; }
trap cleanup EXIT

cfg() { podman image inspect --format "$1" "$TAG"; }
check "manifest" application/vnd.docker.distribution.manifest.v2+json "$(cfg '{{.ManifestType}}')"
check "user" 10001:10001 "$(cfg '{{.Config.User}}')"
check "workdir" /usr/share/offerd "$(cfg '{{.Config.WorkingDir}}')"
check "exposed port" "map[8080/tcp:{}]" "$(cfg '{{.Config.ExposedPorts}}')"
check "volume" "map[/var/lib/offerd/spool:{}]" "$(cfg '{{.Config.Volumes}}')"
check "healthcheck" "[CMD /usr/local/bin/offerd --config /etc/offerd/config.toml ready] 10s 3s 10s 3" \
  "$(cfg '{{.HealthCheck.Test}} {{.HealthCheck.Interval}} {{.HealthCheck.Timeout}} {{.HealthCheck.StartPeriod}} {{.HealthCheck.Retries}}')"
check "entrypoint cmd" "[/usr/local/bin/offerd --config /etc/offerd/config.toml] [serve]" "$(cfg '{{.Config.Entrypoint}} {{.Config.Cmd}}')"
echo "size  $(podman image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.1f MB", $1/1e6}') uncompressed," \
  "layers: $(podman image tree "$TAG" | grep -c '── ID:')"

"${P[@]}" "${RUN[@]}" -d --name "$NAME" "$TAG" >/dev/null 2> >(quiet) || { echo "FAIL  podman run"; exit 1; }
for _ in $(seq 50); do
  pid=$("${P[@]}" inspect --format '{{.State.Pid}}' "$NAME" 2>/dev/null)
  [ -n "$pid" ] && [ "$pid" != 0 ] && nsenter -t "$pid" -n curl -sf -o /dev/null http://127.0.0.1:8080/health/ready && break
  sleep 0.2
done
in_ns() { nsenter -t "$pid" -n "$@"; }
check "uid gid" "10001 10001" "$(awk '/^Uid:/{u=$2} /^Gid:/{g=$2} END{print u, g}' "/proc/$pid/status")"
check "cwd" /usr/share/offerd "$(readlink "/proc/$pid/cwd")"
check "argv" "/usr/local/bin/offerd --config /etc/offerd/config.toml serve" "$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed 's/ $//')"
check "listening" "0.0.0.0:8080" "$(in_ns ss -Hltn | awk '{print $4}' | sort -u | tr '\n' ' ' | sed 's/ $//')"
check "GET /health/ready" 200 "$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health/ready)"
check "POST /v1/offers" 200 "$(in_ns curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  --data-binary @"$REPO/examples/requests/execute-one-mbox.json" http://127.0.0.1:8080/v1/offers)"
"${P[@]}" healthcheck run "$NAME" >/dev/null 2> >(quiet); check "healthcheck while running (exit)" 0 "$?"
check "health status" healthy "$("${P[@]}" inspect --format '{{.State.Health.Status}}' "$NAME" 2>/dev/null)"
"${P[@]}" "${RUN[@]}" --rm "$TAG" ready >/dev/null 2>&1; check "healthcheck command, no server (exit)" 1 "$?"
check "spool writable by 10001" yes "$("${P[@]}" exec "$NAME" sh -c 'touch /var/lib/offerd/spool/.w && rm /var/lib/offerd/spool/.w && echo yes' 2>&1)"
check "spool files" "offerd offerd" "$("${P[@]}" exec "$NAME" stat -c '%U %G' /var/lib/offerd/spool/spool.sqlite 2>&1)"
check "config not writable" no "$("${P[@]}" exec "$NAME" sh -c 'touch /etc/offerd/config.toml 2>/dev/null && echo yes || echo no')"

start=$(date +%s%N)
"${P[@]}" stop -t 15 "$NAME" >/dev/null 2>&1
echo "stop  SIGTERM to exit: $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "exit code after SIGTERM" 0 "$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$NAME" 2>/dev/null)"
logs=$("${P[@]}" logs "$NAME" 2>&1)
check "log lines all JSON" yes "$(printf '%s\n' "$logs" | python3 -c '
import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l]
ok = bool(lines) and all(isinstance(json.loads(l), dict) for l in lines)
print("yes" if ok else "no")' 2>&1)"
check "ANSI escapes in logs" 0 "$(printf '%s\n' "$logs" | grep -c $'\x1b')"
echo "logs  $(printf '%s\n' "$logs" | wc -l) lines, e.g.: $(printf '%s\n' "$logs" | grep -m1 'offerd listening')"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
