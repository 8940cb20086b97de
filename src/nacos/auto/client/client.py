"""The Nacos client: one per process per server configuration, sync and async faces over one core.

``NacosClient.shared(options)`` returns the process-wide client for those options. Its methods block
(with the options' timeout) and are safe from any thread; ``client.aio`` offers the same operations as
coroutines, awaitable from any event loop. All Nacos I/O runs on the runtime thread (see runtime.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from nacos.auto.client.cache import DiskCache
from nacos.auto.client.config import ConfigCallback, ConfigClient
from nacos.auto.client.connection import Connection, TokenSource
from nacos.auto.client.dispatch import Dispatcher, Listener
from nacos.auto.client.metrics import Metrics
from nacos.auto.client.naming import NamingClient, ServiceSnapshot
from nacos.auto.client.options import ClientOptions
from nacos.auto.client.runtime import Runtime, on_fork_in_child, runtime
from nacos.auto.wire import models

log = logging.getLogger("nacos.auto")

T = TypeVar("T")
FAILOVER_CHECK_SECONDS = 5.0


class _Core:
    """Everything a client owns; created and used on the runtime loop only."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.metrics = Metrics()
        self.dispatcher = Dispatcher(self.metrics)
        self.disk = DiskCache(options.cache_path(), options.namespace_id)
        self.tokens = TokenSource(options, self.metrics)
        self.naming_connection = Connection(options, "naming", self.tokens, self.metrics, self._naming_push)
        self.config_connection = Connection(options, "config", self.tokens, self.metrics, self._config_push)
        self.naming = NamingClient(options, self.naming_connection, self.disk, self.metrics, self.dispatcher)
        self.config = ConfigClient(options, self.config_connection, self.disk, self.metrics, self.dispatcher)
        self._failover_task: asyncio.Task[None] | None = None

    async def _naming_push(self, request: models.Request) -> None:
        await self.naming.on_push(request)

    async def _config_push(self, request: models.Request) -> None:
        await self.config.on_push(request)

    def start(self) -> None:
        if self._failover_task is None:
            self._failover_task = asyncio.get_running_loop().create_task(self._watch_failover())

    async def _watch_failover(self) -> None:
        while True:
            active = self.options.failover or self.disk.failover_switched_on()
            self.naming.set_failover(active)
            self.config.failover_active = active
            await asyncio.sleep(FAILOVER_CHECK_SECONDS)

    async def close(self) -> None:
        if self._failover_task is not None:
            self._failover_task.cancel()
        await self.config.close()
        await self.naming_connection.close()
        await self.config_connection.close()
        self.dispatcher.close()


