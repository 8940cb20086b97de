"""Helpers for the registration tests: free ports, app subprocesses, registry polling (all with deadlines)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def gunicorn(*args: str) -> list[str]:
    """A gunicorn command; without the shared control socket (gunicorn >= 24) so parallel runs don't clash."""
    import gunicorn.config

    known = {setting.name for setting in gunicorn.config.KNOWN_SETTINGS}
    extra = ["--no-control-socket"] if "control_socket_disable" in known else []
    return [str(Path(sys.executable).parent / "gunicorn"), *extra, *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def hosts(base_url: str, service: str) -> list[dict[str, Any]]:
    url = f"{base_url}/v1/ns/instance/list?serviceName={service}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            data = json.loads(response.read())
    except OSError:
        return []
    found: list[dict[str, Any]] = data.get("hosts", [])
    return found


def wait_for(check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}:\n{output(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_hosts(base_url: str, service: str, count: int, timeout: float = 15.0, proc: Any = None) -> list[Any]:
    result: list[Any] = wait_for(
        lambda: (lambda h: h if len(h) == count else None)(hosts(base_url, service)) if count else None,
        timeout,
        f"{count} instance(s) of {service}",
        proc,
    )
    return result


def wait_gone(base_url: str, service: str, timeout: float) -> float:
    start = time.monotonic()
    wait_for(lambda: not hosts(base_url, service), timeout, f"{service} to be deregistered")
    return time.monotonic() - start


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as response:
        text: str = response.read().decode()
    return text


def reachable(ip: str, port: int, path: str = "/") -> str:
    return get(f"http://{ip}:{port}{path}")


def output(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        return "(still running)"
    out, _ = proc.communicate(timeout=5)
    return out or ""


def app_env(registry: Any, service: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NACOS_SERVER=registry.http_address,
        NACOS_SERVICE_NAME=service,
        NACOS_SERVICE_IP="127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    for key in ("NACOS_SERVICE_PORT", "NACOS_CONFIG_FILE"):
        env.pop(key, None)
    env.update(extra)
    return env


@contextmanager
def started(cmd: list[str], env: dict[str, str], cwd: Path | str | None = None) -> Iterator[subprocess.Popen[str]]:
    """Run ``cmd`` in its own session; on exit SIGKILL the whole group (by its PID), whatever happened."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, group: bool = False, timeout: float = 10.0) -> str:
    """Send ``sig`` and wait for the exit; returns the output."""
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, _ = proc.communicate(timeout=timeout)
    return out or ""
