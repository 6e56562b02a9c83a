"""Adobe's Python SDK (target-python-sdk, pinned in ../requirements.txt) pointed at offerd in
server-side mode, with the recipe of examples/clients/python, against the same SDK's own
on-device engine on the same artifact.

    python compare.py reference CONFIG.json TARGET OUT.json   # on-device answers, no network
    python compare.py offerd CONFIG.json TARGET OUT.json      # the same cases through offerd

CONFIG is the file run.sh writes for both SDKs (see ../node/compare.js); TARGET is "suite"
or "real". The two steps run as two processes because the SDK's HTTP host, and so the
recipe, is process-wide. The second step reads the first's OUT, compares every case and
checks that every HTTP request went to offerd (and that offerd counted each), that the SDK
did address an edge host, and that send_notifications is owed by offerd and delivered by
its Batcher to the fake Target. Exit status 1 when a check failed.
"""
import json
import os
import re
import sys
import threading
import time
import urllib.request
from copy import deepcopy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "clients", "python"))

import urllib3  # noqa: E402
from urllib3 import connectionpool  # noqa: E402
import delivery_api_client  # noqa: E402
from target_python_sdk import TargetClient  # noqa: E402
from target_python_sdk import helper as sdk_helper  # noqa: E402
from offerd_http import keep_on_offerd  # noqa: E402

EDGE_HOST = re.compile(r"^mboxedge\d+\.tt\.omtrdc\.net$")
DELIVERY_REQUESTS = 'endpoint="/rest/v1/delivery"'  # offerd_http_requests_total's label
SDK_OPTIONS = {"targetCookie": "target_cookie", "targetLocationHint": "target_location_hint",
               "sessionId": "session_id"}


def to_model(data, type_name):
    """JSON as the Delivery API spells it -> the SDK's generated model objects."""
    if data is None:
        return None
    inner = re.fullmatch(r"list\[(.*)\]", type_name)
    if inner:
        return [to_model(item, inner.group(1)) for item in data]
    inner = re.fullmatch(r"dict\(([^,]*), (.*)\)", type_name)
    if inner:
        return {key: to_model(value, inner.group(2)) for key, value in data.items()}
    klass = getattr(delivery_api_client, type_name, None)
    if klass is None or not klass.attribute_map:
        return data  # a scalar, or an enum (kept as its string)
    fields = {attr: to_model(data[key], klass.openapi_types[attr])
              for attr, key in klass.attribute_map.items() if key in data}
    return klass(**fields)


def sdk_options(case_options):
    """A case's getOffers options (Node's names) as the Python SDK's."""
    options = {SDK_OPTIONS[key]: value for key, value in case_options.items() if key != "request"}
    options["request"] = to_model(deepcopy(case_options["request"]), "DeliveryRequest")
    return options


def without_expiries(cookie_value):
    """Cookie expiries follow the clock: `#<seconds>` parts are dropped."""
    return re.sub(r"#\d+(?=\||$)", "", str(cookie_value))


def normalize(result, unasked_page_load_from=None):
    """The decisions of a get_offers result, without what legitimately differs between a
    server-side and an on-device answer: the generated request id, Target's edge host, meta
    (it names the decisioning method) and the cookies' clock-based expiries and max ages.

    `unasked_page_load_from`: the request of an on-device answer. The SDK's engine decides a
    page load in every execute and prefetch, asked or not (target_decisioning_engine/
    decision_provider.py, `response.page_load = _process_page_load_request(page_load)`), so
    executing the global mbox by name answers its offers twice. The Node SDK's engine and
    Target answer only what was asked: an unasked page load is dropped from that answer, and
    its response tokens and analytics are derived again by the SDK's own helpers."""
    model = result["response"]
    tokens, analytics = result.get("response_tokens"), result.get("analytics_details")
    if unasked_page_load_from is not None:
        for mode in ("execute", "prefetch"):
            if getattr(model, mode) and "pageLoad" not in (unasked_page_load_from.get(mode) or {}):
                getattr(model, mode).page_load = None
        tokens, analytics = sdk_helper.get_response_tokens(model), sdk_helper.get_analytics_details(model)
    response = model.to_dict()
    response.pop("request_id", None)
    response.pop("edge_host", None)
    cookie = result.get("target_cookie")
    hint = result.get("target_location_hint_cookie")
    return without_empty(json.loads(json.dumps({
        "response": response,
        "target_cookie": cookie and {"name": cookie["name"], "value": without_expiries(cookie["value"])},
        "target_location_hint_cookie": hint and {"name": hint["name"], "value": hint["value"]},
        "response_tokens": tokens,
        "analytics_details": analytics,
    }, default=str)))


