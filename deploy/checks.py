"""What deploy/validate.sh checks beyond the Kubernetes schemas.

The schemas say each object is well formed; they cannot say that the objects fit
together or fit offerd: that the Service selects the pods, the HPA targets the
workload, the spool mount is where offerd writes, the grace period covers offerd's
shutdown deadline, config.toml has only keys offerd knows, the hardening is there,
and that the kustomize manifests and the Helm chart deploy the same pod.

    python3 checks.py --repo-config ../config.toml --plan plan.json [--offerd-bin BIN]
    python3 checks.py --repo-config ../config.toml --self-test RENDER.yaml

plan.json: {"renders": [{"name", "path", "workload", "hpa", "pdb", "prometheus",
"production"}], "same_pod": [[name, name], ...], "same_config": [[name, name], ...]}.
Prints one line per render; exits 1 on any failure.
"""

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
OFFERD = "/usr/local/bin/offerd"
CONFIG_PATH = "/etc/offerd/config.toml"
PROBE_TIMEOUT_SECS = 3  # offerd health/ready give up after 3 s (src/http/probe.rs)
DEFAULT_SHUTDOWN_GRACE = 10


def quantity(text):
    """A Kubernetes quantity as a number (bytes, or cores)."""
    text = str(text)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 1e-3}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def known_keys(repo_config):
    """{section: {keys}} of the repository's config.toml, commented-out keys included."""
    text = Path(repo_config).read_text()
    keys = {s: set(v) for s, v in tomllib.loads(text).items() if isinstance(v, dict)}
    section = None
    for line in text.splitlines():
        header = re.match(r"^\[([a-z_]+)\]", line)
        if header:
            section = header.group(1)
            keys.setdefault(section, set())
            continue
        commented = re.match(r"^#\s*([a-z_]+)\s*=\s*\S", line)
        if commented and section:
            keys[section].add(commented.group(1))
    return keys


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def subset(small, big):
    return all(big.get(k) == v for k, v in (small or {}).items())


