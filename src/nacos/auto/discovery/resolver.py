"""Turn ``http://user-service/path`` into ``http://10.0.0.5:8000/path``, or leave the URL alone.

Which hosts are services: a single-label name (no dot) other than ``localhost``; a dotted name only
when listed in ``discovery.services`` or ending with one of ``discovery.suffixes`` (the suffix is
dropped: ``user-service.svc`` -> ``user-service``). IP literals, ``localhost`` and every other host pass
through untouched. Path, query, fragment and userinfo are kept; the scheme becomes ``https`` when the
instance's metadata says ``secure=true``.

The hot path (:meth:`Resolver.resolve` for a service already subscribed) does no I/O and takes no
lock: a parse cache hit, the client's immutable snapshot, a :class:`Pool` cached by snapshot identity,
a balancer pick and one f-string. The first call for a service subscribes once: the sync path waits at
most ``discovery.subscribe_timeout``; the async path awaits the client without blocking its loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import random
import threading
import weakref
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from nacos.auto.client import Instance, NacosClient, ServiceSnapshot
from nacos.auto.discovery.balancer import STRATEGIES, Balancer
from nacos.auto.discovery.errors import NoAvailableInstanceError
from nacos.auto.discovery.outlier import OutlierDetector
from nacos.auto.discovery.retry import Attempts, RetryBudget, RetryPolicy
from nacos.auto.discovery.routing import Canary, Candidates, Pool, as_match, canaries

if TYPE_CHECKING:
    from nacos.auto.settings import NacosSettings

MAX_CACHED_URLS = 4096
PASS = None  # what the URL cache stores for a URL that is not a service URL

Route = str | Mapping[str, str] | None


class Target:
    """A parsed service URL: everything but the host, which the chosen instance replaces.

    It also caches the hot path for its URL: ``picks`` (one ready :class:`Resolution` per slot of the
    strategy's cycle) valid while ``generation`` equals the resolver's, and the counter that walks them.
    """

    __slots__ = ("generation", "picks", "scheme", "service", "spin", "tail", "userinfo")

    def __init__(self, service: str, scheme: str, userinfo: str, tail: str) -> None:
        self.service = service
        self.scheme = scheme
        self.userinfo = userinfo  # "user:pass@" or ""
        self.tail = tail  # path, query and fragment, as given
        self.generation = -1
        self.picks: tuple[Resolution, ...] = ()
        self.spin: itertools.count[int] | None = None  # None: pick at random

    def url_for(self, instance: Instance) -> str:
        scheme = "https" if instance.metadata.get("secure") == "true" else self.scheme
        ip = instance.ip
        if ":" in ip:
            ip = f"[{ip}]"
        return f"{scheme}://{self.userinfo}{ip}:{instance.port}{self.tail}"


class Resolution:
    """The chosen instance (and, for whole URLs, the rewritten URL); report the outcome with :meth:`Resolver.report`."""

    __slots__ = ("counted", "instance", "service", "url")

    def __init__(self, url: str, service: str, instance: Instance, counted: bool) -> None:
        self.url = url
        self.service = service
        self.instance = instance
        self.counted = counted  # in-flight counted (least_outstanding): released by report()

    @property
    def key(self) -> tuple[str, int]:
        return self.instance.ip, self.instance.port


class Resolver:
    """Service URL resolution for one process and one Nacos configuration (see :func:`shared_resolver`)."""

    def __init__(self, settings: NacosSettings, client: NacosClient | None = None) -> None:
        discovery = settings.discovery
        self.settings = settings
        self.namespace = settings.namespace
        self.group = settings.group
        self.subscribe_timeout = discovery.subscribe_timeout
        self.strategy = discovery.strategy
        self.strategies = dict(discovery.strategies)
        for service, strategy in {"": self.strategy, **self.strategies}.items():
            if strategy not in STRATEGIES:
                where = f"discovery.strategies.{service}" if service else "discovery.strategy"
                raise ValueError(f"{where}: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
        self.services = frozenset(discovery.services)
        self.suffixes = tuple(s if s.startswith(".") else "." + s for s in discovery.suffixes)
        self.canaries: dict[str, Canary] = canaries(discovery.canary)
        self.cluster = settings.service.cluster
        self.zone = settings.service.metadata.get("zone")
        self.prefer_same_cluster = discovery.prefer_same_cluster
        self.balancer = Balancer()
        self.generation = 0  # bumped on every snapshot or ejection change: invalidates Target fast paths
        self._generation_lock = threading.Lock()
        self.outliers = OutlierDetector(
            discovery.outlier_failures, discovery.outlier_base_ejection_seconds, on_change=self.invalidate
        )
        self.retry = RetryPolicy(
            retries=discovery.retries,
            retry_on_status=frozenset(discovery.retry_on_status),
            retry_non_idempotent=discovery.retry_non_idempotent,
            budget=RetryBudget(),
        )
        self._client = client
        self._client_lock = threading.Lock()
        self._targets: dict[str, Target | None] = {}
        self._pools: dict[str, Pool] = {}
        self._snapshots: dict[str, ServiceSnapshot] = {}  # kept current by our subscription callbacks
        self._watches: dict[str, concurrent.futures.Future[ServiceSnapshot]] = {}
        self._watch_lock = threading.Lock()
        _resolvers.add(self)

    # ----------------------------------------------------------------- the Nacos client

    @property
    def client(self) -> NacosClient:
        """The process-wide client for these settings, created on first use (never at import)."""
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    client = self._client = NacosClient.shared(self.settings.client_options())
        return client

    # ----------------------------------------------------------------- which hosts are services

    def service_for_host(self, host: str) -> str | None:
        """The service a URL host names, or None when the host must be left alone."""
        if not host or host == "localhost" or host.startswith("["):
            return None
        if "." not in host:
            return None if host.isdigit() else host
        if host in self.services:
            return host
        for suffix in self.suffixes:
            if host.endswith(suffix) and len(host) > len(suffix):
                return host[: -len(suffix)]
        return None

    def target(self, url: str) -> Target | None:
        """The parsed service URL, or None for URLs that pass through (cached by URL text)."""
        try:
            return self._targets[url]
        except KeyError:
            pass
        found = self._parse(url)
        if len(self._targets) >= MAX_CACHED_URLS:
            self._targets.clear()
        self._targets[url] = found
        return found

    def _parse(self, url: str) -> Target | None:
        scheme, sep, rest = url.partition("://")
        lowered = scheme.lower()
        if not sep or lowered not in ("http", "https"):
            return PASS
        end = len(rest)
        for mark in "/?#":
            index = rest.find(mark, 0, end)
            if index >= 0:
                end = index
        authority, tail = rest[:end], rest[end:]
        userinfo, at, hostport = authority.rpartition("@")
        if hostport.startswith("["):
            return PASS
        host = hostport.partition(":")[0]
        service = self.service_for_host(host)
        if service is None:
            return PASS
        return Target(service, lowered, userinfo + at, tail)

    # ----------------------------------------------------------------- choosing an instance

    def strategy_for(self, service: str, strategy: str | None = None) -> str:
        if strategy is not None:
            if strategy not in STRATEGIES:
                raise ValueError(
                    f"unknown load-balancing strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}"
                )
            return strategy
        return self.strategies.get(service, self.strategy)

    def choose(
        self,
        service: str,
        snapshot: ServiceSnapshot,
        *,
        strategy: str | None = None,
        route: Route = None,
        exclude: Collection[tuple[str, int]] = (),
    ) -> Instance:
        """Pick an instance of ``snapshot`` for one call (no I/O); raise when there is none."""
        pool = self._pool(service, snapshot)
        candidates = self._route(service, pool, route)
        if not candidates.hosts:
            reason = "no instances registered" if not snapshot.hosts else "no enabled instance"
            raise self.unavailable(service, reason)
        if exclude:
            rest = tuple(h for h in candidates.hosts if (h.ip, h.port) not in exclude)
            if not rest:
                rest = tuple(h for h in pool.all.hosts if (h.ip, h.port) not in exclude)
            if rest:  # every instance tried already: try again among all rather than fail
                candidates = Candidates(rest)
        return self.balancer.choose(service, candidates, self.strategy_for(service, strategy))

    def _pool(self, service: str, snapshot: ServiceSnapshot) -> Pool:
        pool = self._pools.get(service)
        outliers = self.outliers
        ejected = outliers.ejected()  # first: it may expire ejections, which moves the epoch
        epoch = outliers.epoch
        if pool is None or pool.snapshot is not snapshot or pool.epoch != epoch:
            pool = self._pools[service] = Pool(
                snapshot, epoch, ejected, self.cluster, self.zone, self.prefer_same_cluster
            )
        return pool

    def _route(self, service: str, pool: Pool, route: Route) -> Candidates:
        if route is not None:
            match = as_match(route)
            if match:
                return pool.routed(match)
        canary = self.canaries.get(service)
        if canary is None:
            return pool.all
        return pool.routed(canary.match, random.random() * 100.0 < canary.percent)

    def unavailable(self, service: str, reason: str) -> NoAvailableInstanceError:
        return NoAvailableInstanceError(service, self.namespace, self.group, reason)

    # ----------------------------------------------------------------- snapshots (subscribing once)

    def invalidate(self) -> None:
        """Drop every cached fast path (a snapshot or the ejected set changed)."""
        with self._generation_lock:
            self.generation += 1

    def reset_outliers(self) -> None:
        """Forget every failure streak and ejection (e.g. after fixing the instances by hand)."""
        self.outliers = OutlierDetector(self.outliers.failures, self.outliers.base_seconds, self.invalidate)
        self.invalidate()

    def _refresh(self, service: str) -> None:
        """Take the client's current snapshot: called from our subscription callback and once subscribed.

        Reading the client's latest (rather than the callback's argument) keeps us right whatever the
        order in which callbacks and the first subscribe answer arrive.
        """
        latest = self.client.cached_service(service, self.group)
        if latest is not None and self._snapshots.get(service) is not latest:
            self._snapshots[service] = latest
            self.invalidate()

    def _watch(self, service: str) -> concurrent.futures.Future[ServiceSnapshot]:
        """Subscribe (once per service) with a callback that keeps ``_snapshots`` current."""
        with self._watch_lock:
            future = self._watches.get(service)
            if future is None or (future.done() and (future.cancelled() or future.exception() is not None)):
                future = self._watches[service] = _subscriber().submit(self._subscribe, service)
            return future

    def _subscribe(self, service: str) -> ServiceSnapshot:
        snapshot = self.client.subscribe(service, callback=_Watcher(self, service), group=self.group)
        self._refresh(service)
        return self._snapshots.get(service) or snapshot

    def _cached(self, service: str) -> ServiceSnapshot | None:
        """A snapshot the client already holds (someone else subscribed): usable while our watch starts."""
        cached = self.client.cached_service(service, self.group)
        if cached is not None:
            cached = self._snapshots.setdefault(service, cached)
        return cached

    def snapshot(self, service: str) -> ServiceSnapshot:
        """The service's current snapshot; the first call subscribes, waiting at most subscribe_timeout."""
        found = self._snapshots.get(service)
        if found is not None:
            return found
        future = self._watch(service)
        cached = self._cached(service)
        if cached is not None:
            return cached
        try:
            return future.result(self.subscribe_timeout)
        except concurrent.futures.TimeoutError:
            raise self._slow(service) from None
        except Exception as exc:
            raise self._failed(service, exc) from exc

    async def asnapshot(self, service: str) -> ServiceSnapshot:
        """Like :meth:`snapshot`, but waits on the caller's loop instead of blocking it."""
        found = self._snapshots.get(service)
        if found is not None:
            return found
        future = self._watch(service)
        cached = self._cached(service)
        if cached is not None:
            return cached
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.subscribe_timeout)
        except asyncio.TimeoutError:
            raise self._slow(service) from None
        except Exception as exc:
            raise self._failed(service, exc) from exc

    def _slow(self, service: str) -> NoAvailableInstanceError:
        return self.unavailable(
            service, f"subscribing via Nacos at {self.settings.server} took longer than {self.subscribe_timeout}s"
        )

    def _failed(self, service: str, error: Exception) -> NoAvailableInstanceError:
        return self.unavailable(service, f"cannot subscribe via Nacos at {self.settings.server}: {error}")

    # ----------------------------------------------------------------- whole URLs

    def resolve(
        self,
        url: str,
        *,
        strategy: str | None = None,
        route: Route = None,
        exclude: Collection[tuple[str, int]] = (),
    ) -> Resolution | None:
        """The rewritten URL and chosen instance, or None when ``url`` is not a service URL.

        The fast path (a URL seen before, nothing changed since, default options): no lock, no I/O, no
        allocation; one dict lookup, two comparisons and an index into precomputed resolutions.
        """
        target = self._targets.get(url)
        if (
            target is not None
            and target.generation == self.generation
            and strategy is None
            and route is None
            and not exclude
        ):
            picks = target.picks
            spin = target.spin
            if spin is None:
                return picks[int(random.random() * len(picks))]
            return picks[next(spin) % len(picks)]
        return self._resolve(url, target, strategy, route, exclude)

    def _resolve(
        self,
        url: str,
        target: Target | None,
        strategy: str | None,
        route: Route,
        exclude: Collection[tuple[str, int]],
    ) -> Resolution | None:
        if target is None:
            target = self.target(url)
            if target is None:
                return None
        snapshot = self.snapshot(target.service)
        if strategy is None and route is None and not exclude and self._prepare(target, snapshot):
            return self.resolve(url)
        return self.resolve_target(target, snapshot, strategy, route, exclude)

    def _prepare(self, target: Target, snapshot: ServiceSnapshot) -> bool:
        """Precompute ``target``'s fast path, when its service's options allow one."""
        generation = self.generation  # read first: a change during the build makes the result stale
        service = target.service
        strategy = self.strategies.get(service, self.strategy)
        if strategy == "least_outstanding" or service in self.canaries or self.outliers.ejected():
            return False
        if self._snapshots.get(service) is not snapshot:
            return False
        pool = self._pool(service, snapshot)
        hosts = pool.all.hosts
        if not hosts:
            return False
        ready = {id(h): Resolution(target.url_for(h), service, h, False) for h in hosts}
        cycle = pool.all.weighted_cycle() if strategy == "weighted" else hosts
        target.picks = tuple(ready[id(h)] for h in cycle)
        target.spin = None if strategy == "random" else self.balancer.counter(service)
        target.generation = generation
        return True

    async def aresolve(
        self,
        url: str,
        *,
        strategy: str | None = None,
        route: Route = None,
        exclude: Collection[tuple[str, int]] = (),
    ) -> Resolution | None:
        """:meth:`resolve` for coroutines: a first subscription is awaited, not waited for."""
        target = self.target(url)
        if target is None:
            return None
        if target.service not in self._snapshots:
            await self.asnapshot(target.service)
        return self.resolve(url, strategy=strategy, route=route, exclude=exclude)

    def attempts(
        self, chosen: Resolution, url: str, method: str, strategy: str | None = None, route: Route = None
    ) -> Attempts:
        """The retry state of a call that starts on ``chosen`` (see :class:`~.retry.Attempts`)."""
        return Attempts(
            chosen,
            method,
            self.retry,
            self.report,
            lambda tried: self.resolve(url, strategy=strategy, route=route, exclude=tried),
        )

    def resolve_target(
        self,
        target: Target,
        snapshot: ServiceSnapshot,
        strategy: str | None = None,
        route: Route = None,
        exclude: Collection[tuple[str, int]] = (),
    ) -> Resolution:
        picked = self.pick(target.service, snapshot, strategy, route, exclude)
        picked.url = target.url_for(picked.instance)
        return picked

    def pick(
        self,
        service: str,
        snapshot: ServiceSnapshot,
        strategy: str | None = None,
        route: Route = None,
        exclude: Collection[tuple[str, int]] = (),
    ) -> Resolution:
        """Choose an instance for one call (``url`` left empty: the caller rewrites its own URL type)."""
        instance = self.choose(service, snapshot, strategy=strategy, route=route, exclude=exclude)
        counted = self.strategy_for(service, strategy) == "least_outstanding"
        if counted:
            self.balancer.started(instance)
        return Resolution("", service, instance, counted)

    def rewrite(self, url: str) -> str:
        """``url`` with a service host replaced by a live instance (unchanged for other hosts)."""
        resolution = self.resolve(url)
        return url if resolution is None else resolution.url

    # ----------------------------------------------------------------- outcomes

    def report(self, resolution: Resolution, ok: bool) -> None:
        """Say how a call to ``resolution.instance`` went: feeds outlier ejection and in-flight counts."""
        instance = resolution.instance
        if resolution.counted:
            resolution.counted = False
            self.balancer.finished(instance)
        if ok:
            self.outliers.record_success((instance.ip, instance.port))
        else:
            self.outliers.record_failure((instance.ip, instance.port))


