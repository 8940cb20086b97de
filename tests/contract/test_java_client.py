"""The official Nacos Java client (com.alibaba.nacos:nacos-client) against the registry under test.

``interop/java-client`` holds a small Maven project whose ``Driver`` runs one scenario with the real
client and prints JSON lines ("events") on stdout. The classpath is resolved and the driver compiled
once (cached under ``interop/java-client/target``); every scenario is then a ``java`` subprocess.

Uses the ``registry`` fixture (``.http_address`` = "127.0.0.1:P", gRPC on P+1000; optional ``.kind``).
A missing ``java`` or ``mvn`` is a failure, not a skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "interop" / "java-client"
TARGET = PROJECT / "target"
CLASSES = TARGET / "classes"
CP_FILE = TARGET / "classpath.txt"
STAMP = TARGET / ".build-stamp"
BUILD_LOG = TARGET / "maven-build.log"

BUILD_TIMEOUT = 600.0  # first resolution downloads nacos-client and friends into ~/.m2
RUN_TIMEOUT = 60.0  # per scenario; the driver's own watchdog fires at 55 s

A, B = "10.10.0.1:8081", "10.10.0.2:8082"
PERSISTENT = "10.20.0.1:9090"
V1 = "greeting=hello\nfrom=java-client v1"
V2 = "greeting=bonjour\nfrom=java-client v2 \u00e9\u00e8"

Event = dict[str, Any]


# ---------------------------------------------------------------------------- build


def _build_needed() -> bool:
    if not (CP_FILE.is_file() and STAMP.is_file() and (CLASSES / "Driver.class").is_file()):
        return True
    stamp = STAMP.stat().st_mtime
    sources = [PROJECT / "pom.xml", *(p for p in (PROJECT / "src").rglob("*") if p.is_file())]
    if any(p.stat().st_mtime > stamp for p in sources):
        return True
    # ~/.m2 may have been cleaned since the classpath was written
    return any(jar and not Path(jar).exists() for jar in CP_FILE.read_text().strip().split(os.pathsep))


class _Unavailable(Exception):
    """The driver cannot be built; every test then FAILS with this message (never skips)."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise _Unavailable(
            f"`{name}` not found on PATH: the Java client contract tests need a JDK 17+ (java) and "
            f"Maven 3.8+ (mvn) with access to Maven Central (or a primed ~/.m2) to build {PROJECT}"
        )
    return path


def _build() -> list[str]:
    java = _tool("java")
    mvn = _tool("mvn")
    TARGET.mkdir(parents=True, exist_ok=True)
    with open(TARGET / ".build.lock", "w") as lock:  # pytest-xdist workers share the build
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _build_needed():
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(PROJECT / "pom.xml"),
                "compile",
                "dependency:build-classpath",
                f"-Dmdep.outputFile={CP_FILE}",
            ]
            started = time.monotonic()
            try:
                proc = subprocess.run(
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=BUILD_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired as exc:
                raise _Unavailable(
                    f"maven build of {PROJECT} exceeded {BUILD_TIMEOUT:.0f} s: {exc.output!r:.2000}"
                ) from None
            BUILD_LOG.write_text(proc.stdout)
            if proc.returncode != 0 or not CP_FILE.is_file():
                tail = "\n".join(proc.stdout.splitlines()[-40:])
                raise _Unavailable(
                    f"maven build of {PROJECT} failed (rc={proc.returncode}, "
                    f"{time.monotonic() - started:.0f} s; full log {BUILD_LOG}):\n{tail}"
                )
            STAMP.touch()
    classpath = os.pathsep.join([str(CLASSES), CP_FILE.read_text().strip()])
    return [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath]


@pytest.fixture(scope="session")
def java_driver() -> list[str] | str:
    """``java ... -cp ...`` command prefix (driver built once, cached), or why it cannot be built."""
    try:
        return _build()
    except _Unavailable as exc:
        return str(exc)


def _run(java_driver: list[str] | str, registry: Any, tmp_path: Path, scenario: str, *args: str) -> list[Event]:
    """Runs one driver scenario; fails the test with the driver's events and logs unless it succeeded."""
    if isinstance(java_driver, str):
        pytest.fail(java_driver, pytrace=False)
    home = tmp_path / "java-home"
    logs = tmp_path / "java-logs"
    home.mkdir()
    logs.mkdir()
    props = [
        f"-Duser.home={home}",  # nothing lands in the real ~
        f"-DJM.LOG.PATH={logs}",
        f"-Dnacos.logging.path={logs}",
        f"-DJM.SNAPSHOT.PATH={home / 'snapshot'}",
        f"-Dcom.alibaba.nacos.naming.cache.dir={home / 'naming-cache'}",
        f"-Djava.io.tmpdir={tmp_path}",
    ]
    cmd = [java_driver[0], *props, *java_driver[1:], "Driver", registry.http_address, scenario, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
        stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        rc = None
    events: list[Event] = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line) if line.startswith("{") else None
        except ValueError:
            event = None
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    if rc != 0 or not any(e["event"] == "done" for e in events):

        def tail(path: Path, n: int = 30) -> str:
            return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.is_file() else ""

        report = [
            f"java client scenario {scenario!r} against {getattr(registry, 'kind', 'embedded')} "
            f"{registry.http_address} {'timed out' if rc is None else f'exited {rc}'}",
            "events:",
            *(json.dumps(e, ensure_ascii=False) for e in events),
            "stderr (tail):",
            *stderr.splitlines()[-20:],
        ]
        for name in ("driver.log", "nacos/remote.log", "nacos/naming.log", "nacos/config.log"):
            report += [f"{logs / name} (tail):", tail(logs / name)]
        pytest.fail("\n".join(report), pytrace=False)
    return events


def _of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e["event"] == kind]


