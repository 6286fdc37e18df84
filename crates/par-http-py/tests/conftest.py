"""A local HTTP server on 127.0.0.1 for the suite (threaded http.server).

Routes:
  /echo          JSON of the request: method, path, query, headers, body
  /slow?ms=N     answers after N ms (at most 10 s)
  /hang          never answers; returns when the client closes (at most 10 s), and
                 counts the connection as closed then
  /status/N      answers with status N
  /redirect      302 to /echo
  /big?n=N       N bytes of body
  anything else  "you asked for <path>"

It counts open connections, requests per path, requests in flight at once (the
highest), and /hang connections seen open and seen closed.
"""

from __future__ import annotations

import json
import select
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open_connections = 0
        self.paths: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.hang_open = 0
        self.hang_closed = 0

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        """Polls `predicate` (bounded in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self):
                    return True
            time.sleep(0.005)
        return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "Server"

    def setup(self) -> None:
        super().setup()
        with self.server.stats.lock:
            self.server.stats.open_connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.stats.lock:
                self.server.stats.open_connections -= 1

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Server", "par-http-tests")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        stats = self.server.stats
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self._body()
        with stats.lock:
            stats.paths[url.path] = stats.paths.get(url.path, 0) + 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if url.path == "/echo":
                payload = {
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("latin-1"),
                }
                self._reply(200, json.dumps(payload).encode(), "application/json")
            elif url.path == "/slow":
                time.sleep(min(int(query.get("ms", ["100"])[0]), 10_000) / 1000)
                self._reply(200, b"slow")
            elif url.path == "/hang":
                with stats.lock:
                    stats.hang_open += 1
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([self.connection], [], [], 0.01)
                    if ready and not self.connection.recv(1, 0x2):  # MSG_PEEK: b"" at EOF
                        break
                with stats.lock:
                    stats.hang_closed += 1
                self.close_connection = True
            elif url.path.startswith("/status/"):
                status = int(url.path.rsplit("/", 1)[1])
                self._reply(status, f"status {status}".encode())
            elif url.path == "/redirect":
                self._reply(302, b"", headers={"Location": "/echo"})
            elif url.path == "/big":
                n = int(query.get("n", ["1048576"])[0])
                self._reply(200, b"x" * n, "application/octet-stream")
            else:
                self._reply(200, f"you asked for {url.path}".encode())
        finally:
            with stats.lock:
                stats.in_flight -= 1

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connection attempts beyond it (retried after 1 s).
    request_queue_size = 512
    stats: Stats


@pytest.fixture
def server():
    """A fresh server per test: yields (base URL, stats)."""
    srv = Server(("127.0.0.1", 0), Handler)
    srv.stats = Stats()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", srv.stats
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nobody listening."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def sigint_handled():
    """Python's own SIGINT handler for the test, whatever the process inherited: a
    process started in the background by a non-interactive shell (as CI may be) has
    SIGINT ignored, and then `_thread.interrupt_main()` does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