class AsyncNacosClient:
    """The coroutine face of a :class:`NacosClient`; awaitable from any event loop."""

    def __init__(self, owner: NacosClient) -> None:
        self._owner = owner

    async def _call(self, make: Callable[[_Core], Coroutine[Any, Any, T]]) -> T:
        rt, core = self._owner._bound()

        async def run() -> T:
            core.start()
            return await make(core)

        return await rt.call(run())

    # naming
    async def register_instance(
        self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP
    ) -> None:
        await self._call(lambda c: c.naming.register(service, instance, group))

    async def register_instances(
        self, service: str, instances: list[models.Instance], group: str = models.DEFAULT_GROUP
    ) -> None:
        await self._call(lambda c: c.naming.register_batch(service, instances, group))

    async def deregister_instance(
        self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP
    ) -> None:
        await self._call(lambda c: c.naming.deregister(service, instance, group))

    async def update_instance(self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP) -> None:
        """Change weight, metadata or ``enabled`` (online/offline) of a registered instance."""
        await self._call(lambda c: c.naming.register(service, instance, group))

    async def subscribe(
        self,
        service: str,
        callback: Callable[[ServiceSnapshot], Any] | None = None,
        group: str = models.DEFAULT_GROUP,
    ) -> ServiceSnapshot:
        listener = Listener.capture(callback) if callback is not None else None
        return await self._call(lambda c: c.naming.subscribe(service, group, listener))

    async def unsubscribe(
        self, service: str, callback: Callable[[ServiceSnapshot], Any] | None = None, group: str = models.DEFAULT_GROUP
    ) -> None:
        await self._call(lambda c: c.naming.unsubscribe(service, group, callback))

    async def list_instances(
        self,
        service: str,
        group: str = models.DEFAULT_GROUP,
        clusters: list[str] | None = None,
        healthy_only: bool = False,
        subscribe: bool = True,
    ) -> list[models.Instance]:
        return await self._call(lambda c: c.naming.list_instances(service, group, clusters, healthy_only, subscribe))

    async def list_services(
        self, group: str = models.DEFAULT_GROUP, page_no: int = 1, page_size: int = 100
    ) -> tuple[int, list[str]]:
        return await self._call(lambda c: c.naming.list_services(group, page_no, page_size))

    # config
    async def get_config(self, data_id: str, group: str = models.DEFAULT_GROUP) -> str | None:
        return await self._call(lambda c: c.config.get(data_id, group))

    async def publish_config(
        self,
        data_id: str,
        content: str,
        group: str = models.DEFAULT_GROUP,
        config_type: str | None = None,
        cas_md5: str | None = None,
    ) -> None:
        await self._call(lambda c: c.config.publish(data_id, group, content, config_type, cas_md5))

    async def remove_config(self, data_id: str, group: str = models.DEFAULT_GROUP) -> None:
        await self._call(lambda c: c.config.remove(data_id, group))

    async def add_config_listener(
        self, data_id: str, callback: ConfigCallback, group: str = models.DEFAULT_GROUP
    ) -> str | None:
        listener = Listener.capture(callback)
        return await self._call(lambda c: c.config.add_listener(data_id, group, listener))

    async def remove_config_listener(
        self, data_id: str, callback: ConfigCallback | None = None, group: str = models.DEFAULT_GROUP
    ) -> None:
        await self._call(lambda c: c.config.remove_listener(data_id, group, callback))

    async def close(self) -> None:
        await asyncio.wrap_future(self._owner._close_future())


_shared: dict[ClientOptions, NacosClient] = {}
_shared_lock = threading.Lock()


def _forget_shared() -> None:
    global _shared_lock
    _shared.clear()
    _shared_lock = threading.Lock()


on_fork_in_child(_forget_shared)


