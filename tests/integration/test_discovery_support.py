"""Real HTTP instances for the discovery tests: stdlib servers in subprocesses, registered in a registry.

Each instance answers every method with JSON naming its own port (so tests can count the spread),
``/status/<code>`` with that status, and ``/slow/<seconds>`` after a pause. Instances run on free ports
chosen by the OS (the port is read from the child's ready line) and are killed by PID on exit.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.client import ClientOptions, Instance, NacosClient
from nacos.auto.discovery import Resolver, configure, reset
from nacos.auto.settings import load_settings
from nacos.auto.testing import EmbeddedRegistry

SERVER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    FAIL_WITH = int(sys.argv[1]) if len(sys.argv) > 1 else 0  # answer every call with this status
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status = FAIL_WITH or 200
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "status":
                status = int(parts[1])
            if len(parts) >= 2 and parts[0] == "slow":
                time.sleep(float(parts[1]))
            payload = json.dumps({
                "port": self.server.server_address[1], "method": self.command, "path": self.path,
                "host": self.headers.get("Host"), "body": body.decode("utf-8", "replace"),
                "cookie": self.headers.get("Cookie"), "peer": self.client_address[1],
            }).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if "setcookie" in self.path:
                self.send_header("Set-Cookie", "session=abc; Path=/")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("ready", server.server_address[1], flush=True)
    server.serve_forever()
    """
)


class HttpInstance:
    """One instance subprocess; ``port`` is known once it printed its ready line."""

    def __init__(self, script: Path, fail_with: int = 0) -> None:
        command = [sys.executable, str(script)] + ([str(fail_with)] if fail_with else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the child prints it right after binding, or exits
        if not line.startswith("ready"):
            self.kill()
            raise RuntimeError(f"test instance did not start: {line!r}")
        self.port = int(line.split()[1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


class Fleet:
    """Instances of one service, registered in the registry through the test's own client."""

    def __init__(self, client: NacosClient, service: str, script: Path) -> None:
        self.client = client
        self.service = service
        self.script = script
        self.instances: list[HttpInstance] = []

    def start(
        self, metadata: dict[str, str] | None = None, weight: float = 1.0, cluster: str = "DEFAULT", fail_with: int = 0
    ) -> int:
        instance = HttpInstance(self.script, fail_with)
        self.instances.append(instance)
        self.client.register_instance(
            self.service,
            Instance(ip="127.0.0.1", port=instance.port, weight=weight, cluster_name=cluster, metadata=metadata or {}),
        )
        return instance.port

    def kill(self, port: int) -> None:
        for instance in self.instances:
            if instance.port == port:
                instance.kill()

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Until the client's snapshot lists ``count`` instances (subscribing if needed)."""
        self.client.subscribe(self.service)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.client.cached_service(self.service)
            if snapshot is not None and len(snapshot.hosts) == count:
                return
            time.sleep(0.02)
        raise AssertionError(f"{self.service}: the registry did not list {count} instances within {timeout}s")

    def close(self) -> None:
        for instance in self.instances:
            instance.kill()


@pytest.fixture(scope="session", name="instance_script")
def instance_script_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("discovery") / "instance.py"
    path.write_text(SERVER_SCRIPT)
    return path


@pytest.fixture(scope="session", name="discovery_cache")
def discovery_cache_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nacos-cache")


def settings_for(registry: EmbeddedRegistry, cache: Path, **overrides: object) -> dict[str, object]:
    return {"server": registry.http_address, "cache_dir": str(cache), **overrides}


@pytest.fixture(name="resolver")
def resolver_fixture(registry: EmbeddedRegistry, discovery_cache: Path) -> Iterator[Resolver]:
    """The process-wide resolver, pointed at the session registry (and forgotten afterwards)."""
    yield configure(overrides=settings_for(registry, discovery_cache))
    reset()


@pytest.fixture(name="client")
def client_fixture(registry: EmbeddedRegistry, discovery_cache: Path) -> NacosClient:
    """The same shared client the resolver uses (one client per process per configuration)."""
    settings = load_settings(settings_for(registry, discovery_cache))
    options: ClientOptions = settings.client_options()
    return NacosClient.shared(options)


def unique_service(prefix: str = "svc") -> str:
    """A single-label service name (a host the drop-ins treat as a service), unique per test."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(name="make_fleet")
def make_fleet_fixture(client: NacosClient, instance_script: Path) -> Iterator[Callable[..., Fleet]]:
    """``make_fleet(3)``: a new service with three live, registered instances; all killed afterwards."""
    fleets: list[Fleet] = []

    def make(count: int = 3, prefix: str = "svc", **instance: Any) -> Fleet:
        fleet = Fleet(client, unique_service(prefix), instance_script)
        fleets.append(fleet)
        for _ in range(count):
            fleet.start(**instance)
        fleet.wait_for(count)
        return fleet

    yield make
    for fleet in fleets:
        fleet.close()
