"""Conformance: the official Node.js Nacos client (npm ``nacos`` 2.x, HTTP v1 only) against the embedded registry.

Each test runs ``node tests/conformance/node/driver.js '<json>'`` as a real subprocess and talks to the same
registry from Python over plain HTTP (urllib), so both sides of every exchange are checked.

Namespaces: the Node naming client sends ``namespaceId=public`` (its own default, passed explicitly); the
config client is run both with no namespace (it then sends ``tenant=`` — what most Node apps do) and with
``namespace='public'`` (``tenant=public``). Python always omits the namespace. Every variant must meet in
the public namespace.

The npm dependencies are installed on first use (``npm ci``, falling back to ``npm install``). Missing
``node``/``npm`` is a test failure, not a skip: CI machines have them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import queue
import random
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.testing import EmbeddedRegistry

NODE_DIR = Path(__file__).resolve().parent / "node"
DRIVER = NODE_DIR / "driver.js"
NPM_TIMEOUT = 300.0
MIN_NODE_MAJOR = 18
HTTP_TIMEOUT = 5.0

# ------------------------------------------------------------------------------------------ npm setup


@dataclass
class NodeSetup:
    node: str = ""
    problem: str = ""
    log: list[str] = field(default_factory=list)

    def require(self) -> str:
        if self.problem:
            pytest.fail(self.problem, pytrace=False)
        return self.node


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _install(npm: str, setup: NodeSetup) -> str:
    """Install node_modules when absent; return a problem description or ''."""
    if (NODE_DIR / "node_modules" / "nacos" / "package.json").is_file():
        return ""
    deadline = time.monotonic() + NPM_TIMEOUT
    for args in (["ci", "--no-audit", "--no-fund"], ["install", "--no-audit", "--no-fund"]):
        remaining = deadline - time.monotonic()
        if remaining <= 1:
            break
        try:
            done = _run([npm, *args], remaining)
        except subprocess.TimeoutExpired:
            setup.log.append(f"npm {' '.join(args)}: timed out")
            continue
        setup.log.append(f"npm {' '.join(args)} -> {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        if done.returncode == 0 and (NODE_DIR / "node_modules" / "nacos" / "package.json").is_file():
            return ""
    return (
        f"could not install the Node conformance dependencies in {NODE_DIR} within {NPM_TIMEOUT:.0f} s "
        "(npm ci, then npm install):\n" + "\n".join(setup.log)
    )


@pytest.fixture(scope="session")
def node_setup() -> NodeSetup:
    """Find node/npm and install the pinned ``nacos`` package; failures surface in each test as FAILED."""
    setup = NodeSetup()
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        setup.problem = (
            f"{missing} not found on PATH: the Node.js client conformance tests need Node.js >= "
            f"{MIN_NODE_MAJOR} with npm (CI machines have them; install e.g. `apt-get install nodejs npm`)."
        )
        return setup
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < MIN_NODE_MAJOR:
        setup.problem = f"{node} is Node.js {version or '?'}; the conformance tests need >= {MIN_NODE_MAJOR}."
        return setup
    lock_path = Path(tempfile.gettempdir()) / "nacos-serving-node-conformance-npm.lock"
    with open(lock_path, "w") as lock:  # one npm install at a time, should tests run in parallel
        fcntl.flock(lock, fcntl.LOCK_EX)
        setup.problem = _install(npm, setup)
    setup.node = node
    return setup


# ------------------------------------------------------------------------------------------ the driver


class NodeDriver:
    """``node driver.js <command>`` with its JSON-line events read on a thread."""

    def __init__(self, node: str, command: dict[str, Any]) -> None:
        self.command = command
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [node, str(DRIVER), json.dumps(command)],
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"event": "raw", "line": line.rstrip("\n")}
            event["_at"] = time.monotonic()
            self._queue.put(event)
        self._queue.put(None)

    def _take(self, timeout: float) -> dict[str, Any] | None:
        event = self._queue.get(timeout=timeout)
        if event is None:
            self._queue.put(None)  # keep signalling end of output
            return None
        self.events.append(event)
        if event.get("event") == "error":
            self.fail(f"the Node driver reported: {event.get('message')}")
        return event

    def drain(self) -> None:
        """Take whatever events have arrived, without waiting."""
        with contextlib.suppress(queue.Empty):
            while self._take(0) is not None:
                pass

    def seen(self, name: str, **match: Any) -> dict[str, Any] | None:
        self.drain()
        for event in self.events:
            if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                return event
        return None

    def wait_for(self, name: str, timeout: float, **match: Any) -> dict[str, Any]:
        end = time.monotonic() + timeout
        found = self.seen(name, **match)
        while found is None:
            remaining = end - time.monotonic()
            if remaining <= 0:
                self.fail(f"no {name!r} event {match or ''} within {timeout:.0f} s")
            try:
                event = self._take(remaining)
            except queue.Empty:
                continue
            if event is None:
                self.process.wait(5)
                self.fail(f"the Node driver exited ({self.process.returncode}) before a {name!r} event")
            elif event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                found = event
        return found

    def finish(self, timeout: float) -> None:
        """Wait for ``done`` and a zero exit status."""
        self.wait_for("done", timeout)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the Node driver did not exit within {timeout:.0f} s after 'done'")
        if code != 0:
            self.fail(f"the Node driver exited with {code}")

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()[-limit:]

    def fail(self, message: str) -> None:
        self.drain()
        events = "\n".join(json.dumps({k: v for k, v in e.items() if k != "_at"}) for e in self.events[-30:])
        pytest.fail(
            f"{message}\ncommand: {json.dumps(self.command)}\nevents:\n{events}\nstderr (tail):\n{self.stderr_tail()}",
            pytrace=False,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # this driver's own PID only
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def node_driver(node_setup: NodeSetup) -> Iterator[Any]:
    """``start(command)`` runs the driver; every driver started is killed when the test ends."""
    started: list[NodeDriver] = []

    def start(command: dict[str, Any]) -> NodeDriver:
        driver = NodeDriver(node_setup.require(), command)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.stop()


# ------------------------------------------------------------------------------------------ Python side


def _http(registry: EmbeddedRegistry, method: str, path: str, params: dict[str, Any]) -> tuple[int, str]:
    data = urllib.parse.urlencode(params).encode()
    url = f"{registry.base_url}{path}"
    body: bytes | None = data
    if method in ("GET", "DELETE"):
        url, body = f"{url}?{data.decode()}", None
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _list_hosts(registry: EmbeddedRegistry, service: str) -> list[dict[str, Any]]:
    status, text = _http(registry, "GET", "/v1/ns/instance/list", {"serviceName": service})
    assert status == 200, f"GET /v1/ns/instance/list?serviceName={service} -> {status} {text}"
    hosts: list[dict[str, Any]] = json.loads(text)["hosts"]
    return hosts


def _register(registry: EmbeddedRegistry, service: str, ip: str, port: int, metadata: dict[str, str]) -> None:
    form = {"serviceName": service, "ip": ip, "port": port, "metadata": json.dumps(metadata)}
    status, text = _http(registry, "POST", "/v1/ns/instance", form)
    assert (status, text) == (200, "ok"), f"POST /v1/ns/instance {form} -> {status} {text}"


def _deregister(registry: EmbeddedRegistry, service: str, ip: str, port: int) -> None:
    _http(registry, "DELETE", "/v1/ns/instance", {"serviceName": service, "ip": ip, "port": port})


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _free_port() -> int:
    return random.randint(20000, 60000)


# ------------------------------------------------------------------------------------------ tests

BEAT_TIMEOUT_MS = 11000  # below the Node client's 10 s gap before its first beat + 5 s beat interval


def test_node_registers_with_heartbeats_and_deregisters(registry: EmbeddedRegistry, node_driver: Any) -> None:
    """(a) Node registers + beats; Python sees it healthy past the beat timeout; deregistering removes it.

    The instance's ``preserved.heart.beat.timeout`` is 11 s, so without beats it would turn unhealthy about
    11 s after registering; we watch it until 12.5 s or later. (The Node client's first beat comes 10 s
    after it starts, then one every ``clientBeatInterval`` = 5 s.)
    """
    service, ip, port = _unique("node-beat"), "10.254.0.1", _free_port()
    metadata = {
        "app": "node-conformance",
        "lang": "javascript",
        "preserved.heart.beat.timeout": str(BEAT_TIMEOUT_MS),
        "preserved.ip.delete.timeout": "60000",
    }
    me = f"{ip}:{port}"
    driver = node_driver(
        {
            "scenario": "naming",
            "server": registry.http_address,
            "namespace": "public",
            "service": service,
            "register": {"ip": ip, "port": port, "metadata": metadata},
            "subscribe": True,
            "expect_pushed": [[me]],
            "hold_ms": 14000,  # ends between beats (~10 s, ~15 s): none is in flight at the deregister
            "wait_ms": 10000,
            "deadline_ms": 45000,
        }
    )
    try:
        driver.wait_for("registered", 15)
        registered_at = time.monotonic()
        listed = driver.wait_for("listed", 12)["hosts"]
        assert [(h["ip"], h["port"]) for h in listed] == [(ip, port)]
        assert listed[0]["metadata"] == metadata
        driver.wait_for("pushed", 12)

        observations: list[tuple[float, dict[str, Any]]] = []
        while driver.seen("held") is None:  # the driver deregisters right after "held"
            assert time.monotonic() - registered_at < 25, "the driver never finished holding"
            hosts = [h for h in _list_hosts(registry, service) if (h["ip"], h["port"]) == (ip, port)]
            if not hosts and driver.seen("held") is None:
                pytest.fail(f"{me} vanished from {service} after {time.monotonic() - registered_at:.1f} s")
            if hosts:
                observations.append((time.monotonic() - registered_at, hosts[0]))
            time.sleep(0.5)

        first = observations[0][1]
        assert first["metadata"] == metadata
        assert first["ephemeral"] is True and first["enabled"] is True
        assert first["clusterName"] == "DEFAULT"
        assert first["instanceHeartBeatTimeOut"] == BEAT_TIMEOUT_MS
        unhealthy = [(round(t, 1), h["healthy"]) for t, h in observations if h["healthy"] is not True]
        assert not unhealthy, f"instance turned unhealthy although the Node client beats: {unhealthy}"
        latest = max(t for t, _ in observations)
        assert latest >= BEAT_TIMEOUT_MS / 1000 + 1.5, f"observed only {latest:.1f} s, not past the beat timeout"
        beats = [e for e in driver.events if e["event"] == "beat"]
        assert beats, "the Node client sent no beat while holding"
        assert all(b["answer"].get("code") == 10200 for b in beats), beats  # 10200 = instance known
        assert all(b["serviceName"] == f"DEFAULT_GROUP@@{service}" for b in beats), beats

        driver.wait_for("gone", 15)
        driver.finish(10)
        assert [h for h in _list_hosts(registry, service) if (h["ip"], h["port"]) == (ip, port)] == []
    finally:
        _deregister(registry, service, ip, port)


def test_node_sees_instances_registered_by_python(registry: EmbeddedRegistry, node_driver: Any) -> None:
    """(b) Python registers over HTTP; Node lists them, and its subscriber follows an add and a removal."""
    service = _unique("py-registered")
    a_ip, a_port, b_ip, b_port = "10.254.1.1", _free_port(), "10.254.1.2", _free_port()
    a, b = f"{a_ip}:{a_port}", f"{b_ip}:{b_port}"
    keep = {"preserved.heart.beat.timeout": "60000", "preserved.ip.delete.timeout": "60000"}
    metadata_a = {"origin": "python", "zone": "a", **keep}
    try:
        _register(registry, service, a_ip, a_port, metadata_a)
        driver = node_driver(
            {
                "scenario": "naming",
                "server": registry.http_address,
                "namespace": "public",
                "service": service,
                "expect_listed": [a],
                "subscribe": True,
                "expect_pushed": [[a], sorted([a, b]), [b]],
                # nacos-naming has no push channel here (the registry does not send UDP pushes), so its
                # subscriber refreshes by polling every cacheMillis (3 s from this registry).
                "push_wait_ms": 16000,
                "wait_ms": 10000,
                "deadline_ms": 50000,
            }
        )
        listed = driver.wait_for("listed", 15)["hosts"]
        assert [(h["ip"], h["port"], h["healthy"], h["enabled"]) for h in listed] == [(a_ip, a_port, True, True)]
        assert listed[0]["metadata"] == metadata_a

        driver.wait_for("pushed", 15, wanted=[a])
        _register(registry, service, b_ip, b_port, {"origin": "python", "zone": "b", **keep})
        driver.wait_for("pushed", 18, wanted=sorted([a, b]))
        _deregister(registry, service, a_ip, a_port)
        driver.wait_for("pushed", 18, wanted=[b])
        driver.finish(10)
        hosts = [e["hosts"] for e in driver.events if e["event"] == "hosts"]
        assert hosts[-1][0]["metadata"]["zone"] == "b", hosts[-1]
    finally:
        _deregister(registry, service, a_ip, a_port)
        _deregister(registry, service, b_ip, b_port)


@pytest.mark.parametrize("namespace", [None, "public"], ids=["namespace-unset", "namespace-public"])
def test_node_config_publish_get_listen_remove(
    registry: EmbeddedRegistry, node_driver: Any, namespace: str | None
) -> None:
    """(c) Node publishes and reads a config; a Python publish reaches its long-polling subscriber; remove."""
    data_id, group = f"{_unique('node-conf')}.properties", "NODE_CONFORMANCE"
    from_node = "greeting=hello from node \u2713\nlist=a,b&c=d\n"
    from_python = f"greeting=hello from python \u00fc {data_id}\nplus=1+1%\n"
    driver = node_driver(
        {
            "scenario": "config",
            "server": registry.http_address,
            "namespace": namespace,
            "data_id": data_id,
            "group": group,
            "content": from_node,
            "expect_change": from_python,
            "change_wait_ms": 10000,
            "wait_ms": 10000,
            "deadline_ms": 40000,
        }
    )
    try:
        assert driver.wait_for("got", 15)["content"] == from_node
        driver.wait_for("subscribed", 10)
        status, text = _http(registry, "GET", "/v1/cs/configs", {"dataId": data_id, "group": group})
        assert (status, text) == (200, from_node), "Python (no tenant) does not see the Node-published config"

        status, text = _http(
            registry, "POST", "/v1/cs/configs", {"dataId": data_id, "group": group, "content": from_python}
        )
        assert (status, text) == (200, "true")
        published_at = time.monotonic()
        changed = driver.wait_for("changed", 12)
        # An answered long poll delivers within milliseconds; a missed one only after its 30 s hold.
        assert changed["_at"] - published_at < 5.0, f"change arrived after {changed['_at'] - published_at:.1f} s"

        assert driver.wait_for("removed", 10)["result"] is True
        driver.finish(10)
        status, text = _http(registry, "GET", "/v1/cs/configs", {"dataId": data_id, "group": group})
        assert status == 404, f"GET after the Node client's remove -> {status} {text!r}"
    finally:
        _http(registry, "DELETE", "/v1/cs/configs", {"dataId": data_id, "group": group})
