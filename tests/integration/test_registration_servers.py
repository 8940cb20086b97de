"""Registration on real servers: each app runs as a subprocess under its real server on a free port,
against the embedded registry. Every case checks the registry (exactly one instance, the real port, a
reachable IP), then stops the server the way an operator would and checks the instance goes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nacos.auto.testing import EmbeddedRegistry

from test_registration_support import (
    EXAMPLES,
    app_env,
    free_port,
    gunicorn,
    hosts,
    python,
    reachable,
    started,
    stop,
    wait_gone,
    wait_hosts,
)

pytestmark = pytest.mark.timeout(60)
FLASK = EXAMPLES / "flask"
FASTAPI = EXAMPLES / "fastapi"


@pytest.fixture(scope="module")
def registry() -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry() as reg:
        yield reg


def assert_one_stable(registry: EmbeddedRegistry, service: str, port: int, proc: object, settle: float = 1.0) -> dict:
    """Exactly one instance with the real port, reachable at its IP, and still exactly one a moment later."""
    [instance] = wait_hosts(registry.base_url, service, 1, proc=proc)
    assert instance["port"] == port
    assert instance["ip"] == "127.0.0.1"
    assert instance["enabled"] is True
    reachable(instance["ip"], port)
    time.sleep(settle)  # workers that lost the host:port race must not have added their own
    assert [(h["ip"], h["port"]) for h in hosts(registry.base_url, service)] == [("127.0.0.1", port)]
    return instance


def test_flask_dev_server_trigger_sigterm(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "flask-dev"
    with started(python("app_trigger.py", "--port", str(port)), app_env(registry, service), FLASK) as proc:
        instance = assert_one_stable(registry, service, port, proc, settle=0.2)
        assert instance["metadata"]["framework"] == "flask"
        assert instance["metadata"]["preserved.register.source"] == "nacos-serving"
        assert instance["metadata"]["python.version"] == ".".join(map(str, sys.version_info[:3]))
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
        assert time.monotonic() - sent < 1.0
        assert proc.wait(5) == -signal.SIGTERM  # chained to the default action: it still dies of SIGTERM


def test_registry_started_after_the_app_still_gets_the_instance() -> None:
    """A registry that is down at startup neither blocks the server nor loses the registration."""
    registry_port = free_port()
    while registry_port + 1000 > 65535:  # the gRPC port is HTTP + 1000
        registry_port = free_port()
    port, service = free_port(), "late-registry"
    env = app_env(type("Down", (), {"http_address": f"127.0.0.1:{registry_port}"})(), service)
    with started(python("app_trigger.py", "--port", str(port)), env, FLASK) as proc:
        deadline = time.monotonic() + 10
        while True:  # the server serves at once, registry or not
            try:
                reachable("127.0.0.1", port)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        with EmbeddedRegistry(port=registry_port) as late:
            [instance] = wait_hosts(late.base_url, service, 1, timeout=15.0, proc=proc)
            assert instance["port"] == port


def test_flask_dev_server_kill9_drops_instance(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "flask-kill"
    with started(python("app_trigger.py", "--port", str(port)), app_env(registry, service), FLASK) as proc:
        wait_hosts(registry.base_url, service, 1, proc=proc)
        proc.kill()
        wait_gone(registry.base_url, service, 3.0)


def test_flask_debug_reloader_registers_the_serving_child_once(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "flask-reload"
    cmd = python("app_trigger.py", "--port", str(port), "--debug")
    with started(cmd, app_env(registry, service), FLASK) as proc:
        assert_one_stable(registry, service, port, proc)
        stop(proc, signal.SIGTERM, group=True)  # like systemd/docker: the whole group
        wait_gone(registry.base_url, service, 1.0)


def test_flask_middleware_keeps_user_metadata_and_set_online(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "flask-mw"
    env = app_env(registry, service, NACOS_SERVICE_METADATA="framework=custom,team=a")
    with started(python("app_trigger.py", "--port", str(port)), env, FLASK) as proc:
        [instance] = wait_hosts(registry.base_url, service, 1, proc=proc)
        assert instance["metadata"]["framework"] == "custom"  # the user's value wins
        assert instance["metadata"]["team"] == "a"
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/offline", method="POST"), timeout=3)
        wait_gone(registry.base_url, service, 3.0)  # disabled instances are not served to consumers
        reachable("127.0.0.1", port)
        assert proc.poll() is None


def test_instance_cli_takes_it_offline_and_back(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "flask-cli-offline"
    env = app_env(registry, service, NACOS_SERVICE_WEIGHT="3")
    with started(python("app_trigger.py", "--port", str(port)), env, FLASK) as proc:
        wait_hosts(registry.base_url, service, 1, proc=proc)
        cli = python("-m", "nacos.auto.registration.instance")
        where = ["--nacos-server", registry.http_address, "--service-name", service, "--ip", "127.0.0.1"]
        done = subprocess.run(
            [*cli, "offline", *where, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        wait_gone(registry.base_url, service, 2.0)
        reachable("127.0.0.1", port)  # still serving, just out of rotation
        # A disabled instance is not listed, so its weight cannot be read back: online takes --weight.
        online = [*cli, "online", *where, "--port", str(port), "--weight", "3"]
        done = subprocess.run(online, capture_output=True, text=True, timeout=9)
        assert done.returncode == 0, done.stderr
        [instance] = wait_hosts(registry.base_url, service, 1, timeout=2.0)
        assert instance["weight"] == 3.0
        done = subprocess.run([*cli, "offline", *where, "--port", "1"], capture_output=True, text=True, timeout=9)
        assert done.returncode == 1  # no such instance: said so, not ignored
        assert "not found" in done.stderr


def test_drain_marks_offline_waits_then_deregisters(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "flask-drain"
    env = app_env(registry, service, NACOS_SHUTDOWN_DRAIN_SECONDS="1.5")
    with started(python("app_trigger.py", "--port", str(port)), env, FLASK) as proc:
        wait_hosts(registry.base_url, service, 1, proc=proc)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)  # offline at once: consumers stop picking it
        reachable("127.0.0.1", port)  # ...while it still serves during the drain
        assert proc.wait(5) == -signal.SIGTERM  # the signal was re-delivered after the drain
        assert time.monotonic() - sent >= 1.4


def test_signal_chains_to_the_apps_own_handler(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    script = tmp_path / "own_handler.py"
    script.write_text(
        "import signal, sys\n"
        "from flask import Flask\n"
        "import nacos.auto.registration.enabled\n"
        "def bye(sig, frame):\n"
        "    print('app-cleanup-ran', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "app = Flask(__name__)\n"
        "app.run(host='127.0.0.1', port=int(sys.argv[1]))\n"
    )
    port, service = free_port(), "flask-chain"
    with started(python(str(script), str(port)), app_env(registry, service)) as proc:
        wait_hosts(registry.base_url, service, 1, proc=proc)
        out = stop(proc, signal.SIGTERM)
        assert "app-cleanup-ran" in out
        assert proc.returncode == 0
        assert not hosts(registry.base_url, service)


def test_gunicorn_four_sync_workers_one_instance(registry: EmbeddedRegistry) -> None:
    port = free_port()
    cmd = gunicorn("-w", "4", "-b", f"127.0.0.1:{port}", "app_middleware:app")
    with started(cmd, app_env(registry, "unused"), FLASK) as proc:
        instance = assert_one_stable(registry, "user-service", port, proc)
        assert instance["metadata"]["version"] == "v1"  # middleware keyword arguments
        sent = time.monotonic()
        out = stop(proc, signal.SIGTERM)
        assert time.monotonic() - sent < 5
        assert "Shutting down: Master" in out
        wait_gone(registry.base_url, "user-service", 1.0)


def test_gunicorn_kill9_of_the_master_removes_the_instance(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "gunicorn-kill"
    cmd = python("-m", "nacos.auto.registration", "--service-port", str(port), "--workers", "2", "app:app")
    with started(cmd, app_env(registry, service), FLASK) as proc:
        assert_one_stable(registry, service, port, proc, settle=0.3)
        proc.kill()  # only the gunicorn master (the launcher), which owns the registration; workers live on
        wait_gone(registry.base_url, service, 5.0)
        time.sleep(1.0)
        assert not hosts(registry.base_url, service)


def test_uvicorn_middleware_sigterm_then_kill9(registry: EmbeddedRegistry) -> None:
    port = free_port()
    cmd = python("-m", "uvicorn", "app:app", "--port", str(port))
    with started(cmd, app_env(registry, "unused"), FASTAPI) as proc:
        instance = assert_one_stable(registry, "order-service", port, proc, settle=0.2)
        assert instance["metadata"]["framework"] == "fastapi"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, "order-service", 1.0)
        assert time.monotonic() - sent < 1.0
        out, _ = proc.communicate(timeout=5)
        assert "Application shutdown complete" in out  # the server's own shutdown still ran
    with started(cmd, app_env(registry, "unused"), FASTAPI) as proc:
        wait_hosts(registry.base_url, "order-service", 1, proc=proc)
        proc.kill()
        wait_gone(registry.base_url, "order-service", 3.0)


def test_uvicorn_two_workers_trigger_one_instance(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "fastapi-workers"
    cmd = python("-m", "uvicorn", "app_trigger:app", "--port", str(port), "--workers", "2")
    with started(cmd, app_env(registry, service), FASTAPI) as proc:
        assert_one_stable(registry, service, port, proc)
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 2.0)
        proc.wait(10)
        assert not hosts(registry.base_url, service)


def test_launcher_runs_the_seed_command_on_a_plain_script(registry: EmbeddedRegistry) -> None:
    port = free_port()
    cmd = python(
        "-m", "nacos.auto.registration", "--nacos-server", registry.http_address,
        "--service-name", "user-service", "--service-port", str(port),
        "app.py", "--port", str(port),
    )  # fmt: skip
    env = app_env(registry, "overridden-by-the-cli")
    with started(cmd, env, FLASK) as proc:
        assert_one_stable(registry, "user-service", port, proc, settle=0.2)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, "user-service", 1.0)


def test_launcher_serves_wsgi_module_app_with_gunicorn_master_registering(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "launch-wsgi"
    cmd = python("-m", "nacos.auto.registration", "--service-port", str(port), "--workers", "4", "app:app")
    with started(cmd, app_env(registry, service), FLASK) as proc:
        assert_one_stable(registry, service, port, proc)
        out = stop(proc, signal.SIGTERM)
        assert "Shutting down: Master" in out
        wait_gone(registry.base_url, service, 1.0)


def test_launcher_serves_asgi_module_app_with_uvicorn(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "launch-asgi"
    cmd = [sys.executable, "-m", "nacos.auto.registration", "--service-port", str(port), "app_trigger:app"]
    with started(cmd, app_env(registry, service), FASTAPI) as proc:
        assert_one_stable(registry, service, port, proc, settle=0.2)
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
        assert "Application shutdown complete" in proc.communicate(timeout=5)[0]


def test_flask_dev_server_with_explicit_middleware(registry: EmbeddedRegistry) -> None:
    port = free_port()
    with started(python("app_middleware.py", "--port", str(port)), app_env(registry, "unused"), FLASK) as proc:
        instance = assert_one_stable(registry, "user-service", port, proc, settle=0.2)
        assert instance["metadata"]["version"] == "v1"
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, "user-service", 1.0)


def test_gunicorn_preload_with_trigger_registers_from_the_master(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "gunicorn-preload"
    cmd = gunicorn("--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "app_trigger:app")
    with started(cmd, app_env(registry, service), FLASK) as proc:
        assert_one_stable(registry, service, port, proc)
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
        proc.wait(10)


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def test_uvicorn_workers_instance_outlives_a_killed_worker(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "fastapi-workers-kill"
    cmd = python("-m", "uvicorn", "app_trigger:app", "--port", str(port), "--workers", "2")
    with started(cmd, app_env(registry, service), FASTAPI) as proc:
        wait_hosts(registry.base_url, service, 1, proc=proc)
        workers = [pid for pid in children(proc.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(workers) == 2
        for victim in workers:  # whichever owned host:port, a survivor (or a respawned worker) republishes
            os.kill(victim, signal.SIGKILL)
            time.sleep(0.3)
            wait_hosts(registry.base_url, service, 1, timeout=5.0, proc=proc)
        proc.kill()  # master and all workers gone: the instance goes with the last connection
        os.killpg(proc.pid, signal.SIGKILL)
        wait_gone(registry.base_url, service, 3.0)


def test_gunicorn_uvicorn_workers_use_gunicorns_port(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "gunicorn-uvicorn"
    cmd = gunicorn("-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b", f"127.0.0.1:{port}", "app_trigger:app")
    with started(cmd, app_env(registry, service), FASTAPI) as proc:
        assert_one_stable(registry, service, port, proc)
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
        proc.wait(10)


def test_launcher_ipv6(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "launch-ipv6"
    cmd = python(
        "-m", "nacos.auto.registration", "--service-port", str(port), "--host", "::1", "--service-ip", "::1",
        "app_trigger:app",
    )  # fmt: skip
    with started(cmd, app_env(registry, service), FASTAPI) as proc:
        [instance] = wait_hosts(registry.base_url, service, 1, proc=proc)
        assert (instance["ip"], instance["port"]) == ("::1", port)
        assert reachable("[::1]", port) == '"order-service"'
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)


def test_launcher_script_under_the_debug_reloader(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "launch-reload"
    cmd = python("-m", "nacos.auto.registration", "--service-port", str(port), "app.py", "--port", str(port), "--debug")
    with started(cmd, app_env(registry, service), FLASK) as proc:
        assert_one_stable(registry, service, port, proc)
        stop(proc, signal.SIGTERM, group=True)
        wait_gone(registry.base_url, service, 1.0)