class _Watcher:
    """The subscription callback: refreshes the resolver's snapshot (held weakly: resolvers get replaced)."""

    def __init__(self, resolver: Resolver, service: str) -> None:
        self._resolver = weakref.ref(resolver)
        self._service = service

    def __call__(self, _snapshot: ServiceSnapshot) -> None:
        resolver = self._resolver()
        if resolver is not None:
            resolver._refresh(self._service)


_resolvers: weakref.WeakSet[Resolver] = weakref.WeakSet()
_subscriber_pool: concurrent.futures.ThreadPoolExecutor | None = None
_subscriber_lock = threading.Lock()


def _forget_subscriber_pool() -> None:
    """After fork: the parent's subscriptions and threads are gone, so every resolver starts over."""
    global _subscriber_pool, _subscriber_lock
    for resolver in list(_resolvers):
        resolver._snapshots = {}
        resolver._watches = {}
        resolver._watch_lock = threading.Lock()
        resolver._generation_lock = threading.Lock()
        resolver.generation += 1
    _subscriber_pool = None  # its threads did not survive the fork
    _subscriber_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_subscriber_pool)


def _subscriber() -> concurrent.futures.ThreadPoolExecutor:
    """Threads that run first subscriptions, so a sync caller can stop waiting at subscribe_timeout."""
    global _subscriber_pool
    with _subscriber_lock:
        if _subscriber_pool is None:
            _subscriber_pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="nacos-discovery")
        return _subscriber_pool
