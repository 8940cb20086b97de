"""``nacos-serving config get|set|rm|watch|history`` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from nacos.auto.config import ConfigStore, DocumentSpec
from nacos.auto.testing import EmbeddedRegistry

CLI = [sys.executable, "-m", "nacos.auto.cli", "config"]


def run(
    registry: EmbeddedRegistry | None, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    if registry is not None:
        environ["NACOS_SERVER"] = registry.http_address
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=environ, input=stdin, timeout=60)


def test_set_get_rm_round_trip_with_group_and_file(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    data_id = f"cli-{uuid.uuid4().hex[:8]}.yaml"
    source = tmp_path / "in.yaml"
    source.write_text("a: 1\nb: two\n")

    result = run(registry, "set", data_id, "--group", "OPS", "--file", str(source))
    assert result.returncode == 0, result.stderr
    assert f"OPS/{data_id}" in result.stdout
    assert run(registry, "get", data_id, "--group", "OPS").stdout == "a: 1\nb: two\n"
    assert run(registry, "get", data_id).returncode == 1  # another group: not there

    out = tmp_path / "out.yaml"
    assert run(registry, "get", data_id, "--group", "OPS", "--file", str(out)).returncode == 0
    assert out.read_text() == "a: 1\nb: two\n"

    assert run(registry, "set", data_id, "--group", "OPS", "--file", "-", stdin="c: 3\n").returncode == 0
    assert run(registry, "get", data_id, "--group", "OPS").stdout == "c: 3\n"

    assert run(registry, "rm", data_id, "--group", "OPS").returncode == 0
    gone = run(registry, "get", data_id, "--group", "OPS")
    assert gone.returncode == 1 and f"no config OPS/{data_id}" in gone.stderr


def test_watch_prints_the_current_content_and_each_change(registry: EmbeddedRegistry) -> None:
    data_id = f"cli-watch-{uuid.uuid4().hex[:8]}.yaml"
    assert run(registry, "set", data_id, "v: 1").returncode == 0
    env = {**os.environ, "NACOS_SERVER": registry.http_address}
    watcher = subprocess.Popen(
        [*CLI, "watch", data_id, "--json", "--count", "2", "--timeout", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert watcher.stdout is not None
        first = json.loads(watcher.stdout.readline())
        assert first["content"] == "v: 1"
        assert run(registry, "set", data_id, "v: 2").returncode == 0
        assert run(registry, "rm", data_id).returncode == 0
        out, err = watcher.communicate(timeout=30)
        events = [json.loads(line) for line in out.splitlines()]
        assert [e["content"] for e in events] == ["v: 2", None], err
        assert watcher.returncode == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(10)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "give an action"),
        (["get"], "DATA_ID"),
        (["set", "x.yaml"], "either as CONTENT or with --file"),
        (["set", "x.yaml", "a: 1", "--file", "f"], "either as CONTENT or with --file"),
        (["set", "x.yaml", "--file", "/no/such/file"], "--file /no/such/file: cannot read"),
        (["watch", "x.yaml", "--count", "0"], "--count"),
        (["get", " "], "DATA_ID must not be empty"),
        (["get", "x.yaml", "--server", "no-port:abc"], "server"),
        (["bogus"], "invalid choice"),
    ],
)
def test_misuse_exits_2_with_a_clear_message(args: list[str], needle: str) -> None:
    result = run(None, *args, NACOS_SERVER="127.0.0.1:1")
    assert result.returncode == 2, result
    assert needle in result.stderr


def test_unreachable_server_exits_1_naming_the_config(tmp_path: Path) -> None:
    result = run(None, "get", "x.yaml", NACOS_SERVER="127.0.0.1:1", NACOS_TIMEOUT="0.5")
    assert result.returncode == 1
    assert "DEFAULT_GROUP/x.yaml" in result.stderr


def test_history_reads_what_an_app_store_recorded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = DocumentSpec("orders.yaml", "DEFAULT_GROUP", "yaml")
    store = ConfigStore([spec], cache_dir=cache).start()
    store.apply(spec, "a: 1\n")
    store.apply(spec, "a: [\n")

    result = run(None, "history", NACOS_SERVICE_NAME="orders", NACOS_CACHE_DIR=str(cache))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("accepted" in line and "DEFAULT_GROUP/orders.yaml" in line and " a" in line for line in lines)
    assert any("REJECTED" in line and "invalid YAML" in line for line in lines)

    as_json = json.loads(run(None, "history", "orders.yaml", "--json", NACOS_CACHE_DIR=str(cache)).stdout)
    assert [r["accepted"] for r in as_json][-2:] == [True, False]
    empty = run(None, "history", "nothing.yaml", NACOS_CACHE_DIR=str(cache))
    assert empty.returncode == 0 and "no refreshes recorded" in empty.stdout
