"""A counting fake of Target on loopback: the upstream of the offerds under test, so that
offerd's Batcher really sends, and nothing leaves the machine.

    python3 fake_target.py        # prints "listening on 127.0.0.1:PORT", serves until killed

POST (any path, e.g. /rest/v1/delivery): records the notification ids of a Delivery API
body and answers 200 as Target does. GET /received: what it got so far, as
{"requests": [{"method", "path"}], "notifications": [ids]}. Anything else is recorded too
and answered 404, so an unexpected call (a geo lookup, an artifact download) shows.
Standard library only.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RECEIVED = {"requests": [], "notifications": []}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        ids = [n.get("id") for n in request.get("notifications") or [] if isinstance(n, dict)]
        self.record(ids)
        self.answer(200, {"status": 200, "requestId": request.get("requestId"), "id": request.get("id"),
                          "notifications": [{"id": i} for i in ids]})

    def do_GET(self):  # noqa: N802
        if self.path == "/received":
            with LOCK:
                return self.answer(200, RECEIVED)
        self.record([])
        self.answer(404, {"status": 404, "message": "not faked"})

    def record(self, notification_ids):
        with LOCK:
            RECEIVED["requests"].append({"method": self.command, "path": self.path})
            RECEIVED["notifications"].extend(notification_ids)

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_):  # quiet: /received tells what came
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on 127.0.0.1:{}".format(server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
