"""``nacos-serving server`` and ``nacos-serving demo`` as a user runs them."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from nacos.auto.testing import EmbeddedRegistry

SERVER = [sys.executable, "-m", "nacos.auto.cli", "server"]


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "abc"], "--port"),
        (["--port", "70000"], "--port 70000"),
        (["--auth", "nopassword"], "--auth"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--data-dir", "/tmp/x", "--in-memory"], "not allowed with"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(args: list[str], needle: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert needle in result.stderr


def test_port_in_use_exits_2_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("--port", str(port), "--in-memory")
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "in use" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ready_line_and_clean_stop_on_signal(sig: signal.Signals) -> None:
    registry = EmbeddedRegistry().start()
    try:
        assert registry.http_address.startswith("127.0.0.1:")
        assert registry.grpc_port == registry.http_port + 1000
        with urllib.request.urlopen(f"{registry.base_url}/v1/console/health/readiness", timeout=5) as answer:
            assert answer.status == 200
        assert registry.process is not None
        registry.process.send_signal(sig)
        assert registry.process.wait(10) == 0
        assert any("stopped" in line for line in registry.output)
    finally:
        registry.stop()


def test_binds_loopback_only_by_default() -> None:
    with EmbeddedRegistry() as registry, socket.socket() as probe:
        probe.settimeout(1)
        # Another local address of this host must not reach the registry.
        assert probe.connect_ex(("127.0.0.2", registry.http_port)) != 0


def test_demo_runs_and_narrates() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nacos.auto.cli", "demo"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "registered via the launcher" in out and "registered via the import trigger" in out
    assert re.search(r"user-service@:\d+ 10, user-service@:\d+ 10\s+\(round robin; 0 failed\)", out), out
    assert re.search(r"picked it up without a restart .*greeting='bonjour'.*greeting='bonjour'", out), out
    assert re.search(r"^\s+0 failed of [1-9]\d* calls$", out, re.M), out
