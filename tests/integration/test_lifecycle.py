"""Instance lifecycles: connection death, HTTP beats and their timeouts, and what survives a restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from v2.nacos import NacosNamingService, RegisterInstanceParam, SubscribeServiceParam

from nacos.auto.testing import EmbeddedRegistry
from nacos.auto.wire import models
from nacos.auto.wire.grpc import GrpcConnection

from sdk_scenarios import PushRecorder, client_config, unique, wait_for

CLIENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from v2.nacos import ClientConfigBuilder, NacosNamingService, RegisterInstanceParam
    async def main():
        config = ClientConfigBuilder().server_address(sys.argv[1]).log_dir(sys.argv[3]).cache_dir(sys.argv[3]).build()
        client = await NacosNamingService.create_naming_service(config)
        await client.register_instance(RegisterInstanceParam(service_name=sys.argv[2], ip="10.1.1.2", port=9002))
        print("registered", flush=True)
        await asyncio.sleep(600)
    asyncio.run(main())
    """
)


def http(registry: EmbeddedRegistry, method: str, path: str, **params: Any) -> Any:
    data = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
    url = f"{registry.base_url}{path}"
    if method == "GET":
        request = urllib.request.Request(f"{url}?{data}")
    else:
        request = urllib.request.Request(url, data=data.encode(), method=method)
    with urllib.request.urlopen(request, timeout=5) as answer:
        body = answer.read().decode()
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body


def hosts(registry: EmbeddedRegistry, service: str) -> dict[int, dict[str, Any]]:
    info = http(registry, "GET", "/v1/ns/instance/list", serviceName=service)
    return {host["port"]: host for host in info["hosts"]}


def test_killed_client_instances_vanish_and_are_pushed_within_a_second(
    registry: EmbeddedRegistry, tmp_path: Path
) -> None:
    service = unique("kill9")
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, registry.http_address, service, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "registered"

        async def scenario() -> float:
            watcher = await NacosNamingService.create_naming_service(client_config(registry.http_address, tmp_path))
            try:
                # An anchor instance keeps the list non-empty: the SDK ignores empty pushes by design.
                await watcher.register_instance(RegisterInstanceParam(service_name=service, ip="10.1.1.1", port=9001))
                recorder = PushRecorder()
                await watcher.subscribe(SubscribeServiceParam(service_name=service, subscribe_callback=recorder))
                both = {("10.1.1.1", 9001), ("10.1.1.2", 9002)}
                await wait_for(recorder.saw(both), 10, "both instances pushed")
                killed_at = time.monotonic()
                client.kill()
                await wait_for(recorder.saw({("10.1.1.1", 9001)}), 5, "the killed client's instance to go")
                elapsed = time.monotonic() - killed_at
                assert set(hosts(registry, service)) == {9001}
                return elapsed
            finally:
                await watcher.shutdown()

        elapsed = asyncio.run(scenario())
        assert elapsed < 1.0, f"removal pushed {elapsed:.3f}s after kill -9"
    finally:
        client.kill()
        client.wait(10)


def test_http_instance_without_beats_turns_unhealthy_then_is_removed(registry: EmbeddedRegistry) -> None:
    service = unique("beatless")
    metadata = {models.HEART_BEAT_TIMEOUT_KEY: "1000", models.IP_DELETE_TIMEOUT_KEY: "2000"}
    http(
        registry,
        "POST",
        "/v1/ns/instance",
        serviceName=service,
        ip="10.2.0.1",
        port=80,
        metadata=json.dumps(metadata),
    )
    registered = time.monotonic()
    assert hosts(registry, service)[80]["healthy"] is True
    assert hosts(registry, service)[80]["instanceHeartBeatTimeOut"] == 1000

    while hosts(registry, service).get(80, {}).get("healthy", False):
        assert time.monotonic() - registered < 2.0, "still healthy well after the beat timeout"
        time.sleep(0.05)
    unhealthy_at = time.monotonic() - registered
    assert 0.9 <= unhealthy_at < 2.0
    healthy_only = http(registry, "GET", "/v1/ns/instance/list", serviceName=service, healthyOnly="true")
    assert healthy_only["hosts"] == []

    while 80 in hosts(registry, service):
        assert time.monotonic() - registered < 3.5, "still listed well after the delete timeout"
        time.sleep(0.05)
    removed_at = time.monotonic() - registered
    assert 1.9 <= removed_at < 3.5


