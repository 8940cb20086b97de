"""The registry's gRPC protocol, driven with our wire layer against the real subprocess."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from nacos.auto.testing import EmbeddedRegistry
from nacos.auto.wire import models
from nacos.auto.wire.grpc import GrpcConnection
from nacos.auto.wire.util import content_md5

from sdk_scenarios import unique


class Inbox:
    """Server requests received on a connection's stream."""

    def __init__(self, delay_first: float = 0.0) -> None:
        self.requests: list[models.Request] = []
        self.delay_first = delay_first

    async def __call__(self, request: models.Request) -> models.Response | None:
        self.requests.append(request)
        first_notice = isinstance(request, models.ConfigChangeNotifyRequest) and len(self.of(type(request))) == 1
        if self.delay_first and first_notice:
            await asyncio.sleep(self.delay_first)  # too slow: the server must retry
        return None

    def of(self, kind: type[models.Request]) -> list[models.Request]:
        return [r for r in self.requests if isinstance(r, kind)]

    def pushes(self) -> list[models.ServiceInfo]:
        return [r.service_info for r in self.of(models.NotifySubscriberRequest) if r.service_info]  # type: ignore[attr-defined]


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 60))


def inst(ip: str, port: int, **kwargs: object) -> models.Instance:
    return models.Instance(ip=ip, port=port, **kwargs)  # type: ignore[arg-type]


def test_server_check_and_setup_ack(registry: EmbeddedRegistry) -> None:
    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            host, port = conn.connection_id.split("_")[1:]
            assert host == "127.0.0.1" and int(port) > 0
            assert conn.server_abilities == {"supportPersistentInstanceByGrpc": True}
            health = await conn.request(models.HealthCheckRequest())
            assert isinstance(health, models.HealthCheckResponse) and health.success

    run(scenario)


def test_push_order_and_monotonic_last_ref_time(registry: EmbeddedRegistry) -> None:
    service = unique("mono")

    async def scenario() -> None:
        inbox = Inbox()
        async with GrpcConnection(registry.grpc_address, on_request=inbox) as watcher:
            sub = await watcher.call(
                models.SubscribeServiceRequest(service_name=service), models.SubscribeServiceResponse
            )
            assert sub.service_info is not None and sub.service_info.hosts == []
            async with GrpcConnection(registry.grpc_address) as publisher:
                for port in range(1, 21):
                    await publisher.call(
                        models.InstanceRequest(service_name=service, instance=inst("10.5.0.1", port)),
                        models.InstanceResponse,
                    )
                await until(lambda: bool(inbox.pushes()) and inbox.pushes()[-1].hosts[0].port == 20)
            await until(lambda: inbox.pushes()[-1].hosts == [])
            times = [info.last_ref_time for info in inbox.pushes()]
            assert times == sorted(times) and len(set(times)) == len(times)
            assert all(t > sub.service_info.last_ref_time for t in times)
            # re-registering on one connection replaces its instance: never more than one host pushed
            assert all(len(info.hosts) <= 1 for info in inbox.pushes())

    run(scenario)


def test_batch_persistent_clusters_and_service_list(registry: EmbeddedRegistry) -> None:
    group = unique("GRP")
    service = unique("batch")
    durable = unique("durable")

    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            await conn.call(
                models.BatchInstanceRequest(
                    service_name=service,
                    group_name=group,
                    instances=[inst("10.6.0.1", 1, cluster_name="east"), inst("10.6.0.2", 2, cluster_name="west")],
                ),
                models.BatchInstanceResponse,
            )
            await conn.call(
                models.PersistentInstanceRequest(
                    service_name=durable, group_name=group, instance=inst("10.6.0.3", 3, ephemeral=False)
                ),
                models.InstanceResponse,
            )
            east = await conn.call(
                models.ServiceQueryRequest(service_name=service, group_name=group, cluster="east"),
                models.QueryServiceResponse,
            )
            assert east.service_info is not None
            assert [h.ip for h in east.service_info.hosts] == ["10.6.0.1"]
            host = east.service_info.hosts[0]
            assert host.instance_id == f"10.6.0.1#1#east#{group}@@{service}"
            assert host.service_name == f"{group}@@{service}"

            page = await conn.call(
                models.ServiceListRequest(group_name=group, page_no=1, page_size=1), models.ServiceListResponse
            )
            assert page.count == 2 and len(page.service_names) == 1
            page2 = await conn.call(
                models.ServiceListRequest(group_name=group, page_no=2, page_size=1), models.ServiceListResponse
            )
            assert sorted(page.service_names + page2.service_names) == sorted([service, durable])

            mixed = await conn.request(
                models.InstanceRequest(service_name=durable, group_name=group, instance=inst("10.6.0.4", 4))
            )
            assert isinstance(mixed, models.ErrorResponse) and mixed.error_code == models.BAD_REQUEST
            assert "persistent service" in mixed.message

        # the connection is gone: its batch vanished, the persistent instance stays
        async with GrpcConnection(registry.grpc_address) as other:
            gone = await other.call(
                models.ServiceQueryRequest(service_name=service, group_name=group), models.QueryServiceResponse
            )
            kept = await other.call(
                models.ServiceQueryRequest(service_name=durable, group_name=group), models.QueryServiceResponse
            )
            assert gone.service_info is not None and gone.service_info.hosts == []
            assert kept.service_info is not None and [h.port for h in kept.service_info.hosts] == [3]
            assert kept.service_info.hosts[0].ephemeral is False

    run(scenario)


