"""A rolling restart under live traffic: with a drain, callers see no failed request.

Two instances of a Flask service (each request takes 50 ms, so calls are always in flight) run under
the zero-intrusion launcher with ``shutdown.drain_seconds``; four callers loop over ``http://service/``
with the requests drop-in, with retries turned OFF so that only the drain can keep calls from hitting
a stopping instance. Each instance is replaced in turn: start the new one, wait for it to be listed,
SIGTERM the old one (which goes offline, waits, deregisters, then stops). Without the drain the same
test fails: in-flight calls are cut when the server exits.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from nacos.auto import discovery
from nacos.auto.discovery.ext import requests as nacos_requests
from nacos.auto.testing import EmbeddedRegistry

from sdk_scenarios import unique
from test_registration_support import app_env, free_port, hosts, python, started, stop, wait_for

DRAIN_SECONDS = "1.5"
SLOW_APP = textwrap.dedent(
    """
    import sys, time
    from flask import Flask

    app = Flask(__name__)

    @app.get("/")
    def index():
        time.sleep(0.05)
        return "ok"

    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
    """
)


class Traffic:
    """Caller threads counting successful and failed GETs until stopped."""

    def __init__(self, url: str, callers: int = 4) -> None:
        self.url = url
        self.ok = 0
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(callers)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = nacos_requests.get(self.url, timeout=3)
                outcome = "" if answer.status_code == 200 else f"HTTP {answer.status_code}"
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with self._lock:
                if outcome:
                    self.failed.append(outcome)
                else:
                    self.ok += 1

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


@pytest.fixture
def no_retries(registry: EmbeddedRegistry) -> Iterator[None]:
    discovery.configure(overrides={"server": registry.http_address, "discovery.retries": 0})
    try:
        yield
    finally:
        discovery.reset()


def test_rolling_restart_with_drain_fails_no_call(registry: EmbeddedRegistry, no_retries: None, tmp_path: Path) -> None:
    service = unique("rolling")
    env = app_env(registry, service, NACOS_SHUTDOWN_DRAIN_SECONDS=DRAIN_SECONDS)
    app = tmp_path / "slow_app.py"
    app.write_text(SLOW_APP)

    def launch(stack: ExitStack, port: int) -> object:
        cmd = python("-m", "nacos.auto.registration", "--service-port", str(port), str(app), str(port))
        return stack.enter_context(started(cmd, env))

    def listed_ports() -> set[int]:
        return {h["port"] for h in hosts(registry.base_url, service) if h.get("enabled", True)}

    with ExitStack() as stack:
        old = {port: launch(stack, port) for port in (free_port(), free_port())}
        wait_for(lambda: listed_ports() == set(old), 20, "both first instances registered")
        with Traffic(f"http://{service}/") as traffic:
            wait_for(lambda: traffic.ok >= 20, 10, "traffic to flow")
            for port, proc in old.items():
                fresh = free_port()
                launch(stack, fresh)
                wait_for(lambda fresh=fresh: fresh in listed_ports(), 20, f"the new instance :{fresh} listed")
                before = traffic.ok
                wait_for(lambda before=before: traffic.ok >= before + 10, 10, "traffic reaching the new set")
                stop(proc, timeout=20)  # SIGTERM: offline, drain, deregister, then the server stops
                assert port not in listed_ports()
            calls_during_restart = traffic.ok
            wait_for(lambda: traffic.ok >= calls_during_restart + 20, 10, "traffic after the restart")
        assert traffic.failed == [], f"{len(traffic.failed)} failed calls: {traffic.failed[:5]}"
        assert traffic.ok > 100