def _by_host(instances: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{i['ip']}:{i['port']}": i for i in instances}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------- tests


def test_java_naming_register_subscribe_push(java_driver: list[str] | str, registry: Any, tmp_path: Path) -> None:
    service = _unique("java-naming")
    events = _run(java_driver, registry, tmp_path, "naming", service)

    # pushes arrive in order: {A} after subscribing, {A, B} after the 2nd client registers, {A} after it leaves
    pushes = [sorted(e["hosts"]) for e in _of(events, "push")]
    wanted = [[A], sorted([A, B]), [A]]
    it = iter(pushes)
    assert all(any(p == w for p in it) for w in wanted), f"pushes {pushes} lack the sequence {wanted}"
    assert [e["hosts"] for e in _of(events, "push_matched")] == wanted
    both_push = next(e for e in _of(events, "push") if sorted(e["hosts"]) == sorted([A, B]))
    assert _by_host(both_push["instances"])[B]["metadata"] == {"role": "b", "zone": "z2"}
    assert all(e["service"] == service and e["group"] == "DEFAULT_GROUP" for e in _of(events, "push"))

    # getAllInstances (subscribed cache and straight from the server) lists both with metadata and weight
    for kind in ("all_instances", "all_instances_direct"):
        listed = _by_host(_of(events, kind)[0]["instances"])
        assert set(listed) == {A, B}, kind
        assert listed[A]["metadata"] == {"role": "a", "version": "1.0"}, kind
        assert listed[B]["metadata"] == {"role": "b", "zone": "z2"}, kind
        assert listed[A]["weight"] == 1.0 and listed[B]["weight"] == 2.5, kind
        for inst in listed.values():
            assert inst["healthy"] and inst["enabled"] and inst["ephemeral"], (kind, inst)
            assert inst["clusterName"] == "DEFAULT", (kind, inst)

    # selectInstances(healthy=true) after B left, and nothing left after A deregisters
    assert _of(events, "select_healthy")[0]["hosts"] == [A]
    assert _of(events, "all_instances_direct")[-1]["hosts"] == []


def test_java_config_publish_get_listen_remove(java_driver: list[str] | str, registry: Any, tmp_path: Path) -> None:
    data_id = _unique("java-config") + ".properties"
    events = _run(java_driver, registry, tmp_path, "config", data_id, "DEFAULT_GROUP")

    assert [e["ok"] for e in _of(events, "published")] == [True, True]
    assert [e["content"] for e in _of(events, "get")] == [V1, V2, None]
    heard = [e["content"] for e in _of(events, "listener")]
    assert V2 in heard, heard
    assert heard[-1] == V2 or heard[-1] in (None, ""), heard  # nothing stale after the change
    assert _of(events, "removed")[0]["ok"] is True


def test_java_persistent_instance(java_driver: list[str] | str, registry: Any, tmp_path: Path) -> None:
    service = _unique("java-persistent")
    events = _run(java_driver, registry, tmp_path, "persistent", service)

    listed = _of(events, "all_instances_direct")
    first = _by_host(listed[0]["instances"])
    assert set(first) == {PERSISTENT}
    inst = first[PERSISTENT]
    assert inst["ephemeral"] is False
    assert inst["weight"] == 3.0
    assert inst["metadata"] == {"kind": "persistent"}
    assert listed[-1]["hosts"] == []
    # both Nacos 3.1 and our registry advertise supportPersistentInstanceByGrpc in SetupAckRequest, so the
    # client uses PersistentInstanceRequest over gRPC (None: the driver could not tell; older servers: http)
    transport = _of(events, "persistent_transport")[0]["transport"]
    if getattr(registry, "kind", "embedded") in ("embedded", "nacos"):
        assert transport in ("grpc", None), transport
