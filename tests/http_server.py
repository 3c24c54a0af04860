"""A real HTTP server on 127.0.0.1 for tests: stands in for enrichment targets, recording hosts and
transcription servers. Routes answer with a status, headers and a body, after an optional delay; every
request is recorded.

    def test_x(http_server):
        http_server.route("GET", "/who", json={"email": "a@b.example"})
        http_server.route("POST", "/flaky", status=[500, 200], json={"ok": True})  # 500 first, then 200
        ... http_server.url("/who") ...
        assert http_server.requests[0].headers["Authorization"] == "Bearer t"
"""

import json as jsonlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    statuses: list
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    ranges: bool = False
    calls: int = 0

    def next_status(self):
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return status


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return jsonlib.loads(self.body)


class TestHTTPServer:
    __test__ = False

    def __init__(self):
        self.routes = {}
        self.requests = []
        self.connections = 0  # TCP connections accepted, even those that never made a request (TLS, junk)
        self.gates = {}  # path -> threading.Event the answer waits for (a test's way to hold a request)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                server.connections += 1
                super().setup()

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                route = server.routes.get((self.command, self.path.split("?")[0]))
                if route is None:
                    status, payload, headers, delay = 404, b"not found", {}, 0
                else:
                    status, payload, headers, delay = route.next_status(), route.body, dict(route.headers), route.delay
                    if route.ranges:
                        status, payload = served_range(self.headers.get("Range"), payload, headers, status)
                if delay:
                    time.sleep(delay)
                if gate := server.gates.get(self.path.split("?")[0]):
                    gate.wait(30)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/", host="127.0.0.1"):
        return f"http://{host}:{self.port}{path}"

    def route(self, method, path, status=200, json=None, body=b"", headers=None, delay=0.0, ranges=False):
        headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        statuses = status if isinstance(status, list) else [status]
        self.routes[(method, path)] = Route(statuses, body, headers, delay, ranges)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def served_range(header, payload, headers, status):
    """Honour `Range: bytes=a-b` as a file server would (206 and Content-Range)."""
    headers["Accept-Ranges"] = "bytes"
    if not header or not header.startswith("bytes="):
        return status, payload
    first, _, last = header[6:].partition("-")
    start = int(first) if first else max(len(payload) - int(last), 0)
    end = int(last) if first and last else len(payload) - 1
    end = min(end, len(payload) - 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{len(payload)}"
    return 206, payload[start : end + 1]


@pytest.fixture
def http_server():
    server = TestHTTPServer()
    yield server
    server.stop()