class NacosClient:
    """A Nacos client with blocking methods (each bounded by ``options.timeout``) and ``.aio``.

    The cache reads (:meth:`cached_service`) never block and never do I/O.
    """

    def __init__(self, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions()
        self.aio = AsyncNacosClient(self)
        self._pid = os.getpid()
        self._runtime: Runtime | None = None
        self._core: _Core | None = None
        self._lock = threading.Lock()
        self.closed = False

    @classmethod
    def shared(cls, options: ClientOptions | None = None) -> NacosClient:
        """The process-wide client for ``options`` (created on first use; a forked child gets its own)."""
        options = options or ClientOptions()
        with _shared_lock:
            client = _shared.get(options)
            if client is None or client.closed:
                client = _shared[options] = cls(options)
            return client

    def _bound(self) -> tuple[Runtime, _Core]:
        """The runtime and core of this process; after a fork the child starts from a clean state."""
        if self.closed:
            raise RuntimeError("this NacosClient is closed")
        with self._lock:
            if self._pid != os.getpid() or self._core is None or self._runtime is None:
                self._pid = os.getpid()
                self._runtime = runtime()
                self._core = _Core(self.options)
            return self._runtime, self._core

    def _run(self, make: Callable[[_Core], Coroutine[Any, Any, T]], slack: float = 1.0) -> T:
        rt, core = self._bound()

        async def run() -> T:
            core.start()
            return await make(core)

        # The core enforces options.timeout per request; the slack covers scheduling.
        return rt.run(run(), self.options.timeout * 3 + slack)

    # ----------------------------------------------------------------- naming

    def register_instance(self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP) -> None:
        self._run(lambda c: c.naming.register(service, instance, group))

    def register_instances(
        self, service: str, instances: list[models.Instance], group: str = models.DEFAULT_GROUP
    ) -> None:
        self._run(lambda c: c.naming.register_batch(service, instances, group))

    def deregister_instance(self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP) -> None:
        self._run(lambda c: c.naming.deregister(service, instance, group))

    def update_instance(self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP) -> None:
        """Change weight, metadata or ``enabled`` (online/offline) of a registered instance."""
        self._run(lambda c: c.naming.register(service, instance, group))

    def subscribe(
        self,
        service: str,
        callback: Callable[[ServiceSnapshot], Any] | None = None,
        group: str = models.DEFAULT_GROUP,
    ) -> ServiceSnapshot:
        listener = Listener.capture(callback) if callback is not None else None
        return self._run(lambda c: c.naming.subscribe(service, group, listener))

    def unsubscribe(
        self, service: str, callback: Callable[[ServiceSnapshot], Any] | None = None, group: str = models.DEFAULT_GROUP
    ) -> None:
        self._run(lambda c: c.naming.unsubscribe(service, group, callback))

    def list_instances(
        self,
        service: str,
        group: str = models.DEFAULT_GROUP,
        clusters: list[str] | None = None,
        healthy_only: bool = False,
        subscribe: bool = True,
    ) -> list[models.Instance]:
        return self._run(lambda c: c.naming.list_instances(service, group, clusters, healthy_only, subscribe))

    def list_services(
        self, group: str = models.DEFAULT_GROUP, page_no: int = 1, page_size: int = 100
    ) -> tuple[int, list[str]]:
        return self._run(lambda c: c.naming.list_services(group, page_no, page_size))

    def cached_service(self, service: str, group: str = models.DEFAULT_GROUP) -> ServiceSnapshot | None:
        """The current snapshot of a subscribed service: no lock, no I/O (the discovery hot path)."""
        core = self._core
        if core is None or self._pid != os.getpid():
            return None
        return core.naming.cached(service, group)

    # ----------------------------------------------------------------- config

    def get_config(self, data_id: str, group: str = models.DEFAULT_GROUP) -> str | None:
        return self._run(lambda c: c.config.get(data_id, group))

    def publish_config(
        self,
        data_id: str,
        content: str,
        group: str = models.DEFAULT_GROUP,
        config_type: str | None = None,
        cas_md5: str | None = None,
    ) -> None:
        self._run(lambda c: c.config.publish(data_id, group, content, config_type, cas_md5))

    def remove_config(self, data_id: str, group: str = models.DEFAULT_GROUP) -> None:
        self._run(lambda c: c.config.remove(data_id, group))

    def add_config_listener(
        self, data_id: str, callback: ConfigCallback, group: str = models.DEFAULT_GROUP
    ) -> str | None:
        listener = Listener.capture(callback)
        return self._run(lambda c: c.config.add_listener(data_id, group, listener))

    def remove_config_listener(
        self, data_id: str, callback: ConfigCallback | None = None, group: str = models.DEFAULT_GROUP
    ) -> None:
        self._run(lambda c: c.config.remove_listener(data_id, group, callback))

    # ----------------------------------------------------------------- lifecycle and status

    def status(self) -> dict[str, Any]:
        """A snapshot for health endpoints: connections, counters, what is registered and followed."""
        core = self._core
        if core is None or self._pid != os.getpid():
            return {"started": False, "closed": self.closed}
        return {
            "started": True,
            "closed": self.closed,
            "naming": core.naming_connection.status(),
            "config": core.config_connection.status(),
            "failover": core.naming.failover_active,
            "registrations": len(core.naming.registrations()),
            "subscriptions": len(core.naming.subscribed()),
            "config_listeners": len(core.config.watched),
            "metrics": core.metrics.snapshot(),
        }

    def _close_future(self) -> Any:
        import concurrent.futures

        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            core, rt = self._core, self._runtime
            self.closed = True
            self._core = None
        if core is None or rt is None or self._pid != os.getpid():
            done.set_result(None)
            return done
        return rt.submit(core.close())

    def close(self, timeout: float = 5.0) -> None:
        """Deregister nothing implicitly, close connections; registrations of ephemeral instances end."""
        future = self._close_future()
        try:
            future.result(timeout)
        except Exception as exc:
            log.debug("closing the client: %s", exc)
        with _shared_lock:
            if _shared.get(self.options) is self:
                del _shared[self.options]

    def __enter__(self) -> NacosClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