def without_empty(value, in_content=False):
    """How the Python SDK spells one answer two ways, made one:
    - None, [] and {} are dropped (after their own empties): the SDK's models spell an unset
      field None, and its on-device engine answers `metrics: []` and an empty `page_load`,
      which a Delivery API answer (and the Node SDK's engine) leaves out;
    - keys within an option's content are snake_case: the engine returns `actions` content as
      Action models (`css_selector`), where an answer from a server, Target's included, stays
      raw JSON (`cssSelector`).
    Values that are there must still be equal."""
    if isinstance(value, dict):
        kept = {(snake_case(key) if in_content else key): without_empty(item, in_content or key == "content")
                for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, [], {})}
    if isinstance(value, list):
        return [without_empty(item, in_content) for item in value]
    return value


def snake_case(key):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def diff(want, got, path="", out=None, limit=8):
    """Paths where the on-device answer `want` and offerd's `got` differ."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            diff(want.get(key), got.get(key), "{}/{}".format(path, key), out, limit)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got)):
            diff(a, b, "{}/{}".format(path, i), out, limit)
    elif want != got:
        out.append("{}: offerd {} vs on-device {}".format(path or "/", json.dumps(got), json.dumps(want)))
    return out


class Checks:
    """Named pass/fail checks; `summary` ends with "N passed, M failed"."""

    def __init__(self, label):
        self.label, self.passed, self.failed = label, 0, []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
            print("FAIL {} {}{}".format(self.label, name, ": " + detail if detail else ""), flush=True)
        return ok

    def summary(self):
        return "{}: {} passed, {} failed".format(self.label, self.passed, len(self.failed))


def record_connections(allowed_host, allowed_port):
    """Every HTTP request of this process (urllib3, so the SDK's and `requests`') as
    (host, port); any other than offerd's is refused, so it fails the run instead of leaving."""
    sent = []
    original = connectionpool.HTTPConnectionPool.urlopen

    def urlopen(pool, method, url, *args, **kwargs):
        sent.append((pool.host, pool.port))
        if (pool.host, pool.port) != (allowed_host, allowed_port):
            raise urllib3.exceptions.NewConnectionError(pool, "refused: not offerd")
        return original(pool, method, url, *args, **kwargs)

    connectionpool.HTTPConnectionPool.urlopen = urlopen
    return sent


def answer_in_process():
    """The on-device reference's own Target calls (location hint, notifications: all through
    urllib3's PoolManager) are answered here, and any other connection is refused: the
    reference opens no socket. Returns the URLs answered and the hosts refused."""
    answered, refused = [], []

    def answer(manager, method, url, *args, **kwargs):
        answered.append(url)
        return urllib3.response.HTTPResponse(body=b'{"status": 200}', status=200, preload_content=True,
                                             headers={"Content-Type": "application/json"})

    def refuse(pool, method, url, *args, **kwargs):
        refused.append(pool.host)
        raise urllib3.exceptions.NewConnectionError(pool, "refused: no network in the reference")

    urllib3.PoolManager.urlopen = answer
    connectionpool.HTTPConnectionPool.urlopen = refuse
    return answered, refused


def on_device_client(config, artifact_path):
    ready = threading.Event()
    with open(artifact_path) as f:
        artifact = json.load(f)
    client = TargetClient.create({
        "client": config["client"], "organization_id": config["organizationId"],
        "decisioning_method": "on-device", "artifact_payload": artifact, "polling_interval": 0,
        "events": {"client_ready": lambda *_: ready.set()},
    })
    if not ready.wait(10):
        raise RuntimeError("on-device client not ready after 10 s")
    return client