def test_beats_keep_an_http_instance_healthy_and_revive_it(registry: EmbeddedRegistry) -> None:
    service = unique("beating")
    metadata = json.dumps({models.HEART_BEAT_TIMEOUT_KEY: "800", models.IP_DELETE_TIMEOUT_KEY: "5000"})
    http(registry, "POST", "/v1/ns/instance", serviceName=service, ip="10.2.0.2", port=81, metadata=metadata)
    beat = json.dumps({"ip": "10.2.0.2", "port": 81, "serviceName": service, "cluster": "DEFAULT"})
    for _ in range(8):
        answer = http(registry, "PUT", "/v1/ns/instance/beat", serviceName=service, beat=beat)
        assert answer["code"] == 10200
        time.sleep(0.25)
        assert hosts(registry, service)[81]["healthy"] is True
    time.sleep(1.5)
    assert hosts(registry, service)[81]["healthy"] is False
    http(registry, "PUT", "/v1/ns/instance/beat", serviceName=service, beat=beat)
    assert hosts(registry, service)[81]["healthy"] is True


def test_beat_for_unknown_instance(registry: EmbeddedRegistry) -> None:
    service = unique("ghost")
    light = http(registry, "PUT", "/v1/ns/instance/beat", serviceName=service, ip="10.3.0.1", port=1)
    assert light["code"] == 20404
    beat = json.dumps({"ip": "10.3.0.1", "port": 1, "serviceName": service, "cluster": "DEFAULT"})
    full = http(registry, "PUT", "/v1/ns/instance/beat", serviceName=service, beat=beat)
    assert full["code"] == 10200
    assert 1 in hosts(registry, service)


def test_restart_keeps_configs_and_persistent_instances_not_ephemeral(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with EmbeddedRegistry(data_dir=data_dir) as registry:
        http(registry, "POST", "/v1/cs/configs", dataId="kept.yaml", group="G", content="a: 1", type="yaml")
        http(registry, "POST", "/v1/cs/configs", dataId="kept.yaml", group="G", content="a: 2", type="yaml")
        http(
            registry,
            "POST",
            "/v1/ns/instance",
            serviceName="durable",
            ip="10.4.0.1",
            port=1,
            ephemeral="false",
        )
        http(registry, "POST", "/v1/ns/instance", serviceName="fleeting-http", ip="10.4.0.2", port=2)

        async def register_over_grpc() -> None:
            async with GrpcConnection(registry.grpc_address) as conn:
                await conn.call(
                    models.InstanceRequest(
                        service_name="fleeting-grpc", instance=models.Instance(ip="10.4.0.3", port=3)
                    ),
                    models.InstanceResponse,
                )
                assert 3 in hosts(registry, "fleeting-grpc")
                registry.stop()  # stopped while the connection is alive

        asyncio.run(register_over_grpc())

    with EmbeddedRegistry(data_dir=data_dir) as again:
        assert http(again, "GET", "/v1/cs/configs", dataId="kept.yaml", group="G") == "a: 2"
        durable = hosts(again, "durable")
        assert set(durable) == {1}
        assert durable[1]["ephemeral"] is False
        assert hosts(again, "fleeting-http") == {}
        assert hosts(again, "fleeting-grpc") == {}
        history = http(again, "GET", "/v1/cs/history", dataId="kept.yaml", group="G")
        assert [item["content"] for item in history["pageItems"]] == ["a: 2", "a: 1"]
        assert [item["opType"] for item in history["pageItems"]] == ["U", "I"]
