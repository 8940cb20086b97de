"""The launcher serving the FastAPI example that has no Nacos code (module:app, uvicorn underneath)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import pytest

from nacos.auto.testing import EmbeddedRegistry

from test_registration_support import EXAMPLES, app_env, free_port, python, reachable, started, wait_for, wait_gone
from test_registration_support import wait_hosts as wait

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def registry() -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry() as reg:
        yield reg


def test_launcher_serves_the_plain_fastapi_example(registry: EmbeddedRegistry) -> None:
    port, service = free_port(), "fastapi-launcher"
    cmd = python("-m", "nacos.auto.registration", "--service-port", str(port), "app_plain:app")
    with started(cmd, app_env(registry, service), EXAMPLES / "fastapi") as proc:
        [instance] = wait(registry.base_url, service, 1, proc=proc)
        assert (instance["ip"], instance["port"]) == ("127.0.0.1", port)

        def answers() -> bool:
            try:
                return json.loads(reachable("127.0.0.1", port)) == "order-service"
            except OSError:
                return False

        wait_for(answers, 10, "the app to answer", proc)
        proc.send_signal(signal.SIGTERM)
        wait_gone(registry.base_url, service, 1.0)
