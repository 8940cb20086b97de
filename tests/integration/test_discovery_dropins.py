"""Every drop-in (requests, httpx, aiohttp, urllib) against real instances in the embedded registry.

Each test runs once per way of calling: module-level functions and sessions/clients, sync and async.
Calls are made one after another, so round robin must spread them exactly evenly.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import json
import threading
import time
import urllib.error
from collections.abc import Callable
from typing import Any

import aiohttp as plain_aiohttp
import httpx as plain_httpx
import pytest
import requests as plain_requests
from test_discovery_support import (  # noqa: F401  (fixtures, registered by import)
    Fleet,
    client_fixture,
    discovery_cache_fixture,
    instance_script_fixture,
    make_fleet_fixture,
    resolver_fixture,
    settings_for,
)

from nacos.auto.discovery import OutlierDetector, Resolver, configure, using
from nacos.auto.discovery.ext import aiohttp as nacos_aiohttp
from nacos.auto.discovery.ext import httpx as nacos_httpx
from nacos.auto.discovery.ext import requests as nacos_requests
from nacos.auto.discovery.ext import urllib as nacos_urllib
from nacos.auto.discovery.routing import ROUTE_HEADER
from nacos.auto.testing import EmbeddedRegistry

Answer = tuple[int, dict[str, Any]]  # status, JSON body


class Driver(abc.ABC):
    """Makes ``count`` calls in a row with one drop-in; returns the answers and the errors raised."""

    name = ""
    connection_error: type[BaseException] = Exception

    @abc.abstractmethod
    def batch(
        self, url: str, count: int, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[list[Answer], list[BaseException]]:
        """Implemented by each drop-in's driver."""


