"""Acceptance: a Flask and a FastAPI app follow Nacos config live, and keep the last good on bad input.

Each app runs as a real subprocess (Flask on werkzeug's dev server, FastAPI on uvicorn) on a free
port against the session's embedded registry; documents are published over the registry's HTTP API,
as an operator's tool would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.testing import EmbeddedRegistry

pytest.importorskip("pydantic_settings")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "config"
DEADLINE = 20.0  # functional deadline for a push to reach the app, not a performance threshold

GOOD = "useLocalCache: false\napp:\n  greeting: hello\n  pool_size: 5\n"
NEWER = "useLocalCache: true\napp:\n  greeting: hi there\n  pool_size: 7\n"


def publish(registry: EmbeddedRegistry, data_id: str, content: str, group: str = "DEFAULT_GROUP") -> None:
    body = urllib.parse.urlencode({"dataId": data_id, "group": group, "content": content, "type": "yaml"}).encode()
    with urllib.request.urlopen(f"{registry.base_url}/v1/cs/configs", data=body, timeout=10) as answer:
        assert answer.status == 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningApp:
    kind: str
    port: int
    service: str
    cache_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
            return json.loads(answer.read())

    def wait_for(self, path: str, check: Callable[[Any], bool]) -> Any:
        deadline = time.monotonic() + DEADLINE
        last: Any = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.kind} app exited:\n{self.log.read_text()[-3000:]}"
            try:
                last = self.get(path)
                if check(last):
                    return last
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} never satisfied the check; last answer {last!r}\n{self.log.read_text()[-3000:]}")


def command(kind: str, port: int) -> list[str]:
    if kind == "flask":
        return [sys.executable, str(EXAMPLES / "flask_app.py"), "--port", str(port)]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "fastapi_app:app",
        "--app-dir",
        str(EXAMPLES),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@pytest.fixture(params=["flask", "fastapi"])
def app(request: pytest.FixtureRequest, registry: EmbeddedRegistry, tmp_path: Path) -> Iterator[RunningApp]:
    pytest.importorskip(request.param)
    service = f"cfg-{request.param}-{uuid.uuid4().hex[:8]}"
    publish(registry, f"{service}.yaml", GOOD)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NACOS_SERVER": registry.http_address,
        "NACOS_SERVICE_NAME": service,
        "NACOS_CACHE_DIR": str(tmp_path / "cache"),
    }
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command(request.param, port), cwd=tmp_path, env=env, stdout=out, stderr=out)
    running = RunningApp(request.param, port, service, tmp_path / "cache", process, log)
    try:
        running.wait_for("/settings", lambda answer: True)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def test_publishing_a_new_document_changes_the_running_app(app: RunningApp, registry: EmbeddedRegistry) -> None:
    assert app.get("/value") == {"useLocalCache": False}
    assert app.get("/settings") == {"greeting": "hello", "pool_size": 5, "use_local_cache": False}
    pid = app.process.pid

    publish(registry, f"{app.service}.yaml", NEWER)

    app.wait_for("/settings", lambda s: s == {"greeting": "hi there", "pool_size": 7, "use_local_cache": False})
    app.wait_for("/value", lambda v: v == {"useLocalCache": True})
    assert app.process.pid == pid and app.process.poll() is None  # no restart
    accepted = [r for r in app.get("/history") if r["data_id"] == f"{app.service}.yaml" and r["accepted"]]
    assert accepted and "app.greeting" in accepted[-1]["changed_keys"]


def history_cli(app: RunningApp) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NACOS_SERVICE_NAME": app.service, "NACOS_CACHE_DIR": str(app.cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "nacos.auto.cli", "config", "history"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=app.cache_dir.parent,
    )


def test_invalid_yaml_and_invalid_values_keep_the_last_good_and_show_in_history(
    app: RunningApp, registry: EmbeddedRegistry
) -> None:
    data_id = f"{app.service}.yaml"
    good = app.get("/settings")

    publish(registry, data_id, "app:\n  greeting: [unclosed\n  pool_size: 3\n")
    rejected = app.wait_for("/history", lambda h: any(not r["accepted"] for r in h))
    reason = next(r["reason"] for r in rejected if not r["accepted"])
    assert data_id in reason and "invalid YAML" in reason
    assert f"{data_id}:3" in reason  # the line the parser stopped at
    assert app.get("/settings") == good

    publish(registry, data_id, "useLocalCache: true\napp:\n  greeting: bad\n  pool_size: 0\n")
    history = app.wait_for("/history", lambda h: sum(not r["accepted"] for r in h) >= 2)
    reason = [r["reason"] for r in history if not r["accepted"]][-1]
    assert "app.pool_size" in reason and "greater than or equal to 1" in reason
    assert f"{data_id}:4" in reason  # where pool_size was written
    assert app.get("/settings") == good
    assert app.get("/value") == {"useLocalCache": False}  # the whole document was refused, not just the model

    cli = history_cli(app)
    assert cli.returncode == 0, cli.stderr
    rejected_lines = [line for line in cli.stdout.splitlines() if "REJECTED" in line]
    assert len(rejected_lines) == 2
    assert "invalid YAML" in rejected_lines[0] and "app.pool_size" in rejected_lines[1]

    publish(registry, data_id, NEWER)  # and the app still takes good documents afterwards
    app.wait_for("/settings", lambda s: s["pool_size"] == 7)
