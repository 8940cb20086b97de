"""The official Python SDK against the embedded registry: it must not tell us from real Nacos."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from v2.nacos import NacosNamingService, RegisterInstanceParam

from nacos.auto.testing import EmbeddedRegistry

from sdk_scenarios import client_config, config_scenario, naming_scenario


def test_naming_register_subscribe_push_list(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    asyncio.run(naming_scenario(client_config(registry.http_address, tmp_path)))


def test_config_publish_get_listen_remove(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    asyncio.run(config_scenario(client_config(registry.http_address, tmp_path)))


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[EmbeddedRegistry]:
    with EmbeddedRegistry(auth="nacos:s3cret-pass") as running:
        yield running


def test_naming_with_auth(auth_registry: EmbeddedRegistry, tmp_path: Path) -> None:
    config = client_config(auth_registry.http_address, tmp_path, "nacos", "s3cret-pass")
    asyncio.run(naming_scenario(config))


def test_config_with_auth(auth_registry: EmbeddedRegistry, tmp_path: Path) -> None:
    config = client_config(auth_registry.http_address, tmp_path, "nacos", "s3cret-pass")
    asyncio.run(config_scenario(config))


def test_wrong_password_is_refused(auth_registry: EmbeddedRegistry, tmp_path: Path) -> None:
    from v2.nacos.common.nacos_exception import NacosException

    async def attempt() -> None:
        config = client_config(auth_registry.http_address, tmp_path, "nacos", "wrong")
        client = await NacosNamingService.create_naming_service(config)
        try:
            await client.register_instance(RegisterInstanceParam(service_name="denied", ip="10.9.9.9", port=1))
        finally:
            await client.shutdown()

    with pytest.raises(NacosException, match="access token"):
        asyncio.run(attempt())
    token = _login(auth_registry, "nacos", "s3cret-pass")
    listed = _get_json(f"{auth_registry.base_url}/v1/ns/instance/list?serviceName=denied&accessToken={token}")
    assert listed["hosts"] == []


def _login(registry: EmbeddedRegistry, user: str, password: str) -> str:
    body = urllib.parse.urlencode({"username": user, "password": password}).encode()
    with urllib.request.urlopen(f"{registry.base_url}/v1/auth/users/login", body, timeout=5) as answer:
        token: str = json.load(answer)["accessToken"]
    return token


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        result: dict[str, Any] = json.load(answer)
    return result


def test_login_with_wrong_password_gets_403(auth_registry: EmbeddedRegistry) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        _login(auth_registry, "nacos", "nope")
    assert caught.value.code == 403


def test_no_token_is_refused_over_http(auth_registry: EmbeddedRegistry) -> None:
    url = f"{auth_registry.base_url}/v1/ns/instance/list?serviceName=anything"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=5)
    assert caught.value.code == 403