def attempt(call):
    try:
        return {"value": call()}
    except Exception as err:  # the SDK raises plain Exceptions; the case records which
        return {"error": "{}: {}".format(type(err).__name__, " ".join(str(err).split()))}


def reference(config, target, out_path):
    """Writes the on-device answer of every case of `target`; False if it tried the network."""
    answered, refused = answer_in_process()
    client = on_device_client(config, config["targets"][target]["artifact"])
    results = {}
    for case in load_cases(config, target):
        asked = case["options"]["request"]
        decide = lambda: client.get_offers(sdk_options(case["options"]))  # noqa: E731
        results[case["name"]] = attempt(lambda: normalize(decide(), asked))
    with open(out_path, "w") as f:
        json.dump(results, f)
    print("python {} on-device: {} cases, {} of its own Target calls answered in process".format(
        target, len(results), len(answered)))
    if refused:
        print("FAIL python {} on-device: tried to connect to {}".format(target, sorted(set(refused))))
    return not refused


def load_cases(config, target):
    with open(config["cases"]) as f:
        return [case for case in json.load(f) if case["artifact"] == target]


def offer_count(response):
    """How many options (offers) a normalized response holds, over execute and prefetch."""
    total = 0
    for mode in ("execute", "prefetch"):
        part = response.get(mode) or {}
        for item in [part.get("page_load") or {}] + (part.get("mboxes") or []) + (part.get("views") or []):
            total += len(item.get("options") or [])
    return total


