"""Scenarios driven by the official Python SDK (nacos-sdk-python 3.x), against any Nacos-speaking server.

The same functions run against the embedded registry (tests/conformance) and, in the contract suite,
against real Nacos and r-nacos: what they observe must be the same everywhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from v2.nacos import (
    ClientConfigBuilder,
    ConfigParam,
    DeregisterInstanceParam,
    GRPCConfig,
    ListInstanceParam,
    ListServiceParam,
    NacosConfigService,
    NacosNamingService,
    RegisterInstanceParam,
    SubscribeServiceParam,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client_config(http_address: str, work_dir: Path, username: str | None = None, password: str | None = None) -> Any:
    builder = (
        ClientConfigBuilder()
        .server_address(http_address)
        .log_level("WARNING")
        .log_dir(str(work_dir / "logs"))
        .cache_dir(str(work_dir / "cache"))
        .grpc_config(GRPCConfig(grpc_timeout=5000))
    )
    if username is not None:
        builder = builder.username(username).password(password or "")
    return builder.build()


async def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; return the seconds it took, fail naming ``what`` on timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def wait_until(probe: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    start = time.monotonic()
    while not await probe():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


class PushRecorder:
    """Collects the instance lists pushed to a subscriber callback."""

    def __init__(self) -> None:
        self.pushes: list[set[tuple[str, int]]] = []

    async def __call__(self, instances: list[Any]) -> None:
        self.pushes.append({(i.ip, i.port) for i in instances})

    def saw(self, expected: set[tuple[str, int]]) -> Callable[[], bool]:
        return lambda: bool(self.pushes) and self.pushes[-1] == expected


async def naming_scenario(config: Any) -> None:
    """Register, subscribe, push on a second register and on its deregister, list, service list."""
    service = unique("svc")
    first = await NacosNamingService.create_naming_service(config)
    second = await NacosNamingService.create_naming_service(config)
    watcher = await NacosNamingService.create_naming_service(config)
    try:
        assert await first.register_instance(
            RegisterInstanceParam(service_name=service, ip="10.0.0.1", port=8001, metadata={"zone": "a"})
        )
        recorder = PushRecorder()
        await watcher.subscribe(SubscribeServiceParam(service_name=service, subscribe_callback=recorder))
        await wait_for(recorder.saw({("10.0.0.1", 8001)}), 10, "the first instance to be pushed")

        assert await second.register_instance(
            RegisterInstanceParam(service_name=service, ip="10.0.0.2", port=8002, weight=2.0)
        )
        await wait_for(recorder.saw({("10.0.0.1", 8001), ("10.0.0.2", 8002)}), 10, "a push with the second instance")

        listed = await first.list_instances(ListInstanceParam(service_name=service, healthy_only=None, subscribe=False))
        by_port = {inst.port: inst for inst in listed}
        assert set(by_port) == {8001, 8002}
        assert by_port[8001].metadata == {"zone": "a"}
        assert by_port[8002].weight == 2.0
        assert all(inst.healthy and inst.enabled and inst.ephemeral for inst in listed)
        assert by_port[8001].clusterName == "DEFAULT"
        assert by_port[8001].serviceName.endswith(service)

        # The SDK sends a blank namespace by default, which Nacos 3.1 answers with an empty list
        # (see docs/compatibility.md); name it.
        services = await first.list_services(ListServiceParam(namespace_id="public", page_no=1, page_size=1000))
        assert service in services.services

        assert await second.deregister_instance(DeregisterInstanceParam(service_name=service, ip="10.0.0.2", port=8002))
        await wait_for(recorder.saw({("10.0.0.1", 8001)}), 10, "a push without the deregistered instance")
        listed = await watcher.list_instances(
            ListInstanceParam(service_name=service, healthy_only=None, subscribe=False)
        )
        assert {(i.ip, i.port) for i in listed} == {("10.0.0.1", 8001)}
    finally:
        for client in (first, second, watcher):
            await client.shutdown()


async def config_scenario(config: Any) -> None:
    """Publish, get, listen and receive a change, remove."""
    data_id = unique("app") + ".yaml"
    group = "DEFAULT_GROUP"
    publisher = await NacosConfigService.create_config_service(config)
    listener_client = await NacosConfigService.create_config_service(config)
    try:
        assert await publisher.publish_config(ConfigParam(data_id=data_id, group=group, content="level: 1\n"))

        async def readable() -> bool:
            # Nacos 3.1 serves a new config from its dump ~0.5 s after the publish is acknowledged.
            return await publisher.get_config(ConfigParam(data_id=data_id, group=group)) == "level: 1\n"

        await wait_until(readable, 10, "the published config to be readable")

        seen: list[str] = []

        async def on_change(tenant: str, got_group: str, got_data_id: str, content: str) -> None:
            # The SDK calls listeners with (tenant, group, data_id, content).
            if (got_data_id, got_group) == (data_id, group):
                seen.append(content)

        await listener_client.add_listener(data_id, group, on_change)
        # The SDK registers listeners from a loop that runs every 5 s; publish until it hears.
        assert await publisher.publish_config(ConfigParam(data_id=data_id, group=group, content="level: 2\n"))
        await wait_for(lambda: "level: 2\n" in seen, 20, "the listener to receive level: 2")
        assert await publisher.publish_config(ConfigParam(data_id=data_id, group=group, content="level: 3\n"))
        await wait_for(lambda: "level: 3\n" in seen, 10, "the listener to receive level: 3")

        assert await publisher.remove_config(ConfigParam(data_id=data_id, group=group))

        async def gone() -> bool:
            fresh = await NacosConfigService.create_config_service(config)
            try:
                return not await fresh.get_config(ConfigParam(data_id=data_id, group=group))
            finally:
                await fresh.shutdown()

        await wait_until(gone, 10, "the removed config to read as missing")
    finally:
        await publisher.shutdown()
        await listener_client.shutdown()
