"""The official Python SDK's scenarios, against every server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sdk_scenarios import client_config, config_scenario, naming_scenario
from servers import ContractServer


def test_sdk_naming(registry: ContractServer, tmp_path: Path) -> None:
    asyncio.run(naming_scenario(client_config(registry.http_address, tmp_path)))


def test_sdk_config(registry: ContractServer, tmp_path: Path) -> None:
    asyncio.run(config_scenario(client_config(registry.http_address, tmp_path)))