def metric(url, name, labels=""):
    """Sum of a Prometheus counter on offerd's /metrics over series whose labels contain `labels`."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as res:
        text = res.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if m and m.group(1) == name and labels in (m.group(2) or ""):
            total += float(m.group(3))
    return total


def eventually(probe, predicate, seconds=5.0):
    """Polls `probe` until `predicate` holds or `seconds` pass; returns the last value."""
    deadline = time.monotonic() + seconds
    value = probe()
    while not predicate(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = probe()
    return value


def received_by_target(config):
    """Notification ids the fake Target (offerd's upstream, ../fake_target.py) has received."""
    with urllib.request.urlopen(config["fakeTarget"] + "/received", timeout=5) as res:
        return set(json.load(res)["notifications"])


def check_notifications(checks, config, target, client):
    """send_notifications through the recipe (for a visitor with a cluster, so the SDK
    addresses an edge) is owed by offerd, and its Batcher delivers it to offerd's upstream."""
    url = config["targets"][target]["url"]
    before = metric(url, "offerd_notifications_owed_total")
    tnt = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    now = int(time.time() * 1000)
    ids = ["python-{}-display".format(target), "python-{}-click".format(target)]
    notifications = [{"id": i, "type": kind, "timestamp": now, "mbox": {"name": "target-global-mbox"},
                      "tokens": ["token-" + i]} for i, kind in zip(ids, ("display", "click"))]
    sent = attempt(lambda: client.send_notifications({
        "target_cookie": "session#notify-py-{}#1999999999|PC#{}.35_0#1999999999".format(target, tnt),
        "request": to_model({"context": {"channel": "web"}, "notifications": notifications},
                            "DeliveryRequest"),
    }))
    if not checks.check(target + "/send-notifications", "value" in sent, sent.get("error", "")):
        return
    owed = metric(url, "offerd_notifications_owed_total") - before
    checks.check(target + "/notifications-owed", owed == len(ids),
                 "offerd owes {:g} more, the SDK sent {}".format(owed, len(ids)))
    received = eventually(lambda: received_by_target(config), lambda got: set(ids) <= got)
    checks.check(target + "/notifications-delivered-by-batcher", set(ids) <= received,
                 "upstream has {} of {}".format(sorted(set(ids) & received), ids))
    # Target answers with the visitor's id and the ids it took; the SDK builds the mbox
    # cookie from that id (process_response in target_python_sdk/helper.py).
    response = sent["value"]["response"]
    answered = sorted(n.id for n in (response.notifications or []))
    checks.check(target + "/notification-ids-answered", answered == sorted(ids),
                 "answered {}".format(answered))
    cookie = without_expiries((sent["value"].get("target_cookie") or {}).get("value", ""))
    checks.check(target + "/notification-cookie-keeps-visitor", "PC#{}.35_0".format(tnt) in cookie,
                 "mbox cookie {!r}".format(cookie))


def through_offerd(config, target, reference_path):
    url = config["targets"][target]["url"]
    host, port = re.match(r"^http://([^:/]+):(\d+)$", url).groups()
    sent = record_connections(host, int(port))
    keep_on_offerd(url)
    # Record the URL the SDK chose, before the recipe rewrites it.
    asked = []
    on_offerd = delivery_api_client.rest.RESTClientObject.request
    delivery_api_client.rest.RESTClientObject.request = (
        lambda self, method, u, *a, **k: asked.append(u) or on_offerd(self, method, u, *a, **k))
    client = TargetClient.create({
        "client": config["client"], "organization_id": config["organizationId"],
        "decisioning_method": "server-side", "server_domain": "{}:{}".format(host, port), "secure": False,
    })
    checks = Checks("python " + target)
    with open(reference_path) as f:
        want = json.load(f)
    answered_before = metric(url, "offerd_http_requests_total", DELIVERY_REQUESTS)

    cases = load_cases(config, target)
    deciding = 0
    for case in cases:
        got = attempt(lambda: normalize(client.get_offers(sdk_options(case["options"]))))
        expected = want.get(case["name"], {"error": "no on-device answer"})
        deciding += 1 if offer_count(expected.get("value", {}).get("response", {})) else 0
        if "error" in got or "error" in expected:
            checks.check(case["name"], False, "on-device: {}; offerd: {}".format(
                expected.get("error", "ok"), got.get("error", "ok")))
            continue
        differences = diff(expected["value"], got["value"])
        checks.check(case["name"], not differences, "; ".join(differences))
    # Equal answers prove little if they are all empty (a wrong client code or token misses
    # every rule): most cases must decide an offer.
    checks.check(target + "/cases-decide-offers", deciding * 2 > len(cases),
                 "{} of {} on-device answers hold an offer".format(deciding, len(cases)))
    check_notifications(checks, config, target, client)
    calls = check_calls(checks, target, url, sent, asked, answered_before)
    print("python {}: {} cases ({} deciding offers), {}".format(target, len(cases), deciding, calls))
    print(checks.summary(), flush=True)
    return not checks.failed


def check_calls(checks, target, url, sent, asked, answered_before):
    """Every request went to offerd and offerd answered each; the SDK did choose an edge."""
    parsed = urllib3.util.parse_url(url)
    offerd = (parsed.host, parsed.port)
    away = [s for s in sent if s != offerd]
    checks.check(target + "/every-call-on-offerd", bool(sent) and not away,
                 "{} of {} calls went to {}".format(len(away), len(sent), sorted(set(away))))
    edge = [u for u in asked if EDGE_HOST.match(urllib3.util.parse_url(u).host or "")]
    checks.check(target + "/edge-calls-kept-on-offerd", bool(edge),
                 "the SDK never chose an edge host: the cluster cases did not exercise the recipe")
    # offerd counts a request as it answers it: polled, so the last one is in.
    answered = eventually(lambda: metric(url, "offerd_http_requests_total", DELIVERY_REQUESTS),
                          lambda n: n - answered_before >= len(sent)) - answered_before
    checks.check(target + "/offerd-answered-every-call", answered == len(sent),
                 "offerd counted {:g}, the SDK sent {}".format(answered, len(sent)))
    return "{} calls sent ({} addressed by the SDK to an edge)".format(len(sent), len(edge))


def main(argv):
    step, config_path, target, path = argv[1:5]
    with open(config_path) as f:
        config = json.load(f)
    passed = reference(config, target, path) if step == "reference" else through_offerd(config, target, path)
    return 0 if passed else 1


if __name__ == "__main__":
    # The SDK starts non-daemon timer threads (client_ready); exit without waiting for them.
    code = main(sys.argv)
    sys.stdout.flush()
    os._exit(code)