class SyncDriver(Driver):
    @abc.abstractmethod
    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        """Implemented by each drop-in's driver."""

    def batch(
        self, url: str, count: int, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[list[Answer], list[BaseException]]:
        answers: list[Answer] = []
        errors: list[BaseException] = []
        for _ in range(count):
            try:
                answers.append(self.call(url, method, headers or {}))
            except Exception as exc:
                errors.append(exc)
        return answers, errors


class RequestsModule(SyncDriver):
    name, connection_error = "requests.get", plain_requests.ConnectionError

    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        response = nacos_requests.request(method, url, headers=headers, timeout=5)
        return response.status_code, response.json()


class RequestsSession(SyncDriver):
    name, connection_error = "requests.Session", plain_requests.ConnectionError

    def __init__(self) -> None:
        self.session = nacos_requests.Session()

    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        response = self.session.request(method, url, headers=headers, timeout=5)
        return response.status_code, response.json()


class PlainSessionWithAdapter(SyncDriver):
    name, connection_error = "NacosAdapter", plain_requests.ConnectionError

    def __init__(self) -> None:
        self.session = plain_requests.Session()
        self.session.mount("http://", nacos_requests.NacosAdapter())

    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        response = self.session.request(method, url, headers=headers, timeout=5)
        return response.status_code, response.json()


class HttpxModule(SyncDriver):
    name, connection_error = "httpx.get", plain_httpx.ConnectError

    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        response = nacos_httpx.request(method, url, headers=headers, timeout=5)
        return response.status_code, response.json()


class HttpxClient(SyncDriver):
    name, connection_error = "httpx.Client", plain_httpx.ConnectError

    def __init__(self) -> None:
        self.client = nacos_httpx.Client(timeout=5)

    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        response = self.client.request(method, url, headers=headers)
        return response.status_code, response.json()


class UrllibModule(SyncDriver):
    name, connection_error = "urlopen", urllib.error.URLError

    def call(self, url: str, method: str, headers: dict[str, str]) -> Answer:
        request = nacos_urllib.Request(url, method=method, headers=headers)
        try:
            with nacos_urllib.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


class AsyncDriver(Driver):
    @abc.abstractmethod
    async def open(self) -> Any:
        """Implemented by each drop-in's driver."""

    @abc.abstractmethod
    async def acall(self, handle: Any, url: str, method: str, headers: dict[str, str]) -> Answer:
        """Implemented by each drop-in's driver."""

    @abc.abstractmethod
    async def close(self, handle: Any) -> None:
        """Implemented by each drop-in's driver."""

    def batch(
        self, url: str, count: int, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[list[Answer], list[BaseException]]:
        async def run() -> tuple[list[Answer], list[BaseException]]:
            handle = await self.open()
            answers: list[Answer] = []
            errors: list[BaseException] = []
            try:
                for _ in range(count):
                    try:
                        answers.append(await asyncio.wait_for(self.acall(handle, url, method, headers or {}), 10))
                    except Exception as exc:
                        errors.append(exc)
            finally:
                await self.close(handle)
            return answers, errors

        return asyncio.run(run())


class HttpxAsyncClient(AsyncDriver):
    name, connection_error = "httpx.AsyncClient", plain_httpx.ConnectError

    async def open(self) -> Any:
        return nacos_httpx.AsyncClient(timeout=5)

    async def acall(self, handle: Any, url: str, method: str, headers: dict[str, str]) -> Answer:
        response = await handle.request(method, url, headers=headers)
        return response.status_code, response.json()

    async def close(self, handle: Any) -> None:
        await handle.aclose()


class AiohttpSession(AsyncDriver):
    name, connection_error = "aiohttp get_session", plain_aiohttp.ClientConnectionError

    async def open(self) -> Any:
        return nacos_aiohttp.get_session()

    async def acall(self, handle: Any, url: str, method: str, headers: dict[str, str]) -> Answer:
        async with handle.request(method, url, headers=headers) as response:
            return response.status, json.loads(await response.read())

    async def close(self, handle: Any) -> None:
        await handle.close()


DRIVERS: list[Callable[[], Driver]] = [
    RequestsModule,
    RequestsSession,
    PlainSessionWithAdapter,
    HttpxModule,
    HttpxClient,
    HttpxAsyncClient,
    AiohttpSession,
    UrllibModule,
]


@pytest.fixture(params=DRIVERS, ids=lambda make: make.__name__)
def driver(request: pytest.FixtureRequest) -> Driver:
    made: Driver = request.param()
    return made


def spread(answers: list[Answer]) -> collections.Counter[int]:
    assert all(status == 200 for status, _ in answers), answers
    return collections.Counter(body["port"] for _, body in answers)


# --------------------------------------------------------------------------- spreading per strategy


def test_round_robin_spreads_evenly(resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver) -> None:
    fleet = make_fleet(3)
    answers, errors = driver.batch(f"http://{fleet.service}/api/users/1?x=1", 30)
    assert errors == []
    assert sorted(spread(answers).values()) == [10, 10, 10]
    assert {body["path"] for _, body in answers} == {"/api/users/1?x=1"}


@pytest.mark.parametrize("strategy", ["random", "least_outstanding"])
def test_random_strategies_reach_every_instance(
    resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver, strategy: str
) -> None:
    fleet = make_fleet(3)
    with using(strategy=strategy):
        answers, errors = driver.batch(f"http://{fleet.service}/", 90)
    assert errors == []
    assert len(spread(answers)) == 3


def test_weighted_follows_weights(resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver) -> None:
    fleet = make_fleet(0)
    ports = [fleet.start(weight=w) for w in (1, 2, 3)]
    fleet.wait_for(3)
    with using(strategy="weighted"):
        answers, errors = driver.batch(f"http://{fleet.service}/", 60)
    assert errors == []
    counts = spread(answers)
    assert [counts[p] for p in ports] == [10, 20, 30]


def test_strategy_per_service_from_settings(
    registry: EmbeddedRegistry, discovery_cache: Any, make_fleet: Callable[..., Fleet], resolver: Resolver
) -> None:
    fleet = make_fleet(0)
    ports = [fleet.start(weight=w) for w in (1, 3)]
    fleet.wait_for(2)
    configure(
        overrides=settings_for(registry, discovery_cache, **{"discovery.strategies": {fleet.service: "weighted"}})
    )
    answers, errors = RequestsModule().batch(f"http://{fleet.service}/", 40)
    assert errors == []
    counts = spread(answers)
    assert [counts[p] for p in ports] == [10, 30]


# --------------------------------------------------------------------------- failures


def test_killing_an_instance_mid_run_fails_no_get(
    resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver
) -> None:
    fleet = make_fleet(3)
    victim = fleet.instances[0].port
    url = f"http://{fleet.service}/"
    first, errors = driver.batch(url, 30)  # pools hold live connections to all three
    assert errors == [] and spread(first)[victim] == 10
    fleet.kill(victim)
    after, errors = driver.batch(url, 60)
    assert errors == []
    assert len(after) == 60 and victim not in spread(after)


def test_killing_an_instance_under_concurrent_load(resolver: Resolver, make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(3)
    url = f"http://{fleet.service}/"
    results: list[tuple[list[Answer], list[BaseException]]] = []
    started = threading.Barrier(5, timeout=10)

    def worker() -> None:
        started.wait()
        results.append(RequestsModule().batch(url, 150))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.05)
    fleet.kill(fleet.instances[1].port)
    for thread in threads:
        thread.join(60)
    assert [errors for _, errors in results] == [[], [], [], []]
    assert sum(len(answers) for answers, _ in results) == 600


def test_gateway_errors_retry_idempotent_calls_only(
    resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver
) -> None:
    fleet = make_fleet(2)
    bad = fleet.start(fail_with=503)
    fleet.wait_for(3)
    url = f"http://{fleet.service}/"
    answers, errors = driver.batch(url, 12)
    assert errors == [] and {status for status, _ in answers} == {200}
    assert (("127.0.0.1", bad) in resolver.outliers.ejected()) is True  # 3 failures in a row: ejected
    resolver.outliers = OutlierDetector(3, 5.0)  # forget the ejection, so POSTs reach the bad instance again
    posts, errors = driver.batch(url, 3, method="POST")
    assert errors == []
    assert [status for status, _ in posts].count(503) == 1  # not retried: the server may have acted


def test_unknown_service_raises_named_connection_error(resolver: Resolver, driver: Driver) -> None:
    answers, errors = driver.batch("http://no-such-service-xyz/", 1)
    assert answers == [] and len(errors) == 1
    error = errors[0]
    assert isinstance(error, driver.connection_error), type(error).__mro__
    text = str(error)
    assert "no-such-service-xyz" in text and "'public'" in text and "DEFAULT_GROUP" in text


# --------------------------------------------------------------------------- membership changes


def test_new_instance_gets_traffic_within_one_second(
    resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver
) -> None:
    fleet = make_fleet(2)
    url = f"http://{fleet.service}/"
    driver.batch(url, 1)  # subscribed
    port = fleet.start()
    registered = time.monotonic()
    while time.monotonic() - registered < 1.0:
        answers, errors = driver.batch(url, 3)
        assert errors == []
        if port in spread(answers):
            return
    pytest.fail(f"{driver.name}: instance {port} got no call within 1 s of registering")


# --------------------------------------------------------------------------- routing


def test_route_header_picks_canary_instances(
    resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver
) -> None:
    fleet = make_fleet(2)
    canary = fleet.start(metadata={"version": "v2"})
    fleet.wait_for(3)
    answers, errors = driver.batch(f"http://{fleet.service}/", 6, headers={ROUTE_HEADER: "version=v2"})
    assert errors == [] and set(spread(answers)) == {canary}
    answers, errors = driver.batch(f"http://{fleet.service}/", 6, headers={ROUTE_HEADER: "version=v9"})
    assert errors == [] and len(spread(answers)) == 3  # nobody matches: fall back to all


def test_canary_share_from_settings(
    registry: EmbeddedRegistry, discovery_cache: Any, make_fleet: Callable[..., Fleet], resolver: Resolver
) -> None:
    fleet = make_fleet(2)
    canary = fleet.start(metadata={"version": "v2"})
    fleet.wait_for(3)
    for share, expected in (("0", False), ("100", True)):
        overrides = {"discovery.canary": {fleet.service: f"version=v2:{share}"}}
        configure(overrides=settings_for(registry, discovery_cache, **overrides))
        answers, errors = RequestsModule().batch(f"http://{fleet.service}/", 20)
        assert errors == []
        assert (set(spread(answers)) == {canary}) is expected
        assert (canary in spread(answers)) is expected


def test_same_cluster_preferred_with_fallback(
    registry: EmbeddedRegistry, discovery_cache: Any, make_fleet: Callable[..., Fleet], resolver: Resolver
) -> None:
    fleet = make_fleet(0)
    local = fleet.start(cluster="zone-a")
    fleet.start(cluster="zone-b")
    fleet.wait_for(2)
    configure(overrides=settings_for(registry, discovery_cache, **{"service.cluster": "zone-a"}))
    answers, errors = RequestsModule().batch(f"http://{fleet.service}/", 10)
    assert errors == [] and set(spread(answers)) == {local}
    configure(overrides=settings_for(registry, discovery_cache, **{"service.cluster": "zone-c"}))
    answers, errors = RequestsModule().batch(f"http://{fleet.service}/", 10)
    assert errors == [] and len(spread(answers)) == 2


# --------------------------------------------------------------------------- other hosts


def test_ordinary_hosts_are_not_rewritten(resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver) -> None:
    fleet = make_fleet(1)
    port = fleet.instances[0].port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        answers, errors = driver.batch(f"http://{host}/plain?q=1", 1)
        assert errors == [] and answers[0][1]["host"] == host and answers[0][1]["path"] == "/plain?q=1"


def test_resolve_step_leaves_other_urls_untouched(resolver: Resolver, make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(1)
    port = fleet.instances[0].port
    resolvers: list[Callable[[str], str]] = [
        nacos_requests.NacosAdapter().resolve,
        nacos_httpx.NacosTransport().resolve,
        nacos_httpx.AsyncNacosTransport().resolve,
        nacos_aiohttp.NacosMiddleware().resolve,
        nacos_urllib.NacosHandler().resolve,
    ]
    untouched = [
        "https://example.org/a/b?c=d#e",
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://[::1]:80/x",
        "http://api.example.com/x",
    ]
    for resolve in resolvers:
        for url in untouched:
            assert resolve(url) == url
        service_url = f"http://u:p@{fleet.service}:9999/p/q?x=1&y=2#frag"
        assert resolve(service_url) == f"http://u:p@127.0.0.1:{port}/p/q?x=1&y=2#frag"


def test_secure_instances_get_https(resolver: Resolver, make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(0)
    port = fleet.start(metadata={"secure": "true"})
    fleet.wait_for(1)
    assert nacos_requests.NacosAdapter().resolve(f"http://{fleet.service}/x") == f"https://127.0.0.1:{port}/x"


async def _first_call_does_not_block_loop(url: str) -> int:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    async with nacos_httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    done.set()
    await task
    assert response.status_code == 200
    return ticks


def test_async_first_use_subscribes_without_blocking_the_loop(
    resolver: Resolver, make_fleet: Callable[..., Fleet]
) -> None:
    fleet = make_fleet(1)
    ticks = asyncio.run(_first_call_does_not_block_loop(f"http://{fleet.service}/"))
    assert ticks > 0  # the loop ran other tasks while the subscription was in flight


def test_calls_reuse_pooled_connections(resolver: Resolver, make_fleet: Callable[..., Fleet], driver: Driver) -> None:
    fleet = make_fleet(1)
    answers, errors = driver.batch(f"http://{fleet.service}/", 10)
    assert errors == []
    assert len({body["peer"] for _, body in answers}) == 1  # one client port: one kept-alive connection
