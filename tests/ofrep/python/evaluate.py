"""OpenFeature's Python SDK with openfeature-provider-ofrep, pointed at offerd's OFREP
endpoints, against /v1/attributes for the same visitor and context (mapped by hand as the
README's table says, so that the table is what is checked).

    python evaluate.py config.json     (run.sh writes config.json)

Prints `ofrep python TARGET: N passed, M failed` per artifact, then `ofrep python: N
passed, M failed`; exits 1 when a check failed.
"""

import json
import sys
import traceback
import urllib.error
import urllib.request

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

CONFIG = json.load(open(sys.argv[1]))
VISITORS = 30
URLS = ["https://shop.example/", "https://shop.example/cart?promo=1", "https://www.example.com/home"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
]


def context_of(i):
    """Visitor i's context; every fifth names an ECID, which Target allocates on."""
    attributes = {"url": URLS[i % len(URLS)], "userAgent": AGENTS[i % len(AGENTS)],
                  "plan": "gold" if i % 2 else "free"}
    if i % 5 == 4:
        attributes["marketingCloudVisitorId"] = f"ecid-python-{i}"
    return EvaluationContext(targeting_key=f"ofrep-python-{i}", attributes=attributes)


def attributes_body(context, mbox):
    """The /v1/attributes body the README's table maps that context to."""
    a = context.attributes
    ident = ({"marketingCloudVisitorId": a["marketingCloudVisitorId"]}
             if "marketingCloudVisitorId" in a else {"tntId": context.targeting_key})
    return {
        "mbox_names": [mbox],
        "request": {
            "id": ident,
            "context": {"channel": "web", "address": {"url": a["url"]}, "userAgent": a["userAgent"]},
            "execute": {"mboxes": [{"name": mbox, "index": 1, "parameters": {"plan": a["plan"]}}]},
        },
    }


