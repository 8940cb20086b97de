"""Config: get / publish (CAS) / remove, and listeners kept current by push, redo and periodic resync.

Each listened key remembers the md5 of the content we last saw. The server pushes a bare "changed"
notice; we then query, and listeners hear ``(data_id, group, content)`` only if the md5 really moved
(``content`` is ``None`` when the config was removed). A periodic batch-listen of every key catches
anything a lost push would have missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacos.auto.client.cache import DiskCache
from nacos.auto.client.connection import Connection
from nacos.auto.client.dispatch import Dispatcher, Listener
from nacos.auto.client.errors import ConfigConflictError, NacosUnavailableError, RequestFailedError
from nacos.auto.client.metrics import Metrics
from nacos.auto.client.options import ClientOptions
from nacos.auto.wire import models
from nacos.auto.wire.util import content_md5

log = logging.getLogger("nacos.auto")

ConfigKey = tuple[str, str]  # group, data id
ConfigCallback = Callable[[str, str, str | None], Any]


@dataclass
class Watched:
    md5: str
    content: str | None
    listeners: list[Listener] = field(default_factory=list)


class ConfigClient:
    def __init__(
        self,
        options: ClientOptions,
        connection: Connection,
        disk: DiskCache,
        metrics: Metrics,
        dispatcher: Dispatcher,
    ) -> None:
        self.options = options
        self.connection = connection
        self.disk = disk
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.failover_active = options.failover
        self.watched: dict[ConfigKey, Watched] = {}
        self._resync: asyncio.Task[None] | None = None
        connection.on_connected.append(self._redo)

    def _tenant(self) -> str:
        return self.options.namespace_id

    # ----------------------------------------------------------------- reads and writes

    async def _query(self, data_id: str, group: str, timeout: float | None) -> str | None:
        try:
            response = await self.connection.request(
                models.ConfigQueryRequest(data_id=data_id, group=group, tenant=self._tenant()),
                models.ConfigQueryResponse,
                timeout,
            )
        except RequestFailedError as exc:
            if exc.code == models.NOT_FOUND:
                return None
            raise
        return response.content

    async def get(self, data_id: str, group: str = models.DEFAULT_GROUP, timeout: float | None = None) -> str | None:
        """The content, or ``None`` if there is no such config. Falls back to the disk snapshot."""
        if self.failover_active:
            pinned = self.disk.load_config(group, data_id)
            if pinned is not None:
                return pinned
        try:
            content = await self._query(data_id, group, timeout)
        except NacosUnavailableError:
            snapshot = self.disk.load_config(group, data_id)
            if snapshot is None:
                raise
            log.warning("Nacos unreachable: serving config %s/%s from the disk snapshot", group, data_id)
            return snapshot
        self.disk.save_config(group, data_id, content)
        return content

    async def publish(
        self,
        data_id: str,
        group: str,
        content: str,
        config_type: str | None = None,
        cas_md5: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Publish; with ``cas_md5`` only if the stored content still has that md5."""
        extra = {"type": config_type} if config_type else {}
        if self.options.app_name:
            extra["appName"] = self.options.app_name
        request = models.ConfigPublishRequest(
            data_id=data_id,
            group=group,
            tenant=self._tenant(),
            content=content,
            cas_md5=cas_md5 or "",
            addition_map=extra,
        )
        try:
            await self.connection.request(request, models.ConfigPublishResponse, timeout)
        except RequestFailedError as exc:
            if cas_md5:
                raise ConfigConflictError(
                    f"config {group}/{data_id} changed since md5 {cas_md5}: {exc}", exc.code
                ) from None
            raise

    async def remove(self, data_id: str, group: str = models.DEFAULT_GROUP, timeout: float | None = None) -> None:
        await self.connection.request(
            models.ConfigRemoveRequest(data_id=data_id, group=group, tenant=self._tenant()),
            models.ConfigRemoveResponse,
            timeout,
        )

    # ----------------------------------------------------------------- listening

    async def add_listener(
        self, data_id: str, group: str, callback: Listener, timeout: float | None = None
    ) -> str | None:
        """Call ``callback(data_id, group, content)`` on every change; returns the current content."""
        key = (group, data_id)
        watched = self.watched.get(key)
        if watched is None:
            content = await self.get(data_id, group, timeout)
            watched = self.watched[key] = Watched(content_md5(content) if content is not None else "", content)
            self._start_resync()
            try:
                await self._listen([key], timeout)
            except NacosUnavailableError:
                log.warning("listener for %s/%s registered locally; Nacos will be told on reconnect", group, data_id)
        watched.listeners.append(callback)
        return watched.content

    async def remove_listener(
        self, data_id: str, group: str, callback: ConfigCallback | None = None, timeout: float | None = None
    ) -> None:
        key = (group, data_id)
        watched = self.watched.get(key)
        if watched is None:
            return
        if callback is not None:
            watched.listeners[:] = [item for item in watched.listeners if not item.matches(callback)]
            if watched.listeners:
                return
        del self.watched[key]
        await self.connection.request(
            models.ConfigBatchListenRequest(
                listen=False,
                config_listen_contexts=[
                    models.ConfigListenContext(data_id=data_id, group=group, tenant=self._tenant())
                ],
            ),
            models.ConfigChangeBatchListenResponse,
            timeout,
        )

    async def _listen(self, keys: list[ConfigKey], timeout: float | None = None) -> None:
        """Batch-listen ``keys`` with the md5 we hold, and refresh those the server says changed."""
        contexts = [
            models.ConfigListenContext(
                data_id=data_id, group=group, tenant=self._tenant(), md5=self.watched[(group, data_id)].md5
            )
            for group, data_id in keys
            if (group, data_id) in self.watched
        ]
        if not contexts:
            return
        response = await self.connection.request(
            models.ConfigBatchListenRequest(listen=True, config_listen_contexts=contexts),
            models.ConfigChangeBatchListenResponse,
            timeout,
        )
        for changed in response.changed_configs:
            await self._refresh((changed.group, changed.data_id))

    async def on_push(self, request: models.Request) -> None:
        if isinstance(request, models.ConfigChangeNotifyRequest):
            key = (request.group, request.data_id)
            if key in self.watched:
                asyncio.get_running_loop().create_task(self._refresh_logged(key))

    async def _refresh_logged(self, key: ConfigKey) -> None:
        try:
            await self._refresh(key)
        except Exception as exc:
            log.warning("refreshing config %s/%s failed: %s; the resync will retry", key[0], key[1], exc)

    async def _refresh(self, key: ConfigKey) -> None:
        group, data_id = key
        content = await self._query(data_id, group, None)
        watched = self.watched.get(key)
        if watched is None:
            return
        md5 = content_md5(content) if content is not None else ""
        if md5 == watched.md5:
            return
        watched.md5, watched.content = md5, content
        self.disk.save_config(group, data_id, content)
        for listener in list(watched.listeners):
            self.dispatcher.dispatch(listener, data_id, group, content)

    # ----------------------------------------------------------------- redo and resync

    async def _redo(self) -> None:
        if self.watched:
            self.metrics.redo_listeners += len(self.watched)
            await self._listen(list(self.watched))

    def _start_resync(self) -> None:
        if self._resync is None or self._resync.done():
            self._resync = asyncio.get_running_loop().create_task(self._resync_forever())

    async def _resync_forever(self) -> None:
        while self.watched:
            await asyncio.sleep(self.options.config_resync_seconds)
            if not self.connection.connected:
                continue
            try:
                await self._listen(list(self.watched))
            except Exception as exc:
                log.debug("config resync failed: %s", exc)

    async def close(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
