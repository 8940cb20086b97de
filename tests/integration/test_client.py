"""The client core against the embedded registry subprocess: sync, async, threads, outages, forks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.client import (
    AuthenticationError,
    ClientOptions,
    ConfigConflictError,
    Instance,
    NacosClient,
    NacosUnavailableError,
    ServiceSnapshot,
)
from nacos.auto.testing import EmbeddedRegistry
from nacos.auto.wire.util import content_md5

from sdk_scenarios import unique


def options(registry: EmbeddedRegistry | str, cache: Path, **extra: Any) -> ClientOptions:
    server = registry if isinstance(registry, str) else registry.http_address
    return ClientOptions(server=server, cache_dir=str(cache), **extra)


@pytest.fixture
def client(registry: EmbeddedRegistry, tmp_path: Path) -> Iterator[NacosClient]:
    with NacosClient(options(registry, tmp_path / "cache")) as made:
        yield made


def eventually(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def http_get(registry: EmbeddedRegistry, path: str, **params: str) -> Any:
    url = f"{registry.base_url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = answer.read().decode()
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body


def http_post(registry: EmbeddedRegistry, path: str, **params: str) -> None:
    data = urllib.parse.urlencode(params).encode()
    with urllib.request.urlopen(f"{registry.base_url}{path}", data, timeout=5):
        pass


def ports_of(snapshot: ServiceSnapshot | None) -> set[int]:
    return {h.port for h in snapshot.hosts} if snapshot else set()


def registry_ports(registry: EmbeddedRegistry, service: str) -> set[int]:
    return {h["port"] for h in http_get(registry, "/v1/ns/instance/list", serviceName=service)["hosts"]}


# --------------------------------------------------------------------------- sync, async, threads


def test_sync_register_subscribe_push_and_config(client: NacosClient) -> None:
    service, data_id = unique("sync"), unique("sync") + ".yaml"
    seen: list[set[int]] = []
    first = client.subscribe(service, callback=lambda snap: seen.append(ports_of(snap)))
    assert first.hosts == ()
    client.register_instance(service, Instance(ip="10.9.0.1", port=1, metadata={"v": "1"}))
    client.register_instance(service, Instance(ip="10.9.0.1", port=2))  # a second instance: a batch
    eventually(lambda: ports_of(client.cached_service(service)) == {1, 2}, 5, "both instances cached")
    eventually(lambda: bool(seen) and seen[-1] == {1, 2}, 5, "a callback with both instances")
    client.update_instance(service, Instance(ip="10.9.0.1", port=1, weight=3.0, metadata={"v": "2"}))
    eventually(
        lambda: any(h.weight == 3.0 for h in client.cached_service(service).hosts),  # type: ignore[union-attr]
        5,
        "the weight update",
    )
    client.deregister_instance(service, Instance(ip="10.9.0.1", port=2))
    eventually(lambda: ports_of(client.cached_service(service)) == {1}, 5, "the deregistration")
    assert [i.port for i in client.list_instances(service)] == [1]
    assert service in client.list_services(page_size=1000)[1]

    changes: list[str | None] = []
    assert client.get_config(data_id) is None
    client.publish_config(data_id, "a: 1", config_type="yaml")
    assert client.add_config_listener(data_id, lambda d, g, content: changes.append(content)) == "a: 1"
    client.publish_config(data_id, "a: 2")
    eventually(lambda: changes == ["a: 2"], 5, "the config listener")
    with pytest.raises(ConfigConflictError):
        client.publish_config(data_id, "a: 3", cas_md5=content_md5("a: 1"))
    client.publish_config(data_id, "a: 3", cas_md5=content_md5("a: 2"))
    eventually(lambda: changes[-1:] == ["a: 3"], 5, "the CAS publish to reach the listener")
    client.remove_config(data_id)
    eventually(lambda: changes[-1:] == [None], 5, "the removal to reach the listener")
    assert changes == ["a: 2", "a: 3", None]


def test_async_api_from_another_loop(client: NacosClient) -> None:
    service, data_id = unique("async"), unique("async")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        heard: list[tuple[set[int], bool]] = []
        got: asyncio.Queue[str | None] = asyncio.Queue()

        async def on_service(snap: ServiceSnapshot) -> None:
            heard.append((ports_of(snap), asyncio.get_running_loop() is loop))

        async def on_config(data: str, group: str, content: str | None) -> None:
            await got.put(content)

        await client.aio.subscribe(service, on_service)
        await client.aio.register_instance(service, Instance(ip="10.9.1.1", port=7))
        await client.aio.publish_config(data_id, "x")
        await client.aio.add_config_listener(data_id, on_config)
        await client.aio.publish_config(data_id, "y")
        assert await asyncio.wait_for(got.get(), 5) == "y"
        for _ in range(250):
            if heard and heard[-1][0] == {7}:
                break
            await asyncio.sleep(0.02)
        assert heard[-1] == ({7}, True), "async callbacks run on the loop that subscribed"
        assert [i.port for i in await client.aio.list_instances(service)] == [7]
        assert await client.aio.get_config(data_id) == "y"

    asyncio.run(scenario())


def test_sixteen_threads_hammering_naming_and_config(client: NacosClient) -> None:
    service = unique("threads")
    data_id = unique("threads")
    client.subscribe(service)
    client.publish_config(data_id, "0")

    def work(n: int) -> None:
        for round_ in range(5):
            client.register_instance(service, Instance(ip="10.9.2.1", port=1000 + n))
            assert client.cached_service(service) is not None
            client.publish_config(f"{data_id}-{n}", f"{round_}")
            assert client.get_config(f"{data_id}-{n}") == f"{round_}"
            client.list_instances(service)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    expected = {1000 + n for n in range(16)}
    eventually(lambda: ports_of(client.cached_service(service)) == expected, 5, "all 16 registrations")


# --------------------------------------------------------------------------- outages


def test_registry_kill_and_restart_restores_everything(tmp_path: Path) -> None:
    service, data_id = unique("outage"), unique("outage")
    registry = EmbeddedRegistry(data_dir=tmp_path / "data").start()
    try:
        with (
            NacosClient(options(registry, tmp_path / "a", timeout=2.0)) as owner,
            NacosClient(options(registry, tmp_path / "b", timeout=2.0)) as watcher,
        ):
            owner.register_instance(service, Instance(ip="10.9.3.1", port=31))
            pushed: list[set[int]] = []
            watcher.subscribe(service, callback=lambda snap: pushed.append(ports_of(snap)))
            eventually(lambda: ports_of(watcher.cached_service(service)) == {31}, 5, "the instance")
            watcher.publish_config(data_id, "v1")
            heard: list[str | None] = []
            watcher.add_config_listener(data_id, lambda d, g, c: heard.append(c))

            registry.kill()
            # During the outage, cached lookups keep answering.
            time.sleep(0.5)
            assert ports_of(watcher.cached_service(service)) == {31}
            assert [i.port for i in watcher.list_instances(service)] == [31]

            registry.restart()
            back = time.monotonic()
            eventually(lambda: registry_ports(registry, service) == {31}, 5, "the registration redone")
            http_post(registry, "/v1/ns/instance", serviceName=service, ip="10.9.3.2", port="32")
            eventually(lambda: ports_of(watcher.cached_service(service)) == {31, 32}, 5, "a push after restart")
            http_post(registry, "/v1/cs/configs", dataId=data_id, group="DEFAULT_GROUP", content="v2")
            eventually(lambda: heard[-1:] == ["v2"], 5, "the config listener after restart")
            assert time.monotonic() - back < 5.0
            assert watcher.status()["naming"]["reconnects"] >= 1
            assert owner.status()["metrics"]["redo"]["registrations"] >= 1
    finally:
        registry.stop()


def test_start_while_registry_down_serves_snapshot_then_recovers(tmp_path: Path) -> None:
    service, data_id = unique("cold"), unique("cold")
    cache = tmp_path / "cache"
    registry = EmbeddedRegistry().start()
    try:
        http_post(registry, "/v1/ns/instance", serviceName=service, ip="10.9.4.1", port="41")
        http_post(registry, "/v1/cs/configs", dataId=data_id, group="DEFAULT_GROUP", content="cached: yes")
        with NacosClient(options(registry, cache)) as first:
            assert ports_of(first.subscribe(service)) == {41}
            assert first.get_config(data_id) == "cached: yes"
        registry.stop()

        with NacosClient(options(registry.http_address, cache, timeout=1.0)) as cold:
            snap = cold.subscribe(service)
            assert snap.from_snapshot and ports_of(snap) == {41}
            assert cold.get_config(data_id) == "cached: yes"

            registry.restart()  # a fresh in-memory registry on the same port
            http_post(registry, "/v1/ns/instance", serviceName=service, ip="10.9.4.2", port="42")
            eventually(lambda: ports_of(cold.cached_service(service)) == {42}, 8, "live data replacing the snapshot")
            assert not cold.cached_service(service).from_snapshot  # type: ignore[union-attr]
    finally:
        registry.stop()


def test_unreachable_without_snapshot_fails_within_timeout(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with NacosClient(options(f"127.0.0.1:{port}", tmp_path, timeout=1.0)) as lonely:
        started = time.monotonic()
        with pytest.raises(NacosUnavailableError, match=f"127.0.0.1:{port}"):
            lonely.subscribe("nowhere")
        assert time.monotonic() - started < 2.5
        with pytest.raises(NacosUnavailableError):
            lonely.get_config("nothing")
        assert time.monotonic() - started < 5.0


def test_wrong_password_raises_authentication_error(tmp_path: Path) -> None:
    with EmbeddedRegistry(auth="admin:right") as secured:
        opts = options(secured, tmp_path / "bad", username="admin", password="pa55-guess")
        with NacosClient(opts) as denied:
            started = time.monotonic()
            with pytest.raises(AuthenticationError) as caught:
                denied.register_instance("svc", Instance(ip="10.9.5.1", port=1))
            assert secured.http_address in str(caught.value) and "'admin'" in str(caught.value)
            assert "pa55-guess" not in str(caught.value)  # secrets never appear in errors
            assert time.monotonic() - started < 3.0
        with NacosClient(options(secured, tmp_path / "good", username="admin", password="right")) as allowed:
            allowed.register_instance("svc", Instance(ip="10.9.5.1", port=1))
            assert [i.port for i in allowed.list_instances("svc")] == [1]
            assert allowed.status()["metrics"]["logins"] >= 1


# --------------------------------------------------------------------------- fork


def _child_work(server: str, cache: str, service: str, port: int) -> None:
    child = NacosClient.shared(ClientOptions(server=server, cache_dir=cache))
    child.register_instance(service, Instance(ip="10.9.6.1", port=port))
    assert port in {i.port for i in child.list_instances(service, subscribe=False)}
    child.close()


def test_forked_children_get_working_clients(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    service = unique("fork")
    opts = options(registry, tmp_path)
    parent = NacosClient.shared(opts)
    parent.register_instance(service, Instance(ip="10.9.6.1", port=1))
    parent.subscribe(service)

    pid = os.fork()
    if pid == 0:  # the child: exit code tells the parent what happened
        code = 1
        try:
            _child_work(registry.http_address, str(tmp_path), service, 2)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0

    context = multiprocessing.get_context("fork")
    worker = context.Process(target=_child_work, args=(registry.http_address, str(tmp_path), service, 3))
    worker.start()
    worker.join(30)
    if worker.is_alive():
        worker.kill()
        pytest.fail("the multiprocessing child hung")
    assert worker.exitcode == 0

    # the parent's client is untouched by its children
    parent.register_instance(service, Instance(ip="10.9.6.1", port=4))
    eventually(lambda: {1, 4} <= ports_of(parent.cached_service(service)), 5, "the parent still working")
    parent.close()


# --------------------------------------------------------------------------- malformed server


def test_malformed_server_answers_reset_the_connection_without_crashing(tmp_path: Path) -> None:
    from garbage_server import GarbageServer

    with GarbageServer() as bad:
        with NacosClient(options(bad.http_address, tmp_path, timeout=1.5)) as victim:
            with pytest.raises(NacosUnavailableError):
                victim.register_instance("svc", Instance(ip="10.9.7.1", port=1))
            eventually(lambda: bad.server_checks >= 2, 5, "the client to reconnect after garbage")
            assert victim.status()["started"] is True
        assert threading.active_count() < 50


# --------------------------------------------------------------------------- endpoint, failover, signing


def test_endpoint_mode_reads_the_server_list_from_an_address_server(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    import http.server

    listing = f"{registry.http_address}\n".encode()

    class AddressServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/nacos/serverlist"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(listing if found else b"")

        def log_message(self, *args: object) -> None:
            pass

    address = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AddressServer)
    thread = threading.Thread(target=address.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"127.0.0.1:{address.server_address[1]}"
        # ``server`` points nowhere useful: only the address server knows where Nacos is.
        opts = ClientOptions(server="127.0.0.1:1", endpoint=endpoint, cache_dir=str(tmp_path), timeout=3.0)
        with NacosClient(opts) as client:
            service = unique("endpoint")
            client.register_instance(service, Instance(ip="10.9.8.1", port=1))
            assert registry_ports(registry, service) == {1}
            assert client.status()["naming"]["server"] == registry.http_address
    finally:
        address.shutdown()
        address.server_close()


def test_failover_switch_pins_the_disk_snapshot(registry: EmbeddedRegistry, tmp_path: Path) -> None:
    service = unique("failover")
    cache = tmp_path / "cache"
    http_post(registry, "/v1/ns/instance", serviceName=service, ip="10.9.9.1", port="91")
    with NacosClient(options(registry, cache)) as client:
        assert ports_of(client.subscribe(service)) == {91}
        (cache / "failover").write_text("1")
        # the switch is read every few seconds; from then on lookups ignore the live list
        eventually(lambda: client.status()["failover"] is True, 8, "the failover switch to be noticed")
        http_post(registry, "/v1/ns/instance", serviceName=service, ip="10.9.9.2", port="92")
        time.sleep(0.5)
        pinned = client.cached_service(service)
        assert pinned is not None and pinned.from_snapshot and ports_of(pinned) == {91}
        (cache / "failover").write_text("0")
        eventually(lambda: ports_of(client.cached_service(service)) == {91, 92}, 8, "live data after failover")


def test_signed_requests_work_against_a_server_that_ignores_signatures(
    registry: EmbeddedRegistry, tmp_path: Path
) -> None:
    opts = options(registry, tmp_path, access_key="AKID", secret_key="s3cr3t")
    with NacosClient(opts) as signer:
        service, data_id = unique("signed"), unique("signed")
        signer.register_instance(service, Instance(ip="10.9.10.1", port=1))
        signer.publish_config(data_id, "signed: true")
        assert signer.get_config(data_id) == "signed: true"
        assert "s3cr3t" not in repr(opts)
