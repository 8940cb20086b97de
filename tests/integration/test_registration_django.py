"""Django (examples/django, import trigger in settings.py) under runserver, gunicorn and uvicorn."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

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
    wait_for,
    wait_gone,
)
from test_registration_support import wait_hosts as wait

pytestmark = pytest.mark.timeout(60)
DJANGO = EXAMPLES / "django"


@pytest.fixture(scope="module")
def registry() -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry() as reg:
        yield reg


def check_one(registry: EmbeddedRegistry, service: str, port: int, proc: object, settle: float = 0.8) -> None:
    [instance] = wait(registry.base_url, service, 1, proc=proc)
    assert (instance["ip"], instance["port"]) == ("127.0.0.1", port)
    assert instance["metadata"]["framework"] == "django"
    assert reachable("127.0.0.1", port) == "inventory-service"
    time.sleep(settle)
    assert len(hosts(registry.base_url, service)) == 1


def test_runserver_with_autoreloader(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "django-runserver"
    with started(python("manage.py", "runserver", f"127.0.0.1:{port}"), app_env(registry, service), DJANGO) as proc:
        check_one(registry, service, port, proc)
        stop(proc, signal.SIGTERM, group=True)
        wait_gone(registry.base_url, service, 1.0)


def test_runserver_kill9_drops_instance(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "django-kill"
    cmd = python("manage.py", "runserver", "--noreload", f"127.0.0.1:{port}")
    with started(cmd, app_env(registry, service), DJANGO) as proc:
        wait(registry.base_url, service, 1, proc=proc)
        proc.kill()
        wait_gone(registry.base_url, service, 3.0)


def test_gunicorn_project_wsgi(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "django-gunicorn"
    cmd = gunicorn("-w", "4", "-b", f"127.0.0.1:{port}", "project.wsgi")
    with started(cmd, app_env(registry, service), DJANGO) as proc:
        check_one(registry, service, port, proc)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
        assert time.monotonic() - sent < 1.0
        assert "Shutting down: Master" in proc.communicate(timeout=10)[0]


def test_uvicorn_project_asgi(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "django-uvicorn"
    cmd = python("-m", "uvicorn", "project.asgi:application", "--port", str(port))
    with started(cmd, app_env(registry, service), DJANGO) as proc:
        check_one(registry, service, port, proc, settle=0.2)
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
        assert "Application shutdown complete" in proc.communicate(timeout=5)[0]


def test_launcher_serves_a_django_project_without_nacos_code(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "django-launcher"
    cmd = python("-m", "nacos.auto.registration", "--service-port", str(port), "project.wsgi_plain:application")
    with started(cmd, app_env(registry, service), DJANGO) as proc:
        [instance] = wait(registry.base_url, service, 1, proc=proc)
        assert (instance["ip"], instance["port"]) == ("127.0.0.1", port)
        assert reachable("127.0.0.1", port) == "inventory-service"
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)


def test_gunicorn_django_with_the_wsgi_middleware(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "django-middleware"
    cmd = gunicorn("-w", "2", "-b", f"127.0.0.1:{port}", "project.wsgi_middleware")
    env = app_env(registry, service)
    with started(cmd, env, DJANGO) as proc:
        # the middleware registers when the server is up, by the first request at the latest
        def serving() -> bool:
            try:
                return reachable("127.0.0.1", port) == "inventory-service"
            except OSError:
                return False

        wait_for(serving, 15, "gunicorn to serve", proc)
        [instance] = wait(registry.base_url, "inventory-service", 1, proc=proc)
        assert (instance["ip"], instance["port"]) == ("127.0.0.1", port)
        time.sleep(0.5)
        assert len(hosts(registry.base_url, "inventory-service")) == 1
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, "inventory-service", 1.0)
