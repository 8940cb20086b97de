"""Our own client against every server: what users run in production must work on real Nacos."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nacos.auto.client import ClientOptions, ConfigConflictError, Instance, NacosClient, ServiceSnapshot
from nacos.auto.wire.util import content_md5

from sdk_scenarios import unique
from servers import ContractServer


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def ports(snapshot: ServiceSnapshot | None) -> set[int]:
    return {h.port for h in snapshot.hosts} if snapshot else set()


@pytest.fixture
def clients(registry: ContractServer, tmp_path: Path) -> Iterator[tuple[NacosClient, NacosClient]]:
    first = NacosClient(ClientOptions(server=registry.http_address, cache_dir=str(tmp_path / "a"), timeout=5))
    second = NacosClient(ClientOptions(server=registry.http_address, cache_dir=str(tmp_path / "b"), timeout=5))
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_client_naming(clients: tuple[NacosClient, NacosClient]) -> None:
    owner, watcher = clients
    service = unique("contract")
    heard: list[set[int]] = []
    watcher.subscribe(service, callback=lambda snap: heard.append(ports(snap)))
    owner.register_instance(service, Instance(ip="10.20.0.1", port=1, metadata={"zone": "a"}))
    eventually(lambda: ports(watcher.cached_service(service)) == {1}, 10, "the first instance pushed")

    owner.update_instance(service, Instance(ip="10.20.0.1", port=1, weight=5.0, metadata={"zone": "a"}))
    eventually(
        lambda: any(h.weight == 5.0 for h in watcher.cached_service(service).hosts),  # type: ignore[union-attr]
        10,
        "the weight change pushed",
    )
    assert heard[-1] == {1}
    assert {i.port for i in owner.list_instances(service, subscribe=False)} == {1}
    eventually(lambda: service in watcher.list_services(page_size=1000)[1], 10, "the service listed")
    owner.deregister_instance(service, Instance(ip="10.20.0.1", port=1))
    eventually(lambda: not owner.list_instances(service, subscribe=False), 10, "the deregistration")


def test_client_batch_is_replaced_as_a_set(
    registry: ContractServer, clients: tuple[NacosClient, NacosClient], request: pytest.FixtureRequest
) -> None:
    if registry.kind == "rnacos":
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="r-nacos adds batch registrations instead of replacing the set")
        )
    owner, watcher = clients
    service = unique("batch")
    watcher.subscribe(service)
    owner.register_instances(service, [Instance(ip="10.20.0.1", port=1), Instance(ip="10.20.0.2", port=2)])
    eventually(lambda: ports(watcher.cached_service(service)) == {1, 2}, 10, "the batch pushed")
    owner.deregister_instance(service, Instance(ip="10.20.0.1", port=1))  # re-sends the batch without it
    eventually(lambda: ports(watcher.cached_service(service)) == {2}, 5, "the smaller batch pushed")


def test_client_persistent_instance(clients: tuple[NacosClient, NacosClient]) -> None:
    owner, watcher = clients
    service = unique("durable")
    owner.register_instance(service, Instance(ip="10.20.1.1", port=7, ephemeral=False))
    eventually(
        lambda: {i.port for i in watcher.list_instances(service, subscribe=False)} == {7},
        10,
        "the persistent instance listed",
    )
    listed = watcher.list_instances(service, subscribe=False)
    assert listed[0].ephemeral is False
    owner.deregister_instance(service, Instance(ip="10.20.1.1", port=7, ephemeral=False))
    eventually(lambda: not watcher.list_instances(service, subscribe=False), 10, "the persistent instance gone")


def test_client_config(clients: tuple[NacosClient, NacosClient]) -> None:
    writer, reader = clients
    data_id = unique("contract") + ".yaml"
    writer.publish_config(data_id, "a: 1", config_type="yaml")
    eventually(lambda: reader.get_config(data_id) == "a: 1", 10, "the config readable")
    heard: list[str | None] = []
    reader.add_config_listener(data_id, lambda d, g, content: heard.append(content))
    writer.publish_config(data_id, "a: 2")
    eventually(lambda: heard[-1:] == ["a: 2"], 10, "the listener to hear a: 2")

    writer.publish_config(data_id, "a: 3")
    eventually(lambda: heard[-1:] == ["a: 3"], 10, "the listener to hear a: 3")

    writer.remove_config(data_id)
    eventually(lambda: heard[-1:] == [None], 10, "the listener to hear the removal")
    eventually(lambda: reader.get_config(data_id) is None, 10, "the config to read as missing")


def test_client_config_compare_and_set(
    registry: ContractServer, clients: tuple[NacosClient, NacosClient], request: pytest.FixtureRequest
) -> None:
    if registry.kind == "rnacos":
        request.applymarker(pytest.mark.xfail(strict=True, reason="r-nacos ignores casMd5"))
    writer, reader = clients
    data_id = unique("cas")
    writer.publish_config(data_id, "v: 1")
    eventually(lambda: reader.get_config(data_id) == "v: 1", 10, "the config readable")
    with pytest.raises(ConfigConflictError):
        writer.publish_config(data_id, "v: 2", cas_md5=content_md5("v: 0"))
    writer.publish_config(data_id, "v: 2", cas_md5=content_md5("v: 1"))
    eventually(lambda: reader.get_config(data_id) == "v: 2", 10, "the CAS publish readable")
