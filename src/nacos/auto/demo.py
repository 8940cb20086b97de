"""``nacos-serving demo``: the embedded registry at work, narrated.

Starts the registry as a subprocess, then speaks Nacos' own gRPC protocol to it: two instances of
``user-service`` register from two connections, a subscriber sees each change pushed, one instance's
connection drops and the registry removes it at once, and a config document is published, read, changed
and pushed to a listener. Exits 0 when everything was observed, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from nacos.auto.testing import EmbeddedRegistry
from nacos.auto.wire import models
from nacos.auto.wire.grpc import GrpcConnection

SERVICE = "user-service"
DATA_ID = "user-service.yaml"
GROUP = models.DEFAULT_GROUP


def say(text: str) -> None:
    print(text, flush=True)


class Observer:
    """Records server pushes so the narrative can wait for them."""

    def __init__(self) -> None:
        self.hosts: list[list[str]] = []
        self.config_changes: list[str] = []
        self.changed = asyncio.Event()

    async def __call__(self, request: models.Request) -> models.Response | None:
        if isinstance(request, models.NotifySubscriberRequest) and request.service_info is not None:
            self.hosts.append(sorted(f"{h.ip}:{h.port}" for h in request.service_info.hosts))
        elif isinstance(request, models.ConfigChangeNotifyRequest):
            self.config_changes.append(request.data_id)
        self.changed.set()
        return None

    async def wait(self, check: object, what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not (check() if callable(check) else check):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"did not see {what} within {timeout}s")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


def _instance(port: int) -> models.Instance:
    return models.Instance(ip="127.0.0.1", port=port, metadata={"version": "v1"})


async def _narrate(registry: EmbeddedRegistry) -> None:
    address = registry.grpc_address
    observer = Observer()
    async with GrpcConnection(address, on_request=observer) as watcher:
        info = await watcher.call(models.SubscribeServiceRequest(service_name=SERVICE), models.SubscribeServiceResponse)
        assert info.service_info is not None
        say(f"  subscribed to {SERVICE}: {len(info.service_info.hosts)} instances so far")

        first = await GrpcConnection(address).connect()
        second = await GrpcConnection(address).connect()
        try:
            for conn, port in ((first, 8001), (second, 8002)):
                started = time.perf_counter()
                await conn.call(
                    models.InstanceRequest(service_name=SERVICE, instance=_instance(port)), models.InstanceResponse
                )
                await observer.wait(lambda p=port: any(f"127.0.0.1:{p}" in h for h in observer.hosts), "a push")
                took = (time.perf_counter() - started) * 1000
                say(f"  registered 127.0.0.1:{port} -> pushed to the subscriber in {took:.1f} ms: {observer.hosts[-1]}")

            started = time.perf_counter()
            await second.close()
            await observer.wait(lambda: observer.hosts[-1] == ["127.0.0.1:8001"], "the removal push")
            took = (time.perf_counter() - started) * 1000
            say(f"  connection of :8002 closed -> instance removed and pushed in {took:.1f} ms: {observer.hosts[-1]}")
        finally:
            await first.close()
            await second.close()

        await watcher.call(
            models.ConfigPublishRequest(
                data_id=DATA_ID, group=GROUP, content="greeting: hello\n", addition_map={"type": "yaml"}
            ),
            models.ConfigPublishResponse,
        )
        got = await watcher.call(models.ConfigQueryRequest(data_id=DATA_ID, group=GROUP), models.ConfigQueryResponse)
        say(f"  published {DATA_ID}: {got.content.strip()!r} (md5 {got.md5[:8]}..., type {got.content_type})")
        await watcher.call(
            models.ConfigBatchListenRequest(
                config_listen_contexts=[models.ConfigListenContext(data_id=DATA_ID, group=GROUP, md5=got.md5)]
            ),
            models.ConfigChangeBatchListenResponse,
        )
        started = time.perf_counter()
        await watcher.call(
            models.ConfigPublishRequest(data_id=DATA_ID, group=GROUP, content="greeting: hi there\n"),
            models.ConfigPublishResponse,
        )
        await observer.wait(lambda: DATA_ID in observer.config_changes, "the config change notification")
        took = (time.perf_counter() - started) * 1000
        got = await watcher.call(models.ConfigQueryRequest(data_id=DATA_ID, group=GROUP), models.ConfigQueryResponse)
        say(f"  changed {DATA_ID} -> listener notified in {took:.1f} ms, now {got.content.strip()!r}")


def run_demo() -> int:
    say("nacos-serving demo: the embedded Nacos-compatible registry")
    try:
        with EmbeddedRegistry() as registry:
            say(f"  registry up: HTTP {registry.base_url}, gRPC {registry.grpc_address}")
            asyncio.run(_narrate(registry))
            say("  stopping the registry")
    except Exception as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    say("demo finished: registration, push, removal on disconnect and config push all observed")
    return 0
