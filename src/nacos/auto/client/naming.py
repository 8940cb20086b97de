"""Naming: registrations (redone after every reconnect), subscriptions, and the local service cache.

The cache is a dict of immutable :class:`ServiceSnapshot` objects; a push builds a new snapshot and
swaps it in with one assignment, so readers on any thread get a consistent list without a lock. A push
older than what we hold (``lastRefTime``) is ignored; with empty protection on, an empty push never
replaces a non-empty list (a registry hiccup must not take a whole service away from callers).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nacos.auto.client.cache import DiskCache
from nacos.auto.client.connection import Connection
from nacos.auto.client.dispatch import Dispatcher, Listener
from nacos.auto.client.errors import NacosUnavailableError, RequestFailedError
from nacos.auto.client.metrics import Metrics
from nacos.auto.client.options import ClientOptions
from nacos.auto.wire import models

log = logging.getLogger("nacos.auto")

ServiceKey = tuple[str, str]  # group, service
InstanceKey = tuple[str, int, str]  # ip, port, cluster


@dataclass(frozen=True, slots=True)
class ServiceSnapshot:
    """What the client knows of a service at one moment. Never mutated: replaced on change."""

    service: str
    group: str
    hosts: tuple[models.Instance, ...]
    last_ref_time: int
    from_snapshot: bool = False  # read from disk, not (yet) confirmed by the server

    def healthy(self) -> tuple[models.Instance, ...]:
        return tuple(h for h in self.hosts if h.healthy and h.enabled)


def _key_of(instance: models.Instance) -> InstanceKey:
    return instance.ip, instance.port, instance.cluster_name or models.DEFAULT_CLUSTER


def _snapshot(info: models.ServiceInfo, group: str, service: str, from_disk: bool = False) -> ServiceSnapshot:
    return ServiceSnapshot(service, group, tuple(info.hosts), info.last_ref_time, from_disk)


class NamingClient:
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
        self.snapshots: dict[ServiceKey, ServiceSnapshot] = {}
        self.failover_active = options.failover
        self.persistent_by_instance_request = False
        self._pinned: dict[ServiceKey, ServiceSnapshot] = {}
        self._ephemeral: dict[ServiceKey, dict[InstanceKey, models.Instance]] = {}
        self._persistent: dict[ServiceKey, dict[InstanceKey, models.Instance]] = {}
        self._subscriptions: dict[ServiceKey, list[Listener]] = {}
        connection.on_connected.append(self._redo)

    # ----------------------------------------------------------------- reads (any thread)

    def cached(self, service: str, group: str = models.DEFAULT_GROUP) -> ServiceSnapshot | None:
        """The current snapshot, without I/O. In failover mode, the pinned disk snapshot."""
        key = (group, service)
        if self.failover_active:
            pinned = self._pinned.get(key)
            if pinned is None:
                info = self.disk.load_service(group, service)
                if info is not None:
                    pinned = self._pinned[key] = _snapshot(info, group, service, from_disk=True)
            if pinned is not None:
                return pinned
        return self.snapshots.get(key)

    def set_failover(self, active: bool) -> None:
        if active != self.failover_active:
            log.warning(
                "naming failover %s: lookups %s",
                "ON" if active else "off",
                "read the disk snapshot" if active else "follow the server again",
            )
        self.failover_active = active
        if not active:
            self._pinned.clear()

    # ----------------------------------------------------------------- registration

    def _namespace(self) -> str:
        return self.options.namespace_id

    async def register(
        self, service: str, instance: models.Instance, group: str = models.DEFAULT_GROUP, timeout: float | None = None
    ) -> None:
        """Register (or update: same ip, port and cluster) an instance; it is redone after reconnects."""
        key = (group, service)
        instance = dataclasses.replace(instance, cluster_name=instance.cluster_name or models.DEFAULT_CLUSTER)
        if instance.ephemeral:
            self._ephemeral.setdefault(key, {})[_key_of(instance)] = instance
            await self._send_ephemeral(key, timeout)
        else:
            self._persistent.setdefault(key, {})[_key_of(instance)] = instance
            await self._send_persistent(key, instance, "registerInstance", timeout)

    async def register_batch(
        self,
        service: str,
        instances: list[models.Instance],
        group: str = models.DEFAULT_GROUP,
        timeout: float | None = None,
    ) -> None:
        key = (group, service)
        for instance in instances:
            if not instance.ephemeral:
                raise ValueError(f"batch registration of {service!r} takes ephemeral instances only")
        self._ephemeral[key] = {_key_of(i): i for i in instances}
        await self._send_ephemeral(key, timeout)

    async def deregister(
        self,
        service: str,
        instance: models.Instance,
        group: str = models.DEFAULT_GROUP,
        timeout: float | None = None,
    ) -> None:
        key = (group, service)
        ikey = _key_of(instance)
        if instance.ephemeral:
            owned = self._ephemeral.get(key, {})
            removed = owned.pop(ikey, instance)
            if not owned:
                self._ephemeral.pop(key, None)
                await self.connection.request(
                    models.InstanceRequest(
                        namespace=self._namespace(),
                        service_name=service,
                        group_name=group,
                        type="deregisterInstance",
                        instance=removed,
                    ),
                    models.InstanceResponse,
                    timeout,
                )
            else:
                await self._send_ephemeral(key, timeout)
        else:
            self._persistent.get(key, {}).pop(ikey, None)
            await self._send_persistent(key, instance, "deregisterInstance", timeout)

    async def _send_ephemeral(self, key: ServiceKey, timeout: float | None) -> None:
        group, service = key
        owned = list(self._ephemeral.get(key, {}).values())
        if not owned:
            return
        if len(owned) == 1:
            await self.connection.request(
                models.InstanceRequest(
                    namespace=self._namespace(), service_name=service, group_name=group, instance=owned[0]
                ),
                models.InstanceResponse,
                timeout,
            )
        else:
            await self.connection.request(
                models.BatchInstanceRequest(
                    namespace=self._namespace(), service_name=service, group_name=group, instances=owned
                ),
                models.BatchInstanceResponse,
                timeout,
            )

    async def _send_persistent(
        self, key: ServiceKey, instance: models.Instance, action: str, timeout: float | None
    ) -> None:
        group, service = key
        target = dataclasses.replace(instance, ephemeral=False)
        namespace = self._namespace()
        if not self.persistent_by_instance_request:
            try:
                await self.connection.request(
                    models.PersistentInstanceRequest(
                        namespace=namespace, service_name=service, group_name=group, type=action, instance=target
                    ),
                    models.InstanceResponse,
                    timeout,
                )
                return
            except RequestFailedError as exc:
                if exc.code != models.NO_HANDLER:
                    raise
                # Servers without PersistentInstanceRequest (r-nacos, Nacos < 2.2) take ephemeral=false here.
                self.persistent_by_instance_request = True
        await self.connection.request(
            models.InstanceRequest(
                namespace=namespace, service_name=service, group_name=group, type=action, instance=target
            ),
            models.InstanceResponse,
            timeout,
        )

    def registrations(self) -> list[tuple[str, str, models.Instance]]:
        """(group, service, instance) of everything this client keeps registered."""
        out: list[tuple[str, str, models.Instance]] = []
        for table in (self._ephemeral, self._persistent):
            for (group, service), instances in table.items():
                out.extend((group, service, inst) for inst in instances.values())
        return out

    # ----------------------------------------------------------------- subscription

    async def subscribe(
        self,
        service: str,
        group: str = models.DEFAULT_GROUP,
        callback: Listener | None = None,
        timeout: float | None = None,
    ) -> ServiceSnapshot:
        """Follow a service: its snapshot stays current through pushes; ``callback`` hears each change.

        With the server unreachable, the disk snapshot stands in (and the subscription is made when the
        connection comes); with neither, :class:`NacosUnavailableError`.
        """
        key = (group, service)
        listeners = self._subscriptions.setdefault(key, [])
        if callback is not None:
            listeners.append(callback)
        if key in self.snapshots and not self.snapshots[key].from_snapshot:
            return self.snapshots[key]
        try:
            response = await self.connection.request(
                models.SubscribeServiceRequest(
                    namespace=self._namespace(), service_name=service, group_name=group, subscribe=True
                ),
                models.SubscribeServiceResponse,
                timeout,
            )
        except NacosUnavailableError:
            info = self.disk.load_service(group, service)
            if info is None:
                raise
            log.warning("Nacos unreachable: serving %s@@%s from the disk snapshot", group, service)
            snap = _snapshot(info, group, service, from_disk=True)
            self.snapshots.setdefault(key, snap)
            return self.snapshots[key]
        if response.service_info is not None:
            self._apply(key, response.service_info, force=True)
        return self.snapshots.get(key) or ServiceSnapshot(service, group, (), 0)

    async def unsubscribe(
        self,
        service: str,
        group: str = models.DEFAULT_GROUP,
        callback: Callable[[ServiceSnapshot], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        key = (group, service)
        listeners = self._subscriptions.get(key)
        if listeners is None:
            return
        if callback is not None:
            listeners[:] = [item for item in listeners if not item.matches(callback)]
            if listeners:
                return
        del self._subscriptions[key]
        self.snapshots.pop(key, None)
        await self.connection.request(
            models.SubscribeServiceRequest(
                namespace=self._namespace(), service_name=service, group_name=group, subscribe=False
            ),
            models.SubscribeServiceResponse,
            timeout,
        )

    def subscribed(self) -> list[ServiceKey]:
        return list(self._subscriptions)

    async def on_push(self, request: models.Request) -> None:
        if isinstance(request, models.NotifySubscriberRequest) and request.service_info is not None:
            info = request.service_info
            group = info.group_name or request.group_name or models.DEFAULT_GROUP
            service = info.name.split(models.GROUP_SEPARATOR)[-1] or request.service_name
            if (group, service) in self._subscriptions:
                self._apply((group, service), info)

    def _apply(self, key: ServiceKey, info: models.ServiceInfo, force: bool = False) -> None:
        group, service = key
        current = self.snapshots.get(key)
        if current is not None and not current.from_snapshot:
            if not force and info.last_ref_time <= current.last_ref_time:
                return  # stale or duplicate push
            if not info.hosts and current.hosts and self.options.empty_protection:
                log.warning(
                    "ignoring an empty instance list for %s@@%s (empty protection keeps %d instances)",
                    group,
                    service,
                    len(current.hosts),
                )
                return
        fresh = _snapshot(info, group, service)
        self.snapshots[key] = fresh
        if not self.failover_active:
            self.disk.save_service(group, service, info)
        if current is not None and _same_hosts(current.hosts, fresh.hosts):
            return
        for listener in self._subscriptions.get(key, []):
            self.dispatcher.dispatch(listener, fresh)

    # ----------------------------------------------------------------- queries

    async def list_instances(
        self,
        service: str,
        group: str = models.DEFAULT_GROUP,
        clusters: list[str] | None = None,
        healthy_only: bool = False,
        subscribe: bool = True,
        timeout: float | None = None,
    ) -> list[models.Instance]:
        snap = self.cached(service, group)
        if snap is None:
            if subscribe:
                snap = await self.subscribe(service, group, timeout=timeout)
            else:
                response = await self.connection.request(
                    models.ServiceQueryRequest(
                        namespace=self._namespace(),
                        service_name=service,
                        group_name=group,
                        cluster=",".join(clusters or []),
                        healthy_only=healthy_only,
                    ),
                    models.QueryServiceResponse,
                    timeout,
                )
                info = response.service_info or models.ServiceInfo(name=service, group_name=group)
                snap = _snapshot(info, group, service)
        hosts = [h for h in snap.hosts if h.enabled]
        if clusters:
            hosts = [h for h in hosts if h.cluster_name in clusters]
        if healthy_only:
            hosts = [h for h in hosts if h.healthy]
        return hosts

    async def list_services(
        self, group: str = models.DEFAULT_GROUP, page_no: int = 1, page_size: int = 100, timeout: float | None = None
    ) -> tuple[int, list[str]]:
        response = await self.connection.request(
            models.ServiceListRequest(
                namespace=self._namespace(), group_name=group, page_no=page_no, page_size=page_size
            ),
            models.ServiceListResponse,
            timeout,
        )
        return response.count, list(response.service_names)

    # ----------------------------------------------------------------- redo

    async def _redo(self) -> None:
        """After a (re)connect: registrations first, then subscriptions with fresh data."""
        for key in list(self._ephemeral):
            await self._send_ephemeral(key, None)
            self.metrics.redo_registrations += 1
        for key, instances in list(self._persistent.items()):
            for instance in list(instances.values()):
                await self._send_persistent(key, instance, "registerInstance", None)
                self.metrics.redo_registrations += 1
        for group, service in list(self._subscriptions):
            response = await self.connection.request(
                models.SubscribeServiceRequest(
                    namespace=self._namespace(), service_name=service, group_name=group, subscribe=True
                ),
                models.SubscribeServiceResponse,
            )
            self.metrics.redo_subscriptions += 1
            if response.service_info is not None:
                self._apply((group, service), response.service_info, force=True)


def _same_hosts(a: tuple[models.Instance, ...], b: tuple[models.Instance, ...]) -> bool:
    return a == b
