"""What service discovery costs a caller, side by side with the hard-coded URL it replaces.

    .venv/bin/python bench/discovery_overhead.py > result.json      # ~30-60 s; progress on stderr

Against a fresh embedded registry (``EmbeddedRegistry``) and one HTTP instance (a stdlib
``ThreadingHTTPServer`` subprocess with keep-alive, answering a small JSON body), registered as
``bench-service``:

* **resolve**: ns per ``Resolver.resolve("http://bench-service/api/users/1")`` (the hot path: snapshot
  read, pick, rewrite) vs ns per ``urllib.parse.urlsplit`` of the same URL (target: <= 3x).
* **requests**: req/s of the drop-in ``requests.get("http://bench-service/...")`` vs plain
  ``requests.get("http://127.0.0.1:PORT/...")`` (target >= 1.0x: the drop-in pools connections, plain
  module-level ``requests.get`` opens one per call); drop-in ``Session`` vs plain ``Session``
  (target >= 0.95x).
* **httpx**: the same pairs for ``httpx.get`` and ``httpx.Client``.
* **aiohttp**: ``get_session()`` vs a plain ``aiohttp.ClientSession`` (target >= 0.95x).

Each pair is measured in alternating rounds (drop-in, plain, drop-in, ...) and the best round of each
side is kept, so a burst of load from elsewhere on the machine hits both sides alike. Calls are
sequential, one at a time: the figure is per-call overhead, not server capacity. One JSON object goes to
stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import requests

from nacos.auto.client import Instance
from nacos.auto.discovery import configure, reset
from nacos.auto.discovery.ext import aiohttp as nacos_aiohttp
from nacos.auto.discovery.ext import httpx as nacos_httpx
from nacos.auto.discovery.ext import requests as nacos_requests
from nacos.auto.testing import EmbeddedRegistry

SERVICE = "bench-service"
PATH = "/api/users/1"
SERVER = textwrap.dedent(
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    BODY = b'{"id": 1, "name": "user"}'

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stalls

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rate(call: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return count / (time.perf_counter() - started)


def arate(make: Callable[[], Any], count: int) -> float:
    async def run() -> float:
        call, close = make()
        try:
            await call()  # warm-up: connection (and, for discovery, subscription)
            started = time.perf_counter()
            for _ in range(count):
                await call()
            return count / (time.perf_counter() - started)
        finally:
            await close()

    return asyncio.run(run())


def compare(ours: Callable[[], float], plain: Callable[[], float], rounds: int) -> dict[str, float]:
    best_ours = best_plain = 0.0
    for _ in range(rounds):
        best_ours = max(best_ours, ours())
        best_plain = max(best_plain, plain())
    return {
        "dropin_rps": round(best_ours, 1),
        "plain_rps": round(best_plain, 1),
        "ratio": round(best_ours / best_plain, 3),
    }


def ns_per_call(call: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="calls per round and side (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per pair (default 5)")
    args = parser.parse_args()
    count, rounds = args.requests, args.rounds
    result: dict[str, Any] = {
        "benchmark": "discovery_overhead",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "requests_per_round": count,
        "rounds": rounds,
    }
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRegistry() as registry:
        script = Path(tmp) / "server.py"
        script.write_text(SERVER)
        instance = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        try:
            assert instance.stdout is not None
            port = int(instance.stdout.readline())
            resolver = configure(overrides={"server": registry.http_address, "cache_dir": tmp})
            resolver.client.register_instance(SERVICE, Instance(ip="127.0.0.1", port=port))
            deadline = time.monotonic() + 10
            while not (resolver.snapshot(SERVICE).hosts) and time.monotonic() < deadline:
                time.sleep(0.05)
            service_url = f"http://{SERVICE}{PATH}"
            plain_url = f"http://127.0.0.1:{port}{PATH}"

            log("resolve vs urlsplit")
            resolve_ns = ns_per_call(lambda: resolver.resolve(service_url), 200_000)
            split_ns = ns_per_call(lambda: urllib.parse.urlsplit(service_url), 200_000)
            result["resolve"] = {
                "resolve_ns": round(resolve_ns, 1),
                "urlsplit_ns": round(split_ns, 1),
                "ratio": round(resolve_ns / split_ns, 2),
                "target_ratio_max": 3.0,
            }

            log("requests")
            nacos_requests.get(service_url)
            result["requests_module"] = compare(
                lambda: rate(lambda: nacos_requests.get(service_url), count),
                lambda: rate(lambda: requests.get(plain_url), count),
                rounds,
            ) | {"target_ratio_min": 1.0}
            with nacos_requests.Session() as ours, requests.Session() as plain:
                result["requests_session"] = compare(
                    lambda: rate(lambda: ours.get(service_url), count),
                    lambda: rate(lambda: plain.get(plain_url), count),
                    rounds,
                ) | {"target_ratio_min": 0.95}

            log("httpx")
            nacos_httpx.get(service_url)
            result["httpx_module"] = compare(
                lambda: rate(lambda: nacos_httpx.get(service_url), count),
                lambda: rate(lambda: httpx.get(plain_url), count),
                rounds,
            ) | {"target_ratio_min": 1.0}
            with nacos_httpx.Client() as ours_x, httpx.Client() as plain_x:
                result["httpx_client"] = compare(
                    lambda: rate(lambda: ours_x.get(service_url), count),
                    lambda: rate(lambda: plain_x.get(plain_url), count),
                    rounds,
                ) | {"target_ratio_min": 0.95}

            log("aiohttp")

            def ours_aiohttp() -> tuple[Callable[[], Any], Callable[[], Any]]:
                async def call() -> None:
                    async with nacos_aiohttp.get_session().get(service_url) as response:
                        await response.read()

                async def close() -> None:
                    await nacos_aiohttp.get_session().close()

                return call, close

            def plain_aiohttp() -> tuple[Callable[[], Any], Callable[[], Any]]:
                session: list[aiohttp.ClientSession] = []

                async def call() -> None:
                    if not session:
                        session.append(aiohttp.ClientSession())
                    async with session[0].get(plain_url) as response:
                        await response.read()

                async def close() -> None:
                    if session:
                        await session[0].close()

                return call, close

            result["aiohttp_session"] = compare(
                lambda: arate(ours_aiohttp, count), lambda: arate(plain_aiohttp, count), rounds
            ) | {"target_ratio_min": 0.95}
        finally:
            instance.kill()
            instance.wait(10)
            reset()
    checks = {
        "resolve": result["resolve"]["ratio"] <= 3.0,
        **{
            key: result[key]["ratio"] >= result[key]["target_ratio_min"]
            for key in ("requests_module", "requests_session", "httpx_module", "httpx_client", "aiohttp_session")
        },
    }
    result["targets_met"] = checks
    print(json.dumps(result))


if __name__ == "__main__":
    main()
