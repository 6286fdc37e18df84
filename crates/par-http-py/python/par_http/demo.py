"""``python -m par_http.demo``: the seed page's two examples, offline.

It serves itself on 127.0.0.1 (a threaded ``http.server`` on a free port; each path
answers after a short random delay, so the responses finish out of order) and runs:

1. two requests collected through their handles;
2. nine requests collected in completion order with ``next_response()``;
3. the same nine under ``async with`` (asyncio).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import par_http


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        time.sleep(random.uniform(0.0, 0.2))
        body = f"you asked for {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connection attempts beyond it, which
    # the client's kernel retries only after a second.
    request_queue_size = 128


def _serve() -> ThreadingHTTPServer:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    server = _serve()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        print(f"serving on {base}\n")

        print("1. two requests, each collected through its handle:")
        started = time.perf_counter()
        with par_http.parallel() as parallel:
            pending_one = parallel.get(f"{base}/1")
            pending_two = parallel.get(f"{base}/2")
            response_one = pending_one.get_response()
            response_two = pending_two.get_response()
        print(f"   {response_one.status_code} {response_one.text.strip()}")
        print(f"   {response_two.status_code} {response_two.text.strip()}")
        print(f"   in {time.perf_counter() - started:.3f} s\n")

        print("2. nine requests, in the order they finish:")
        started = time.perf_counter()
        with par_http.parallel() as parallel:
            for counter in range(1, 10):
                parallel.get(f"{base}/{counter}")
            while parallel.has_pending_responses:
                r = parallel.next_response()
                print(f"   {r.status_code} {r.url}")
        print(f"   in {time.perf_counter() - started:.3f} s (each takes up to 0.2 s)\n")

        print("3. the same under asyncio:")

        async def run() -> None:
            client = par_http.Client()
            async with client.parallel() as parallel:
                for counter in range(1, 10):
                    await parallel.get(f"{base}/{counter}")
                while parallel.has_pending_responses:
                    r = await parallel.next_response()
                    print(f"   {r.status_code} {r.url}")

        started = time.perf_counter()
        asyncio.run(run())
        print(f"   in {time.perf_counter() - started:.3f} s")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
