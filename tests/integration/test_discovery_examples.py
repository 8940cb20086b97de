"""The client examples run verbatim, as scripts, against a registry with a real ``user-service``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_discovery_support import HttpInstance, instance_script_fixture  # noqa: F401  (fixture)

from nacos.auto.client import ClientOptions, Instance, NacosClient
from nacos.auto.testing import EmbeddedRegistry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "client"


@pytest.fixture(scope="module")
def user_service(instance_script: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    """A registry of its own (the examples use the fixed name ``user-service``) with one live instance."""
    cache = tmp_path_factory.mktemp("examples-cache")
    with EmbeddedRegistry() as registry:
        instance = HttpInstance(instance_script)
        client = NacosClient(ClientOptions(server=registry.http_address, cache_dir=str(cache)))
        try:
            client.register_instance("user-service", Instance(ip="127.0.0.1", port=instance.port))
            yield registry.http_address, instance.port, cache
        finally:
            client.close()
            instance.kill()


@pytest.mark.parametrize("example", ["requests", "httpx", "aiohttp", "urllib"])
def test_example_runs_verbatim(example: str, user_service: tuple[str, int, Path], tmp_path: Path) -> None:
    server, port, cache = user_service
    env = {**os.environ, "NACOS_SERVER": server, "NACOS_CACHE_DIR": str(cache)}
    script = EXAMPLES / f"{example}_example.py"
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr, done.stderr
    answers = [line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith("200 {")]
    assert answers, done.stdout + done.stderr
    for _, body in answers:
        assert json.loads(body)["port"] == port
        assert json.loads(body)["path"] == "/api/users/1"


def run_requests_example(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NACOS_")} | env
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "requests_example.py")],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_registry_from_nacos_yaml_in_working_directory(user_service: tuple[str, int, Path], tmp_path: Path) -> None:
    server, port, cache = user_service
    (tmp_path / "nacos.yaml").write_text(
        f'nacos:\n  server: "{server}"\n  namespace: "public"\n  cache_dir: "{cache}"\n'
        "  discovery:\n    empty_protection: true\n"
    )
    done = run_requests_example(tmp_path, {})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'"port": {port}' in done.stdout


def test_environment_wins_over_nacos_yaml(user_service: tuple[str, int, Path], tmp_path: Path) -> None:
    server, port, cache = user_service
    (tmp_path / "nacos.yaml").write_text('nacos:\n  server: "127.0.0.1:1"\n  timeout: 1\n')
    done = run_requests_example(tmp_path, {"NACOS_SERVER": server, "NACOS_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'"port": {port}' in done.stdout
    wrong_group = run_requests_example(
        tmp_path, {"NACOS_SERVER": server, "NACOS_CACHE_DIR": str(cache), "NACOS_GROUP": "OTHER_GROUP"}
    )
    assert wrong_group.returncode != 0
    assert "NoAvailableInstanceError" in wrong_group.stderr and "'OTHER_GROUP'" in wrong_group.stderr


def test_no_file_and_no_environment_means_local_default(tmp_path: Path) -> None:
    probe = (
        "from nacos.auto.discovery import shared_resolver\n"
        "r = shared_resolver()\n"
        "print(r.settings.server, r.namespace, r.group)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NACOS_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["127.0.0.1:8848", "public", "DEFAULT_GROUP"]
