"""par_http against what Python users use today, on 127.0.0.1.

    pip install httpx aiohttp requests       # the peers (not needed by par_http)
    python bench/bench.py --server-bin ../../target/release/par-http-bench

Scenarios (issue 18):
  small  5,000 GETs of /small (13 bytes) at 64 in flight: requests per second
  large  64 GETs of /bytes?n=1048576 (1 MiB) at 64 in flight: MB/s

The server is the Rust benchmark's (crates/par-http-bench: hyper on one thread, in a
process of its own); build it with `cargo build --release -p par-http-bench`, or pass
`--url http://127.0.0.1:PORT` of one already running. Every measurement runs in a fresh
Python process (`bench.py measure CLIENT SCENARIO URL`), in turns, and a cell is the
median of `--runs` rounds. Each client reads every body whole and the byte count is
checked. Not a test: CI does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

SCENARIOS = {
    "small": {"path": "/small", "count": 5000, "size": 13},
    "large": {"path": "/bytes?n=1048576", "count": 64, "size": 1048576},
}
IN_FLIGHT = 64
CLIENTS = [
    "par_http",
    "par_http-async",
    "aiohttp",
    "httpx-threads",
    "httpx-async",
    "requests-threads",
]


# --- one measurement (in its own process) ---------------------------------------------


def run_par_http(url: str, count: int) -> int:
    import par_http

    client = par_http.Client(limits=par_http.Limits(max_connections=IN_FLIGHT))
    total = 0
    with client.parallel(max_in_flight=IN_FLIGHT) as parallel:
        for _ in range(count):
            parallel.get(url)
        while parallel.has_pending_responses:
            total += len(parallel.next_response().content)
    return total


async def run_par_http_async(url: str, count: int) -> int:
    import par_http

    client = par_http.Client(limits=par_http.Limits(max_connections=IN_FLIGHT))
    total = 0
    async with client.parallel(max_in_flight=IN_FLIGHT) as parallel:
        for _ in range(count):
            await parallel.get(url)
        while parallel.has_pending_responses:
            total += len((await parallel.next_response()).content)
    return total


async def run_aiohttp(url: str, count: int) -> int:
    import aiohttp

    limit = asyncio.Semaphore(IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with limit:
                async with session.get(url) as response:
                    return len(await response.read())

        return sum(await asyncio.gather(*(one() for _ in range(count))))


def run_httpx_threads(url: str, count: int) -> int:
    import httpx

    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    with httpx.Client(limits=limits) as client:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            return sum(pool.map(lambda _: len(client.get(url).content), range(count)))


async def run_httpx_async(url: str, count: int) -> int:
    import httpx

    limit = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits) as client:

        async def one() -> int:
            async with limit:
                return len((await client.get(url)).content)

        return sum(await asyncio.gather(*(one() for _ in range(count))))


def run_requests_threads(url: str, count: int) -> int:
    import threading

    import requests

    local = threading.local()

    def one(_: int) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        return len(session.get(url).content)

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        return sum(pool.map(one, range(count)))


def measure(client: str, scenario: str, base: str) -> None:
    spec = SCENARIOS[scenario]
    url = base + spec["path"]
    count = spec["count"]
    runner = {
        "par_http": lambda: run_par_http(url, count),
        "par_http-async": lambda: asyncio.run(run_par_http_async(url, count)),
        "aiohttp": lambda: asyncio.run(run_aiohttp(url, count)),
        "httpx-threads": lambda: run_httpx_threads(url, count),
        "httpx-async": lambda: asyncio.run(run_httpx_async(url, count)),
        "requests-threads": lambda: run_requests_threads(url, count),
    }[client]
    started = time.perf_counter()
    total = runner()
    elapsed = time.perf_counter() - started
    if total != count * spec["size"]:
        raise SystemExit(f"{client}: read {total} bytes, expected {count * spec['size']}")
    print(json.dumps({"seconds": elapsed}))


# --- the runner -----------------------------------------------------------------------


def start_server(binary: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [binary, "server", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    line = server.stdout.readline().split()
    if len(line) < 2 or line[0] != "listening":
        server.kill()
        raise SystemExit(f"unexpected server output: {line}")
    return server, f"http://127.0.0.1:{line[1]}"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "measure":
        measure(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server-bin", help="the par-http-bench binary")
    parser.add_argument("--url", help="a running benchmark server, http://127.0.0.1:PORT")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--scenarios", default="small,large")
    args = parser.parse_args()
    server = None
    if args.url:
        base = args.url.rstrip("/")
    elif args.server_bin:
        server, base = start_server(args.server_bin)
    else:
        parser.error("give --server-bin or --url")
    clients = args.clients.split(",")
    scenarios = args.scenarios.split(",")
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for round_ in range(args.runs):
            for scenario in scenarios:
                # Rotate the order each round, so that no client always runs first.
                order = clients[round_ % len(clients):] + clients[: round_ % len(clients)]
                for client in order:
                    out = subprocess.run(
                        [sys.executable, __file__, "measure", client, scenario, base],
                        capture_output=True, text=True, timeout=600,
                    )
                    if out.returncode != 0:
                        print(f"{client} {scenario} failed: {out.stderr.strip()[-500:]}", file=sys.stderr)
                        continue
                    seconds = json.loads(out.stdout)["seconds"]
                    results.setdefault((client, scenario), []).append(seconds)
                    print(f"round {round_ + 1}: {client} {scenario} {seconds:.3f} s", file=sys.stderr)
    finally:
        if server is not None:
            server.kill()
            server.wait()
    header = ["scenario"] + clients
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * len(clients))
    for scenario in scenarios:
        spec = SCENARIOS[scenario]
        cells = []
        for client in clients:
            times = results.get((client, scenario))
            if not times:
                cells.append("failed")
                continue
            seconds = statistics.median(times)
            if scenario == "small":
                cells.append(f"{spec['count'] / seconds:,.0f}")
            else:
                cells.append(f"{spec['count'] * spec['size'] / seconds / 1e6:,.0f}")
        unit = "req/s" if scenario == "small" else "MB/s"
        label = f"{spec['count']:,} x {spec['path']}, {IN_FLIGHT} in flight: {unit}"
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
