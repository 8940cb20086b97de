"""The naming state of the embedded registry: services, the clients that publish instances, subscribers.

As in Nacos 2, every instance is published by a *client*: a gRPC connection (ephemeral instances, gone
when the connection ends), an HTTP ``ip:port`` kept alive by beats (ephemeral), or the persistent store.
A service's instance list is the union of what its clients publish. All methods run on the server's
event loop; nothing here does I/O except through the :class:`~nacos.auto.server.store.Store`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nacos.auto.server.store import Store
from nacos.auto.server.validation import InvalidParameter
from nacos.auto.wire import models

ServiceKey = tuple[str, str, str]  # namespace, group, service
PERSISTENT_CLIENT = "persistent"
EMPTY_SERVICE_TTL = 60.0


def http_client_id(ip: str, port: int) -> str:
    """HTTP-registered ephemeral instances are owned by an ``ip:port`` client, as in Nacos 2."""
    return f"{ip}:{port}#true"


@dataclass(slots=True)
class Beat:
    """Liveness of one HTTP-registered ephemeral instance."""

    last: float
    unhealthy_after: float
    delete_after: float


@dataclass(slots=True)
class Service:
    key: ServiceKey
    ephemeral: bool | None = None  # decided by the first instance registered
    clients: dict[str, tuple[models.Instance, ...]] = field(default_factory=dict)
    subscribers: dict[str, str] = field(default_factory=dict)  # connection id -> clusters
    revision: int = 0
    empty_since: float | None = None

    def instances(self) -> list[models.Instance]:
        return [inst for group in self.clients.values() for inst in group]


def _timeout_ms(instance: models.Instance, key: str, default: int) -> float:
    raw = instance.metadata.get(key)
    return (int(raw) if raw else default) / 1000.0


class NamingRegistry:
    def __init__(self, store: Store, on_change: Callable[[Service], None]) -> None:
        self._store = store
        self._on_change = on_change
        self.services: dict[ServiceKey, Service] = {}
        self._client_services: dict[str, set[ServiceKey]] = {}
        self._subscriptions: dict[str, set[ServiceKey]] = {}
        self._beats: dict[tuple[ServiceKey, str], Beat] = {}
        for namespace, group, name, instance in store.persistent_instances():
            service = self._service((namespace, group, name))
            service.ephemeral = False
            self._publish(service, PERSISTENT_CLIENT, (*service.clients.get(PERSISTENT_CLIENT, ()), instance))

    # ----------------------------------------------------------------- lookup

    def _service(self, key: ServiceKey) -> Service:
        service = self.services.get(key)
        if service is None:
            service = self.services[key] = Service(key, revision=_now_ms(), empty_since=time.monotonic())
        return service

    def get(self, key: ServiceKey) -> Service | None:
        return self.services.get(key)

    def service_info(
        self, key: ServiceKey, clusters: str = "", healthy_only: bool = False, grouped: bool = False
    ) -> models.ServiceInfo:
        """What a client sees of a service; ``grouped`` names it ``group@@service`` as v1 HTTP does."""
        _, group, name = key
        service = self.services.get(key)
        wanted = {c for c in clusters.split(",") if c} if clusters else set()
        hosts = []
        if service is not None:
            for inst in service.instances():
                if not inst.enabled or (wanted and inst.cluster_name not in wanted):
                    continue
                if healthy_only and not inst.healthy:
                    continue
                hosts.append(inst)
        return models.ServiceInfo(
            name=models.grouped_name(group, name) if grouped else name,
            group_name=group,
            clusters=clusters,
            hosts=hosts,
            last_ref_time=service.revision if service else _now_ms(),
        )

    def service_names(self, namespace: str, group: str) -> list[str]:
        return sorted(name for (ns, grp, name), svc in self.services.items() if ns == namespace and grp == group)

    # ----------------------------------------------------------------- publishing

    def _complete(self, key: ServiceKey, instance: models.Instance, ephemeral: bool) -> models.Instance:
        _, group, name = key
        cluster = instance.cluster_name or models.DEFAULT_CLUSTER
        return dataclasses.replace(
            instance,
            cluster_name=cluster,
            ephemeral=ephemeral,
            service_name=models.grouped_name(group, name),
            instance_id=models.instance_id(instance.ip, instance.port, cluster, group, name),
            metadata=dict(instance.metadata),
            instance_heart_beat_interval=int(_timeout_ms(instance, models.HEART_BEAT_INTERVAL_KEY, 5000) * 1000),
            instance_heart_beat_time_out=int(_timeout_ms(instance, models.HEART_BEAT_TIMEOUT_KEY, 15000) * 1000),
            ip_delete_timeout=int(_timeout_ms(instance, models.IP_DELETE_TIMEOUT_KEY, 30000) * 1000),
        )

    def _claim(self, service: Service, ephemeral: bool) -> None:
        if service.ephemeral is None or not service.instances():
            service.ephemeral = ephemeral
        elif service.ephemeral != ephemeral:
            kind = "ephemeral" if service.ephemeral else "persistent"
            other = "ephemeral" if ephemeral else "persistent"
            raise InvalidParameter(
                f"service {service.key[2]!r} in group {service.key[1]!r} is a {kind} service;"
                f" it cannot take {other} instances"
            )

    def _publish(self, service: Service, client: str, instances: tuple[models.Instance, ...]) -> None:
        if instances:
            service.clients[client] = instances
            self._client_services.setdefault(client, set()).add(service.key)
        else:
            service.clients.pop(client, None)
            owned = self._client_services.get(client)
            if owned is not None:
                owned.discard(service.key)
                if not owned:
                    del self._client_services[client]
        service.empty_since = None if service.clients or service.subscribers else time.monotonic()
        self._changed(service)

    def _changed(self, service: Service) -> None:
        service.revision = max(_now_ms(), service.revision + 1)
        self._on_change(service)

    def register_ephemeral(self, key: ServiceKey, client: str, instances: Iterable[models.Instance]) -> None:
        """Replace what ``client`` publishes for the service (one instance, or a batch)."""
        service = self._service(key)
        self._claim(service, True)
        self._publish(service, client, tuple(self._complete(key, inst, True) for inst in instances))

    def deregister_ephemeral(self, key: ServiceKey, client: str, instance: models.Instance | None) -> None:
        service = self.services.get(key)
        if service is None or client not in service.clients:
            return
        if instance is None:
            remaining: tuple[models.Instance, ...] = ()
        else:
            cluster = instance.cluster_name or models.DEFAULT_CLUSTER
            remaining = tuple(
                inst
                for inst in service.clients[client]
                if (inst.ip, inst.port, inst.cluster_name) != (instance.ip, instance.port, cluster)
            )
            if len(remaining) == len(service.clients[client]) and client != http_client_id(instance.ip, instance.port):
                remaining = ()  # a gRPC client owns one registration per service: drop it whatever its ip
        self._publish(service, client, remaining)

    def register_persistent(self, key: ServiceKey, instance: models.Instance) -> None:
        service = self._service(key)
        self._claim(service, False)
        done = self._complete(key, instance, False)
        kept = tuple(
            inst
            for inst in service.clients.get(PERSISTENT_CLIENT, ())
            if (inst.ip, inst.port, inst.cluster_name) != (done.ip, done.port, done.cluster_name)
        )
        self._store.save_instance(*key, done)
        self._publish(service, PERSISTENT_CLIENT, (*kept, done))

    def deregister_persistent(self, key: ServiceKey, instance: models.Instance) -> bool:
        service = self.services.get(key)
        if service is None:
            return False
        cluster = instance.cluster_name or models.DEFAULT_CLUSTER
        current = service.clients.get(PERSISTENT_CLIENT, ())
        kept = tuple(i for i in current if (i.ip, i.port, i.cluster_name) != (instance.ip, instance.port, cluster))
        if len(kept) == len(current):
            return False
        self._store.delete_instance(*key, dataclasses.replace(instance, cluster_name=cluster))
        self._publish(service, PERSISTENT_CLIENT, kept)
        return True

    def update_instance(self, key: ServiceKey, instance: models.Instance) -> bool:
        """Change weight, enabled and metadata of a registered instance, wherever it is published."""
        service = self.services.get(key)
        if service is None:
            return False
        cluster = instance.cluster_name or models.DEFAULT_CLUSTER
        for client, group in service.clients.items():
            for pos, inst in enumerate(group):
                if (inst.ip, inst.port, inst.cluster_name) == (instance.ip, instance.port, cluster):
                    updated = dataclasses.replace(
                        inst,
                        weight=instance.weight,
                        enabled=instance.enabled,
                        metadata={**inst.metadata, **instance.metadata},
                    )
                    if client == PERSISTENT_CLIENT:
                        self._store.save_instance(*key, updated)
                    self._publish(service, client, (*group[:pos], updated, *group[pos + 1 :]))
                    return True
        return False

    def remove_client(self, client: str) -> None:
        """A connection ended: everything it published goes, at once."""
        for key in self._client_services.pop(client, set()):
            service = self.services.get(key)
            if service is not None and client in service.clients:
                del service.clients[client]
                service.empty_since = None if service.clients or service.subscribers else time.monotonic()
                self._changed(service)
        for key in self._subscriptions.pop(client, set()):
            service = self.services.get(key)
            if service is not None:
                service.subscribers.pop(client, None)

    # ----------------------------------------------------------------- HTTP beats

    def beat(self, key: ServiceKey, instance: models.Instance | None, ip: str, port: int, cluster: str) -> bool:
        """Record a beat; a beat carrying an instance body re-registers it when unknown (as Nacos does)."""
        client = http_client_id(ip, port)
        service = self.services.get(key)
        known = service is not None and any(inst.cluster_name == cluster for inst in service.clients.get(client, ()))
        if not known:
            if instance is None:
                return False
            self.register_http(key, instance)
            return True
        assert service is not None
        state = self._beats.get((key, client))
        if state is not None:
            state.last = time.monotonic()
        group = service.clients[client]
        if any(not inst.healthy for inst in group):
            self._publish(service, client, tuple(dataclasses.replace(i, healthy=True) for i in group))
        return True

    def register_http(self, key: ServiceKey, instance: models.Instance) -> None:
        client = http_client_id(instance.ip, instance.port)
        if not instance.ephemeral:
            self.register_persistent(key, instance)
            return
        service = self._service(key)
        self._claim(service, True)
        done = self._complete(key, instance, True)
        kept = tuple(i for i in service.clients.get(client, ()) if i.cluster_name != done.cluster_name)
        self._beats[(key, client)] = Beat(
            last=time.monotonic(),
            unhealthy_after=done.instance_heart_beat_time_out / 1000.0,
            delete_after=done.ip_delete_timeout / 1000.0,
        )
        self._publish(service, client, (*kept, done))

    def expire_beats(self, now: float) -> None:
        """Turn silent HTTP instances unhealthy, then remove them (15 s / 30 s by default)."""
        for (key, client), state in list(self._beats.items()):
            service = self.services.get(key)
            group = service.clients.get(client) if service else None
            if service is None or not group:
                del self._beats[(key, client)]
                continue
            silent = now - state.last
            if silent > state.delete_after:
                del self._beats[(key, client)]
                self._publish(service, client, ())
            elif silent > state.unhealthy_after and any(inst.healthy for inst in group):
                self._publish(service, client, tuple(dataclasses.replace(i, healthy=False) for i in group))

    def expire_empty_services(self, now: float) -> None:
        for key, service in list(self.services.items()):
            if service.empty_since is not None and now - service.empty_since > EMPTY_SERVICE_TTL:
                del self.services[key]

    # ----------------------------------------------------------------- subscriptions

    def subscribe(self, key: ServiceKey, connection: str, clusters: str) -> Service:
        service = self._service(key)
        service.subscribers[connection] = clusters
        service.empty_since = None
        self._subscriptions.setdefault(connection, set()).add(key)
        return service

    def unsubscribe(self, key: ServiceKey, connection: str) -> None:
        service = self.services.get(key)
        if service is not None:
            service.subscribers.pop(connection, None)
            if not service.clients and not service.subscribers:
                service.empty_since = time.monotonic()
        owned = self._subscriptions.get(connection)
        if owned is not None:
            owned.discard(key)

    def instance_count(self) -> int:
        return sum(len(group) for svc in self.services.values() for group in svc.clients.values())


def _now_ms() -> int:
    return int(time.time() * 1000)