def test_config_listen_notify_is_retried_until_acked(registry: EmbeddedRegistry) -> None:
    data_id = unique("retry") + ".yaml"

    async def scenario() -> None:
        inbox = Inbox(delay_first=4.0)  # longer than the server's 3 s ack timeout
        async with GrpcConnection(registry.grpc_address, module="config", on_request=inbox) as listener:
            answer = await listener.call(
                models.ConfigBatchListenRequest(
                    config_listen_contexts=[models.ConfigListenContext(data_id=data_id, group="G", md5="")]
                ),
                models.ConfigChangeBatchListenResponse,
            )
            assert answer.changed_configs == []  # missing config, md5 "" — nothing changed
            async with GrpcConnection(registry.grpc_address, module="config") as publisher:
                await publisher.call(
                    models.ConfigPublishRequest(data_id=data_id, group="G", content="x: 1"),
                    models.ConfigPublishResponse,
                )
            await until(lambda: len(inbox.of(models.ConfigChangeNotifyRequest)) >= 2, timeout=10)
            notes = inbox.of(models.ConfigChangeNotifyRequest)
            assert all(n.data_id == data_id and n.group == "G" for n in notes)  # type: ignore[attr-defined]
            assert notes[0].request_id != notes[1].request_id

            stale = await listener.call(
                models.ConfigBatchListenRequest(
                    config_listen_contexts=[models.ConfigListenContext(data_id=data_id, group="G", md5="stale")]
                ),
                models.ConfigChangeBatchListenResponse,
            )
            assert [(c.data_id, c.group) for c in stale.changed_configs] == [(data_id, "G")]
            fresh = await listener.call(
                models.ConfigBatchListenRequest(
                    config_listen_contexts=[
                        models.ConfigListenContext(data_id=data_id, group="G", md5=content_md5("x: 1"))
                    ]
                ),
                models.ConfigChangeBatchListenResponse,
            )
            assert fresh.changed_configs == []

    run(scenario)


def test_config_cas_and_missing(registry: EmbeddedRegistry) -> None:
    data_id = unique("cas")

    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address, module="config") as conn:
            missing = await conn.request(models.ConfigQueryRequest(data_id=data_id, group="G"))
            assert isinstance(missing, models.ConfigQueryResponse)
            assert (missing.result_code, missing.error_code, missing.message) == (500, 300, "config data not exist")
            await conn.call(models.ConfigPublishRequest(data_id=data_id, group="G", content="v1"), models.Response)
            wrong = await conn.request(
                models.ConfigPublishRequest(data_id=data_id, group="G", content="v2", cas_md5="0" * 32)
            )
            assert isinstance(wrong, models.ConfigPublishResponse) and not wrong.success
            right = await conn.request(
                models.ConfigPublishRequest(data_id=data_id, group="G", content="v2", cas_md5=content_md5("v1"))
            )
            assert isinstance(right, models.ConfigPublishResponse) and right.success
            got = await conn.call(models.ConfigQueryRequest(data_id=data_id, group="G"), models.ConfigQueryResponse)
            assert (got.content, got.md5) == ("v2", content_md5("v2"))

    run(scenario)


@pytest.mark.parametrize("answers", [True, False])
def test_idle_connections_are_probed_and_silent_ones_dropped(answers: bool) -> None:
    service = unique("idle")

    async def silent(request: models.Request) -> models.Response | None:
        if isinstance(request, models.ClientDetectionRequest):
            await asyncio.sleep(30)  # never answers in time
        return None

    async def scenario(registry: EmbeddedRegistry) -> None:
        inbox = Inbox()
        handler = inbox if answers else silent
        async with GrpcConnection(registry.grpc_address, on_request=handler) as conn:
            await conn.call(
                models.InstanceRequest(service_name=service, instance=inst("10.7.0.1", 1)), models.InstanceResponse
            )
            async with GrpcConnection(registry.grpc_address) as observer:
                deadline = time.monotonic() + 9
                while time.monotonic() < deadline:
                    # the observer's own calls keep it active; the other connection stays idle
                    info = await observer.call(
                        models.ServiceQueryRequest(service_name=service), models.QueryServiceResponse
                    )
                    assert info.service_info is not None
                    if not info.service_info.hosts:
                        break
                    await asyncio.sleep(0.2)
                if answers:
                    assert info.service_info.hosts, "a connection that answers probes was dropped"
                    assert inbox.of(models.ClientDetectionRequest), "no detection probe was sent"
                else:
                    assert not info.service_info.hosts, "a silent connection was kept"

    with EmbeddedRegistry("--idle-probe-seconds", "1") as registry:
        asyncio.run(asyncio.wait_for(scenario(registry), 60))
