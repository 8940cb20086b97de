"""The registry core: naming, config and connections wired together, and the pushes between them.

Changes are pushed as soon as the event loop is free: all changes to a service made in one loop turn
collapse into one push per subscriber (Nacos batches with a 500 ms delay; we keep the latency low and
get the batching for free from the loop). Each push is retried until acked, dropped when superseded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nacos.auto.server.auth import Authenticator
from nacos.auto.server.config import ConfigCenter, ConfigKey
from nacos.auto.server.connections import Connection, ConnectionManager
from nacos.auto.server.naming import NamingRegistry, Service, ServiceKey
from nacos.auto.server.store import Store
from nacos.auto.wire import codec, models

log = logging.getLogger("nacos.auto.server")


@dataclass(slots=True)
class Timing:
    """Server-side timers; shortened in tests, Nacos' values by default."""

    idle_probe_after: float = 20.0
    probe_answer_within: float = 5.0
    housekeeping_every: float = 0.5
    push_timeout: float = 3.0


class Registry:
    def __init__(self, store: Store, auth: Authenticator, timing: Timing | None = None) -> None:
        self.store = store
        self.auth = auth
        self.timing = timing or Timing()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: dict[ServiceKey, Service] = {}
        self.connections = ConnectionManager(self._disconnected)
        self.naming = NamingRegistry(store, self._service_changed)
        self.config = ConfigCenter(store, self._config_changed)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._housekeeper: asyncio.Task[None] | None = None
        self.started_at = time.time()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._housekeeper = self._loop.create_task(self._housekeeping())

    async def stop(self) -> None:
        for task in [self._housekeeper, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _housekeeping(self) -> None:
        last_empty_sweep = 0.0
        while True:
            await asyncio.sleep(self.timing.housekeeping_every)
            try:
                now = time.monotonic()
                self.naming.expire_beats(now)
                if now - last_empty_sweep > 5.0:
                    self.naming.expire_empty_services(now)
                    last_empty_sweep = now
                await self.connections.probe_idle(self.timing.idle_probe_after, self.timing.probe_answer_within)
            except Exception:  # pragma: no cover - housekeeping must never die
                log.exception("housekeeping failed")

    def _disconnected(self, conn: Connection) -> None:
        self.naming.remove_client(conn.id)
        self.config.remove_connection(conn.id)

    # ----------------------------------------------------------------- naming pushes

    def _service_changed(self, service: Service) -> None:
        if self._loop is None:
            return
        if not self._dirty:
            self._loop.call_soon(self._flush)
        self._dirty[service.key] = service

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for service in dirty.values():
            if service.subscribers:
                self.spawn(self._push_service(service))

    async def _push_service(self, service: Service) -> None:
        """One push per subscriber of ``service``, encoded once per cluster filter."""
        revision = service.revision
        namespace, group, name = service.key
        templates: dict[str, codec.PayloadTemplate] = {}

        def template_for(clusters: str) -> codec.PayloadTemplate:
            template = templates.get(clusters)
            if template is None:
                template = templates[clusters] = codec.PayloadTemplate(
                    models.NotifySubscriberRequest(
                        namespace=namespace,
                        service_name=name,
                        group_name=group,
                        service_info=self.naming.service_info(service.key, clusters),
                    )
                )
            return template

        def maker(conn_id: str, clusters: str) -> Callable[[], codec.PayloadTemplate | None]:
            def make() -> codec.PayloadTemplate | None:
                if service.revision != revision or service.subscribers.get(conn_id) != clusters:
                    return None  # a newer push is on its way, or the subscription ended
                return template_for(clusters)

            return make

        targets = []
        for conn_id, clusters in list(service.subscribers.items()):
            conn = self.connections.by_id.get(conn_id)
            if conn is not None:
                targets.append((conn, maker(conn_id, clusters)))
        await self.connections.broadcast(targets, timeout=self.timing.push_timeout)

    # ----------------------------------------------------------------- config pushes

    def _config_changed(self, key: ConfigKey, connection_ids: set[str]) -> None:
        if self._loop is None or not connection_ids:
            return
        _, group, data_id = key
        templates: dict[str, codec.PayloadTemplate] = {}

        def maker(conn_id: str) -> Callable[[], codec.PayloadTemplate | None]:
            def make() -> codec.PayloadTemplate | None:
                tenant = self.config.listeners(key).get(conn_id)
                if tenant is None:
                    return None  # no longer listening
                if tenant not in templates:
                    templates[tenant] = codec.PayloadTemplate(
                        models.ConfigChangeNotifyRequest(data_id=data_id, group=group, tenant=tenant)
                    )
                return templates[tenant]

            return make

        targets = []
        for conn_id in connection_ids:
            conn = self.connections.by_id.get(conn_id)
            if conn is not None:
                targets.append((conn, maker(conn_id)))
        self.spawn(self.connections.broadcast(targets, attempts=50, timeout=self.timing.push_timeout))