def type_of(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "object"


def flags_of(path):
    """Every flag the artifact serves: each mbox (an object flag) and each attribute of
    its JSON offers, typed by its first value; remote mboxes apart."""
    artifact = json.load(open(path))
    remote = list(artifact.get("remoteMboxes") or [])
    flags, seen, json_mboxes = [], set(), []
    for mbox, rules in (artifact["rules"].get("mboxes") or {}).items():
        if mbox in remote:
            continue
        flags.append({"key": mbox, "mbox": mbox, "attribute": None, "type": "object"})
        has_json = False
        for rule in rules:
            for option in rule["consequence"].get("options") or []:
                if option.get("type") != "json" or not isinstance(option.get("content"), dict):
                    continue
                has_json = True
                for attribute, value in option["content"].items():
                    key = f"{mbox}.{attribute}"
                    if key not in seen:
                        seen.add(key)
                        flags.append({"key": key, "mbox": mbox, "attribute": attribute, "type": type_of(value)})
        if has_json:
            json_mboxes.append(mbox)
    return flags, remote, json_mboxes


DEFAULTS = {"boolean": False, "string": "code-default", "integer": -1, "float": -1.5,
            "object": {"codeDefault": True}}
WRONG = {"boolean": "string", "string": "boolean", "integer": "string", "float": "boolean",
         "object": "boolean"}


def evaluate(client, kind, key, default, context):
    get = {"boolean": client.get_boolean_details, "string": client.get_string_details,
           "integer": client.get_integer_details, "float": client.get_float_details,
           "object": client.get_object_details}[kind]
    return get(key, default, context)


def post(url, body, headers=None):
    """POSTs JSON with the token: (status, headers, parsed body or None)."""
    all_headers = {"content-type": "application/json", "authorization": f"Bearer {CONFIG['token']}"}
    all_headers.update(headers or {})
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=all_headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, response.headers, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return error.code, error.headers, parsed


class Tally:
    def __init__(self, label):
        self.label, self.passed, self.failed = label, 0, 0

    def check(self, name, fn):
        try:
            fn()
            self.passed += 1
        except Exception as error:  # noqa: BLE001 - a failed check, whatever raised it
            self.failed += 1
            if self.failed <= 10:
                print(f"FAIL {self.label} {name}: {error!r}")


def run_target(name, target):
    tally = Tally(f"python {name}")
    domain = f"offerd-{name}"
    api.set_provider(OFREPProvider(target["url"], headers_factory=lambda: {"Authorization": f"Bearer {CONFIG['token']}"}), domain)
    client = api.get_client(domain)
    flags, remote, json_mboxes = flags_of(target["artifact"])
    cache = {}

    def attributes_of(context, mbox):
        key = (context.targeting_key, json.dumps(context.attributes, sort_keys=True), mbox)
        if key not in cache:
            status, _, body = post(f"{target['url']}/v1/attributes", attributes_body(context, mbox))
            assert status == 200, body
            cache[key] = body["attributes"]
        return cache[key]

    def expected_of(context, flag):
        offer = attributes_of(context, flag["mbox"]).get(flag["mbox"])
        return offer if flag["attribute"] is None else (offer or {}).get(flag["attribute"])

    for i in range(VISITORS):
        context = context_of(i)
        for flag in flags:
            def one(flag=flag, context=context):
                default = DEFAULTS[flag["type"]]
                details = evaluate(client, flag["type"], flag["key"], default, context)
                expected = expected_of(context, flag)
                if expected is None:
                    # No value served: the code default (OFREP's codeDefaultFlag).
                    assert details.error_code is None, (details.error_code, details.error_message)
                    assert details.value == default, details.value
                    assert details.reason == Reason.DEFAULT, details.reason
                    return
                assert details.error_code is None, (details.error_code, details.error_message)
                assert details.value == expected, (details.value, expected)
                assert details.reason in (Reason.SPLIT, Reason.TARGETING_MATCH), details.reason
                assert isinstance(details.variant, str) and details.variant, details.variant
            tally.check(f"{flag['key']} ({flag['type']}) for {context.targeting_key}", one)

    context = context_of(0)
    typed = [f for f in flags if f["attribute"] is not None]
    for flag in typed:
        def mistyped(flag=flag):
            kind = WRONG[flag["type"]]
            details = evaluate(client, kind, flag["key"], DEFAULTS[kind], context)
            assert details.error_code == ErrorCode.TYPE_MISMATCH, (details.error_code, details.error_message)
            assert details.value == DEFAULTS[kind]
        tally.check(f"{flag['key']} as {WRONG[flag['type']]}", mistyped)
    if not typed:
        print(f"note: python {name}: no JSON offer in this artifact, so no typed flag to mistype")

    def unknown_flag():
        details = client.get_boolean_details("no-such-flag", True, context)
        assert details.error_code == ErrorCode.FLAG_NOT_FOUND, details.error_code
        assert details.value is True

    def unknown_attribute():
        details = client.get_string_details(f"{flags[0]['mbox']}.no_such_attribute", "d", context)
        assert details.error_code == ErrorCode.FLAG_NOT_FOUND, details.error_code
        assert details.value == "d"

    def missing_targeting_key():
        details = client.get_object_details(flags[0]["key"], {"d": 1}, EvaluationContext(attributes={"plan": "gold"}))
        assert details.error_code == ErrorCode.TARGETING_KEY_MISSING, (details.error_code, details.error_message)
        assert details.value == {"d": 1}

    tally.check("an unknown flag", unknown_flag)
    tally.check("an unknown attribute of a known mbox", unknown_attribute)
    tally.check("a missing targeting key", missing_targeting_key)
    for mbox in remote:
        def remote_mbox(mbox=mbox):
            details = client.get_object_details(mbox, {}, context)
            assert details.error_code == ErrorCode.GENERAL, details.error_code
            assert "only Target can decide" in (details.error_message or ""), details.error_message
        tally.check(f"remote mbox {mbox} on-device and offline", remote_mbox)

    bulk_flags = [f for f in flags if f["mbox"] in json_mboxes]
    for i in range(3):
        ctx = context_of(i)

        def bulk(ctx=ctx):
            url = f"{target['url']}/ofrep/v1/evaluate/flags"
            body = {"context": {"targetingKey": ctx.targeting_key, **ctx.attributes}}
            status, headers, answer = post(url, body)
            assert status == 200, answer
            etag = headers.get("etag")
            assert etag, "an ETag"
            assert sorted(f["key"] for f in answer["flags"]) == sorted(f["key"] for f in bulk_flags)
            for flag in bulk_flags:
                got = next(f for f in answer["flags"] if f["key"] == flag["key"])
                assert got.get("value") == expected_of(ctx, flag), flag["key"]
            status, headers, _ = post(url, body, {"if-none-match": etag})
            assert status == 304, status
            assert headers.get("etag") == etag
        tally.check(f"bulk for {ctx.targeting_key}", bulk)

    def wrong_token():
        status, _, _ = post(f"{target['url']}/ofrep/v1/evaluate/flags/{flags[0]['key']}",
                            {"context": {"targetingKey": "v"}}, {"authorization": "Bearer wrong"})
        assert status == 401, status
        wrong = f"offerd-{name}-wrong-token"
        api.set_provider(OFREPProvider(target["url"], headers_factory=lambda: {"Authorization": "Bearer wrong"}), wrong)
        details = api.get_client(wrong).get_object_details(flags[0]["key"], {"d": 2}, context)
        assert details.value == {"d": 2}
        assert details.error_code == ErrorCode.GENERAL, details.error_code

    def api_key():
        status, _, body = post(f"{target['url']}/ofrep/v1/evaluate/flags/{flags[0]['key']}",
                               {"context": {"targetingKey": "v"}}, {"authorization": "", "x-api-key": CONFIG["token"]})
        assert status == 200, body

    tally.check("a wrong token", wrong_token)
    tally.check("the token as X-API-Key", api_key)
    print(f"ofrep python {name}: {tally.passed} passed, {tally.failed} failed")
    return tally


def main():
    passed = failed = 0
    for name, target in CONFIG["targets"].items():
        try:
            tally = run_target(name, target)
            passed, failed = passed + tally.passed, failed + tally.failed
        except Exception:  # noqa: BLE001 - a broken run is one more failure
            print(f"FAIL python {name}: {traceback.format_exc()}")
            failed += 1
    api.shutdown()
    print(f"ofrep python: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
