"""Keep Adobe's Target Python SDK (target-python-sdk) on offerd.

Why at the HTTP layer: the SDK 1.1.0 has no hook like the Node SDK's `fetchApi`. It builds
the Delivery API host per call (get_target_host in target_python_sdk/helper.py):
mboxedge<N>.tt.omtrdc.net once it knows an edge cluster N (from `target_location_hint`, a
`PC#<id>.<N>_0` mbox cookie, or `edge_host` in an answer, remembered for the client by
preserve_location_hint), else `server_domain`. And its generated `Configuration` class
hands every later `Configuration(host=...)` a copy of the first one it made
(delivery_api_client/configuration.py, TypeWithDefault), so the process keeps whichever
host its first call chose, a Target edge included. Every call ends in
delivery_api_client.rest.RESTClientObject.request(method, url, ...): rewriting Target's
hosts there keeps every call of every client in the process on one offerd.

Usage, once per process, before the first call:

    from offerd_http import keep_on_offerd
    keep_on_offerd("http://offerd.internal:8080")
    client = TargetClient.create({"client": "acme", "organization_id": "...@AdobeOrg",
                                  "server_domain": "offerd.internal:8080", "secure": False})
"""
import re
from urllib.parse import urlsplit, urlunsplit

from delivery_api_client import rest

# Target's Delivery API hosts: <client>.tt.omtrdc.net and mboxedge<N>.tt.omtrdc.net.
TARGET_DELIVERY_HOST = re.compile(r"(^|\.)tt\.omtrdc\.net$", re.IGNORECASE)


def on_offerd(url, offerd_url):
    """`url` with offerd's scheme and host if it names a Target Delivery API host."""
    parts = urlsplit(url)
    if not TARGET_DELIVERY_HOST.search(parts.hostname or ""):
        return url
    offerd = urlsplit(offerd_url)
    return urlunsplit((offerd.scheme, offerd.netloc, parts.path, parts.query, parts.fragment))


def keep_on_offerd(offerd_url):
    """Send every Target SDK Delivery API call of this process to offerd at `offerd_url`.

    Process-wide, as the SDK's host is (see the module doc). Calling it again replaces the
    previous offerd. Returns a function that undoes it.
    """
    original = getattr(rest.RESTClientObject.request, "_offerd_original", rest.RESTClientObject.request)

    def request(self, method, url, *args, **kwargs):
        return original(self, method, on_offerd(url, offerd_url), *args, **kwargs)

    request._offerd_original = original
    rest.RESTClientObject.request = request

    def undo():
        rest.RESTClientObject.request = original

    return undo
