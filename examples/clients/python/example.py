"""Runnable example: the official Target Python SDK in server-side mode, kept on offerd after
it has learned an edge cluster (the mbox cookie below carries PC#<id>.35_0).

    cargo run --release &                                   # offerd with its demo, on :8080
    python3 -m venv .venv && .venv/bin/pip install -r tests/sdk/requirements.txt
    .venv/bin/python examples/clients/python/example.py [http://127.0.0.1:8080]

Prints the decision. Without keep_on_offerd the same call goes to mboxedge35.tt.omtrdc.net.
"""
import json
import sys
from urllib.parse import urlsplit

from delivery_api_client import Address, ChannelType, Context, DeliveryRequest, ExecuteRequest, MboxRequest
from offerd_http import keep_on_offerd  # beside this file
from target_python_sdk import TargetClient


def main():
    offerd_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    keep_on_offerd(offerd_url)
    client = TargetClient.create({
        "client": "demo",  # offerd's demo artifact
        "organization_id": "DEMO00000000000000000000@AdobeOrg",
        "decisioning_method": "server-side",
        "server_domain": urlsplit(offerd_url).netloc,
        "secure": urlsplit(offerd_url).scheme == "https",
    })
    visitor = "a1b2c3d4e5f60718293a4b5c6d7e8f90.35_0"  # edge cluster 35
    result = client.get_offers({
        "target_cookie": "session#example-session#1999999999|PC#{}#1999999999".format(visitor),
        "request": DeliveryRequest(
            context=Context(channel=ChannelType.WEB, address=Address(url="https://shop.example.com/")),
            execute=ExecuteRequest(mboxes=[MboxRequest(name="hero-banner", index=1)])),
    })
    print(json.dumps(result["response"].execute.to_dict(), indent=2, default=str))


if __name__ == "__main__":
    main()
