"""Loopback HTTP servers for the weights tests: a file server that misbehaves on purpose, and a proxy.

Both are real http.server instances on 127.0.0.1 in a daemon thread, started and stopped by fixtures.
"""
from __future__ import annotations

import hashlib
import io
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


def hashed_name(stem: str, payload: bytes) -> str:
    return f"{stem}-{hashlib.sha256(payload).hexdigest()[:8]}.pth"


def small_weights() -> bytes:
    """A real (tiny) state dict, as torch.save writes it."""
    buf = io.BytesIO()
    torch.save({"w": torch.arange(20000, dtype=torch.float32)}, buf)
    return buf.getvalue()


class Behaviour:
    OK, DROP, DROP_ONCE, SLOW, STALL, BUSY_ONCE = "ok", "drop", "drop_once", "slow", "stall", "busy_once"


class _FileHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        name = self.path.rsplit("/", 1)[-1]
        server.requests[name] += 1
        if name not in server.files:
            self.send_error(404, "Not Found")
            return
        payload, behaviour = server.files[name]
        if behaviour == Behaviour.BUSY_ONCE and server.requests[name] == 1:
            self.send_error(503, "Busy")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if behaviour == Behaviour.DROP or (behaviour == Behaviour.DROP_ONCE and server.requests[name] == 1):
            self.wfile.write(payload[:len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if behaviour == Behaviour.STALL:
            self.wfile.write(payload[:100])
            self.wfile.flush()
            server.stop.wait(server.stall_s)
            return
        step = len(payload) // 5 + 1 if behaviour == Behaviour.SLOW else len(payload)
        for i in range(0, len(payload), step):
            self.wfile.write(payload[i:i + step])
            self.wfile.flush()
            if behaviour == Behaviour.SLOW:
                time.sleep(server.slow_s)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle_error(self, request, client_address):
        pass   # clients that cancel or time out reset their connection on purpose

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class WeightsServer(_Server):
    """Serves files by name under any folder, each with a Behaviour; counts requests per name."""

    def __init__(self):
        super().__init__(_FileHandler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: Counter = Counter()
        self.slow_s, self.stall_s = 0.05, 10.0

    def add(self, name: str, payload: bytes, behaviour: str = Behaviour.OK) -> str:
        self.files[name] = (payload, behaviour)
        return f"{self.url}/models/{name}"


class _ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        """A forward proxy: the request line holds the absolute URL; its host is sent to the target."""
        server = self.server
        server.seen.append(("GET", self.path))
        parts = urllib.parse.urlsplit(self.path)
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with direct.open(f"{server.target}{parts.path}", timeout=10) as upstream:
                body = upstream.read()
                status = upstream.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read(), exc.code
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self):
        """HTTPS through a proxy starts with CONNECT host:443; record it and refuse the tunnel."""
        self.server.seen.append(("CONNECT", self.path))
        self.send_error(502, "No tunnels here")


class RecordingProxy(_Server):
    def __init__(self, target: str):
        super().__init__(_ProxyHandler)
        self.target, self.seen = target, []
