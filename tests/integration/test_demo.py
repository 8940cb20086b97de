"""``nacos-serving demo`` as ``make demo`` runs it: a subprocess, judged only by what it prints and leaves.

The assertions read the demo's own narrative (ports, counts, greetings), then probe the ports it named:
a demo that claimed success but left a service or the registry running fails here.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from nacos.auto.testing import EmbeddedRegistry

pytestmark = pytest.mark.timeout(180)
DEMO = [sys.executable, "-m", "nacos.auto.cli", "demo"]
RUN_TIMEOUT = 120.0


def demo_env() -> dict[str, str]:
    """The user's NACOS_* settings must not leak into the demo (it sets its own for its children)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NACOS_")}


@dataclass
class Narrative:
    """The facts a demo run states, parsed from its output (an assertion error names what is missing)."""

    out: str
    spread: dict[int, int]
    greetings: dict[int, str]
    drain_failed: int
    drain_total: int
    drained_port: int
    order_port: int

    @classmethod
    def parse(cls, out: str) -> Narrative:
        spread_line = re.search(r"^\s+(user-service@:\d+ \d+(?:, user-service@:\d+ \d+)*)\s+\(round robin", out, re.M)
        assert spread_line, out
        spread = {int(p): int(n) for p, n in re.findall(r"user-service@:(\d+) (\d+)", spread_line.group(1))}
        greetings = {int(p): g for p, g in re.findall(r":(\d+) greeting='([^']*)'", out)}
        failed = re.search(r"^\s+(\d+) failed of (\d+) calls$", out, re.M)
        assert failed, out
        drained = re.search(r"SIGTERM user-service@:(\d+)", out)
        order = re.search(r"order-service 127\.0\.0\.1:(\d+) registered via the import trigger", out)
        assert drained and order, out
        return cls(
            out,
            spread,
            greetings,
            int(failed.group(1)),
            int(failed.group(2)),
            int(drained.group(1)),
            int(order.group(1)),
        )

    @property
    def ports(self) -> list[int]:
        return [*self.spread, self.order_port]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def registry_port(out: str) -> int:
    found = re.search(r"registry up: embedded, HTTP http://127\.0\.0\.1:(\d+)/nacos", out)
    assert found, out
    return int(found.group(1))


def assert_everything_stopped(ports: list[int]) -> None:
    """Children are killed before the demo exits; allow a moment for the kernel to release sockets."""
    deadline = time.monotonic() + 5
    while any(listening(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in ports if listening(p)], f"still listening after the demo exited: {ports}"


def assert_story(story: Narrative) -> None:
    # Round robin over exactly two instances, 20 calls split evenly.
    assert len(story.spread) == 2, story.out
    assert sorted(story.spread.values()) == [10, 10], story.out
    # The published greeting reached both running instances.
    assert story.greetings == dict.fromkeys(story.spread, "bonjour"), story.out
    # The drain: real traffic, some of it to the drained instance, and not one failed call.
    assert story.drained_port in story.spread, story.out
    assert story.drain_total >= 20, story.out
    assert story.drain_failed == 0, story.out
    assert re.search(rf"user-service@:{story.drained_port} [1-9]\d*", story.out.split("calls during the drain")[1])
    assert "went offline, deregistered and stopped" in story.out
    assert "answered by user-service@:" in story.out  # order-service -> user-service through the drop-in


def test_demo_exits_0_and_shows_round_robin_config_and_a_clean_drain() -> None:
    done = subprocess.run(DEMO, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=demo_env())
    assert done.returncode == 0, done.stdout + done.stderr
    story = Narrative.parse(done.stdout)
    assert_story(story)
    assert "demo finished" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert_everything_stopped([*story.ports, registry_port(done.stdout)])


def test_demo_against_a_given_registry_leaves_that_registry_running() -> None:
    with EmbeddedRegistry() as registry:
        done = subprocess.run(
            [*DEMO, "--registry", registry.http_address],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env=demo_env(),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"registry: {registry.http_address} (given with --registry)" in done.stdout
        assert "registry up: embedded" not in done.stdout
        story = Narrative.parse(done.stdout)
        assert_story(story)
        assert_everything_stopped(story.ports)
        with urllib.request.urlopen(
            f"{registry.base_url}/v1/cs/configs?dataId=user-service.yaml&group=DEFAULT_GROUP", timeout=5
        ) as r:
            assert r.read().decode().strip() == "greeting: bonjour"  # the demo's publish went to *this* registry


def test_demo_fails_with_status_1_when_the_registry_is_unreachable() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listened
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        done = subprocess.run(
            [*DEMO, "--registry", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60, env=demo_env()
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "demo failed:" in done.stderr and f"127.0.0.1:{port}" in done.stderr, done.stderr
    assert "demo finished" not in done.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_keep_running_stays_up_then_stops_everything_on_a_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*DEMO, "--keep-running"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=demo_env()
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("--keep-running"):
                break
        out = "".join(lines)
        assert "--keep-running: everything stays up" in out, out
        story = Narrative.parse(out)
        survivors = [p for p in story.ports if p != story.drained_port]
        time.sleep(1.0)
        assert proc.poll() is None, out
        assert all(listening(p) for p in survivors), out  # still up for exploration
        url = f"http://127.0.0.1:{story.order_port}/api/orders/3"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert b'"user"' in response.read()
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode in (0, 130), out + rest + err
        assert "Traceback" not in err, err
        assert_everything_stopped([*survivors, registry_port(out)])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def processes_with_env(marker: str) -> list[int]:
    """PIDs of this user's processes whose environment contains ``marker`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find leftover processes")
def test_a_service_that_cannot_start_fails_the_demo_and_nothing_is_left_running(tmp_path: Path) -> None:
    """A broken ``flask`` on PYTHONPATH kills both user-service instances at import: exit 1, with their
    logs, and every process the demo started (registry, order-service) is gone when it returns."""
    (tmp_path / "flask.py").write_text("raise ImportError('flask is broken on purpose')\n")
    env = {**demo_env(), "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(DEMO, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"demo failed: DemoError: user-service:\d+ exited with status 1", done.stderr), done.stderr
    assert "flask is broken on purpose" in done.stderr  # the child's log tail is shown
    assert "demo finished" not in done.stdout
    deadline = time.monotonic() + 5
    while processes_with_env(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with_env(str(tmp_path)) == [], "processes of the demo outlived it"