class Render:
    def __init__(self, spec, docs, keys):
        self.spec, self.docs, self.keys, self.errors = spec, docs, keys, []
        self.config_text = None

    def fail(self, msg):
        self.errors.append(msg)

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def check(self, offerd_bin=None):
        s = self.spec
        for d in self.docs:
            name = d.get("metadata", {}).get("name", "")
            if not DNS_LABEL.match(name) or len(name) > 63:
                self.fail(f"{d.get('kind')}/{name}: name is not a DNS label")
        workloads = self.of_kind("Deployment") + self.of_kind("StatefulSet")
        if len(workloads) != 1 or workloads[0]["kind"] != s["workload"]:
            self.fail(f"expected one {s['workload']}, found {[w['kind'] for w in workloads]}")
            return
        w = self.workload = workloads[0]
        pod = w["spec"]["template"]
        labels = pod["metadata"].get("labels", {})
        if not subset(w["spec"]["selector"]["matchLabels"], labels):
            self.fail("workload selector does not select its own pods")
        spec = pod["spec"]
        containers = spec.get("containers", [])
        if len(containers) != 1 or containers[0].get("name") != "offerd":
            self.fail("expected one container named offerd")
            return
        c = containers[0]
        self.check_security(spec, c)
        port = self.check_ports(c)
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        config = self.check_config(mounts, volumes, env, port)
        self.check_spool(w, mounts, volumes, env, config)
        self.check_probes(spec, c, port, config)
        self.check_resources(c)
        self.check_services(labels, port)
        self.check_scaling(w, labels)
        self.check_annotations(pod, port)
        if spec.get("enableServiceLinks") is not False:
            self.fail("enableServiceLinks must be false (OFFERD_PORT=tcp://... service links)")
        image = c.get("image", "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            self.fail(f"image {image!r} has no pinned tag")
        if offerd_bin and self.config_text is not None:
            self.check_with_offerd(offerd_bin, c)

    def check_security(self, spec, c):
        psc, sc = spec.get("securityContext", {}), c.get("securityContext", {})
        want_pod = {"runAsNonRoot": True, "runAsUser": 10001}
        want_c = {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                  "readOnlyRootFilesystem": True}
        for k, v in want_pod.items():
            if psc.get(k) != v:
                self.fail(f"pod securityContext.{k} must be {v}")
        for k, v in want_c.items():
            if sc.get(k) != v:
                self.fail(f"container securityContext.{k} must be {v}")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            self.fail("container must drop ALL capabilities")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            self.fail("seccompProfile must be RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            self.fail("automountServiceAccountToken should be false (offerd never calls the API)")

    def check_ports(self, c):
        ports = [p for p in c.get("ports", []) if p.get("name") == "http"]
        if len(ports) != 1:
            self.fail("container needs one port named http")
            return None
        port = ports[0]["containerPort"]
        bind = {e["name"]: e.get("value") for e in c.get("env", [])}.get("OFFERD_SERVER__BIND")
        if bind is None or not bind.endswith(f":{port}") or not bind.startswith("0.0.0.0:"):
            self.fail(f"OFFERD_SERVER__BIND={bind!r} must be 0.0.0.0:{port} (the containerPort)")
        return port

    def check_config(self, mounts, volumes, env, port):
        m = mounts.get(CONFIG_PATH)
        if not m or m.get("subPath") != "config.toml" or not m.get("readOnly"):
            self.fail(f"{CONFIG_PATH} must be mounted read-only with subPath config.toml")
            return {}
        cm_name = volumes.get(m["name"], {}).get("configMap", {}).get("name")
        cms = [d for d in self.of_kind("ConfigMap") if d["metadata"]["name"] == cm_name]
        if len(cms) != 1 or "config.toml" not in cms[0].get("data", {}):
            self.fail(f"ConfigMap {cm_name!r} with key config.toml is not in the render")
            return {}
        self.config_text = cms[0]["data"]["config.toml"]
        try:
            config = tomllib.loads(self.config_text)
        except tomllib.TOMLDecodeError as e:
            self.fail(f"config.toml does not parse: {e}")
            return {}
        for section, values in config.items():
            if section not in self.keys:
                self.fail(f"config.toml: unknown section [{section}]")
                continue
            for key in values:
                if key not in self.keys[section]:
                    self.fail(f"config.toml: unknown key {section}.{key} (offerd denies unknown keys)")
        get = lambda sec, key, default=None: config.get(sec, {}).get(key, default)  # noqa: E731
        if self.spec["production"]:
            if get("upstream", "offline", True) is not False:
                self.fail("config.toml: upstream.offline must be false (the default drops every notification)")
            if get("log", "format") != "json":
                self.fail("config.toml: log.format should be json")
            if get("server", "drain_delay_secs", 0) <= 0:
                self.fail("config.toml: server.drain_delay_secs must be > 0 (a rolling deploy cuts kept-alive connections without it)")
            if get("spool", "dir") != env.get("OFFERD_SPOOL__DIR"):
                self.fail("config.toml: spool.dir differs from OFFERD_SPOOL__DIR")
            if port and get("server", "bind", "").rpartition(":")[2] != str(port):
                self.fail("config.toml: server.bind port differs from the containerPort")
        return config

    def check_spool(self, w, mounts, volumes, env, config):
        spool_dir = env.get("OFFERD_SPOOL__DIR")
        m = mounts.get(spool_dir) if spool_dir else None
        if not m:
            self.fail(f"OFFERD_SPOOL__DIR={spool_dir!r} is not a volume mount (read-only root)")
            return
        max_bytes = config.get("spool", {}).get("max_bytes", 2**30)
        if w["kind"] == "Deployment":
            ed = volumes.get(m["name"], {}).get("emptyDir")
            if ed is None:
                self.fail("Deployment: the spool must be an emptyDir")
                return
            size = ed.get("sizeLimit")
        else:
            if m["name"] in volumes:
                self.fail("StatefulSet: the spool must come from volumeClaimTemplates, not volumes")
            vcts = [v for v in w["spec"].get("volumeClaimTemplates", [])
                    if v["metadata"]["name"] == m["name"]]
            if len(vcts) != 1:
                self.fail("StatefulSet: no volumeClaimTemplate for the spool")
                return
            size = vcts[0]["spec"]["resources"]["requests"]["storage"]
            services = {d["metadata"]["name"]: d for d in self.of_kind("Service")}
            gov = services.get(w["spec"].get("serviceName"))
            if not gov or gov["spec"].get("clusterIP") != "None":
                self.fail("StatefulSet: serviceName must name a headless Service in the render")
        if size is None or quantity(size) <= max_bytes:
            self.fail(f"spool volume size {size} must exceed spool.max_bytes ({max_bytes})")
        self.check_backup(spool_dir, env, config)
        tmp = mounts.get("/tmp")
        if not tmp or "emptyDir" not in volumes.get(tmp["name"], {}):
            self.fail("/tmp must be an emptyDir (read-only root)")

    def check_backup(self, spool_dir, env, config):
        """The last good artifact (artifact.backup_dir, default <spool.dir>/artifact) is
        kept on the spool volume: a pod restarted while the CDN is unreachable serves it."""
        backup = env.get("OFFERD_ARTIFACT__BACKUP_DIR", config.get("artifact", {}).get("backup_dir"))
        if backup is None:
            backup = spool_dir.rstrip("/") + "/artifact"
        if backup == "":
            self.fail("artifact.backup_dir is \"\": no artifact backup, a restart during a CDN outage stays unready")
        elif not backup.startswith(spool_dir.rstrip("/") + "/"):
            self.fail(f"artifact.backup_dir {backup!r} is not on the spool volume ({spool_dir})")

    def check_probes(self, spec, c, port, config):
        want = {"startupProbe": ("health", "/health/live"), "livenessProbe": ("health", "/health/live"),
                "readinessProbe": ("ready", "/health/ready")}
        for probe, (cmd, path) in want.items():
            p = c.get(probe)
            if not p:
                self.fail(f"{probe} missing")
                continue
            if "exec" in p:
                command = p["exec"]["command"]
                if command != [OFFERD, "--config", CONFIG_PATH, cmd]:
                    self.fail(f"{probe}: exec {command} is not `offerd --config {CONFIG_PATH} {cmd}`")
                if p.get("timeoutSeconds", 1) <= PROBE_TIMEOUT_SECS:
                    self.fail(f"{probe}: timeoutSeconds must exceed offerd's own {PROBE_TIMEOUT_SECS} s")
            elif "httpGet" in p:
                g = p["httpGet"]
                if g.get("path") != path or g.get("port") not in ("http", port):
                    self.fail(f"{probe}: httpGet must be {path} on the http port")
            else:
                self.fail(f"{probe}: neither exec nor httpGet")
        grace = config.get("server", {}).get("shutdown_grace_secs", DEFAULT_SHUTDOWN_GRACE)
        sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        tgps = spec.get("terminationGracePeriodSeconds", 30)
        if tgps <= grace + sleep:
            self.fail(f"terminationGracePeriodSeconds {tgps} <= preStop {sleep} + shutdown_grace_secs {grace}")

    def check_resources(self, c):
        r = c.get("resources", {})
        req, lim = r.get("requests", {}), r.get("limits", {})
        if "cpu" not in req or "memory" not in req:
            self.fail("requests need cpu (the HPA's denominator) and memory")
        if "memory" not in lim:
            self.fail("a memory limit is expected")
        elif "memory" in req and quantity(lim["memory"]) < quantity(req["memory"]):
            self.fail("memory limit below the request")

    def check_services(self, labels, port):
        services = self.of_kind("Service")
        if not services:
            self.fail("no Service")
        for svc in services:
            n = svc["metadata"]["name"]
            if not svc["spec"].get("selector") or not subset(svc["spec"]["selector"], labels):
                self.fail(f"Service {n} does not select the pods")
            http = [p for p in svc["spec"].get("ports", []) if p.get("name") == "http"]
            if len(http) != 1 or http[0].get("targetPort") not in ("http", port):
                self.fail(f"Service {n}: needs a port named http targeting the container's http port")

    def check_scaling(self, w, labels):
        hpas, pdbs = self.of_kind("HorizontalPodAutoscaler"), self.of_kind("PodDisruptionBudget")
        if len(hpas) != int(self.spec["hpa"]):
            self.fail(f"expected {int(self.spec['hpa'])} HorizontalPodAutoscaler, found {len(hpas)}")
        for h in hpas:
            ref = h["spec"]["scaleTargetRef"]
            if (ref.get("apiVersion"), ref.get("kind"), ref.get("name")) != (
                    "apps/v1", w["kind"], w["metadata"]["name"]):
                self.fail(f"HPA targets {ref}, not {w['kind']}/{w['metadata']['name']}")
            cpu = [m for m in h["spec"].get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
            if not cpu or cpu[0]["resource"]["target"].get("type") != "Utilization":
                self.fail("HPA: expected a CPU utilization metric")
            if h["spec"].get("minReplicas", 1) > h["spec"]["maxReplicas"]:
                self.fail("HPA: minReplicas > maxReplicas")
            if "replicas" in w["spec"]:
                self.fail("with an HPA the workload must not set replicas (apply would reset it)")
        if not hpas and "replicas" not in w["spec"]:
            self.fail("without an HPA the workload should set replicas")
        if len(pdbs) != int(self.spec["pdb"]):
            self.fail(f"expected {int(self.spec['pdb'])} PodDisruptionBudget, found {len(pdbs)}")
        for p in pdbs:
            if not subset(p["spec"]["selector"]["matchLabels"], labels):
                self.fail("PDB does not select the pods")

    def check_annotations(self, pod, port):
        a = pod["metadata"].get("annotations", {}) or {}
        if self.spec["prometheus"]:
            want = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                    "prometheus.io/path": "/metrics"}
            for k, v in want.items():
                if a.get(k) != v:
                    self.fail(f"pod annotation {k} should be {v!r}, is {a.get(k)!r}")

    def check_with_offerd(self, offerd_bin, c):
        """offerd's own loader on the rendered config.toml, with the pod's plain env:
        exit 64 is a rejected config; 0 or 1 (nothing listening) is an accepted one."""
        env = {"PATH": "/usr/bin:/bin"}
        env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(self.config_text)
            f.flush()
            r = subprocess.run([offerd_bin, "--config", f.name, "health"], env=env,
                               capture_output=True, text=True, timeout=30)
        if r.returncode == 64:
            self.fail(f"offerd rejects the config: {r.stderr.strip()}")
        else:
            self.offerd_accepted = True


def normalized_pod(render):
    """The pod spec with the ConfigMap's name (hash suffix, release prefix) blanked."""
    spec = copy.deepcopy(render.workload["spec"]["template"]["spec"])
    for v in spec.get("volumes", []):
        if "configMap" in v:
            v["configMap"]["name"] = "<config>"
    return spec


def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += diff(a.get(k), b.get(k), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path or '.'}: {a!r} != {b!r}"]


def run_plan(args):
    plan = json.loads(Path(args.plan).read_text())
    keys = known_keys(args.repo_config)
    renders, failed, passed = {}, 0, 0
    for spec in plan["renders"]:
        r = Render(spec, load(spec["path"]), keys)
        r.check(args.offerd_bin)
        renders[spec["name"]] = r
        kinds = ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in r.docs)
        if r.errors:
            failed += 1
            print(f"  FAIL {spec['name']}: {kinds}")
            for e in r.errors:
                print(f"       - {e}")
        else:
            passed += 1
            extra = "; config accepted by offerd" if getattr(r, "offerd_accepted", False) else ""
            print(f"  ok   {spec['name']}{extra}")
    for kind, pairs in (("pod", plan.get("same_pod", [])), ("config", plan.get("same_config", []))):
        for a, b in pairs:
            ra, rb = renders[a], renders[b]
            if ra.errors or rb.errors:
                continue
            if kind == "pod":
                d = diff(normalized_pod(ra), normalized_pod(rb))
            else:
                d = [] if ra.config_text == rb.config_text else ["config.toml texts differ"]
            if d:
                failed += 1
                print(f"  FAIL same {kind}: {a} vs {b}")
                for line in d[:20]:
                    print(f"       - {line}")
            else:
                passed += 1
                print(f"  ok   same {kind}: {a} = {b}")
    print(f"  checks: {passed} passed, {failed} failed")
    return failed


def self_test(args):
    """Breaks a good render in ways the schemas accept and expects each to be caught."""
    keys = known_keys(args.repo_config)
    base = load(args.self_test)
    spec = {"name": "self-test", "workload": "Deployment", "hpa": True, "pdb": True,
            "prometheus": True, "production": True}

    def pod(docs):
        return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]

    def cm(docs):
        return next(d for d in docs if d["kind"] == "ConfigMap")["data"]

    mutations = {
        "service links on": lambda d: pod(d).update(enableServiceLinks=True),
        "writable root": lambda d: pod(d)["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
        "HPA on the wrong name": lambda d: next(x for x in d if x["kind"] == "HorizontalPodAutoscaler")
        ["spec"]["scaleTargetRef"].update(name="offerd-typo"),
        "grace too short": lambda d: pod(d).update(terminationGracePeriodSeconds=10),
        "unknown config key": lambda d: cm(d).update({"config.toml": cm(d)["config.toml"].replace("level = ", "levle = ")}),
        "offline config": lambda d: cm(d).update({"config.toml": cm(d)["config.toml"].replace("offline = false", "offline = true")}),
        "spool not mounted": lambda d: pod(d)["containers"][0]["volumeMounts"].pop(1),
        "no connection drain": lambda d: cm(d).update({"config.toml": cm(d)["config.toml"].replace(
            "drain_delay_secs = 5", "drain_delay_secs = 0")}),
        "artifact backup off the spool volume": lambda d: pod(d)["containers"][0]["env"].append(
            {"name": "OFFERD_ARTIFACT__BACKUP_DIR", "value": "/tmp/artifact"}),
        "artifact backup off": lambda d: cm(d).update({"config.toml": cm(d)["config.toml"].replace(
            "[artifact]\n", "[artifact]\nbackup_dir = \"\"\n")}),
    }
    clean = Render(spec, copy.deepcopy(base), keys)
    clean.check()
    failed = 1 if clean.errors else 0
    if clean.errors:
        print(f"  FAIL the unmodified render does not pass: {clean.errors}")
    for name, mutate in mutations.items():
        docs = copy.deepcopy(base)
        mutate(docs)
        r = Render(spec, docs, keys)
        try:
            r.check()
        except Exception as e:  # a crash on broken input still counts as caught
            r.errors.append(repr(e))
        if r.errors:
            print(f"  ok   caught: {name} ({r.errors[0]})")
        else:
            failed += 1
            print(f"  FAIL not caught: {name}")
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo-config", required=True)
    ap.add_argument("--plan")
    ap.add_argument("--offerd-bin")
    ap.add_argument("--self-test")
    args = ap.parse_args()
    failed = self_test(args) if args.self_test else run_plan(args)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
