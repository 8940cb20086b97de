"""The discovery core without a network: host classification, URL rewriting, strategies, routing,
outlier ejection and the retry policy, on real snapshots (``ServiceSnapshot`` values, no client I/O)."""

from __future__ import annotations

import collections
import itertools
import time
from pathlib import Path

import pytest

from nacos.auto.client import Instance, ServiceSnapshot
from nacos.auto.discovery import (
    Canary,
    Failure,
    NoAvailableInstanceError,
    OutlierDetector,
    Resolver,
    RetryBudget,
    RetryPolicy,
)
from nacos.auto.discovery.routing import Pool, parse_match, smooth_weighted_cycle
from nacos.auto.settings import NacosSettings, SettingsError, load_settings


def make_resolver(**overrides: object) -> Resolver:
    return Resolver(load_settings(overrides, environ={}, cwd=Path("/nonexistent")))


def snapshot(*hosts: Instance, service: str = "user-service") -> ServiceSnapshot:
    return ServiceSnapshot(service, "DEFAULT_GROUP", hosts, 1)


def host(port: int, **fields: object) -> Instance:
    return Instance(ip="10.0.0.1", port=port, **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- which hosts are services


@pytest.mark.parametrize(
    ("host_name", "service"),
    [
        ("user-service", "user-service"),
        ("orders", "orders"),
        ("localhost", None),
        ("127.0.0.1", None),
        ("[::1]", None),
        ("2130706433", None),
        ("example.org", None),
        ("api.example.com", None),
        ("", None),
        ("billing.internal", "billing.internal"),  # listed in discovery.services
        ("user-service.svc", "user-service"),  # suffix stripped
        ("user-service.svc.cluster.local", "user-service"),
    ],
)
def test_which_hosts_are_services(host_name: str, service: str | None) -> None:
    resolver = make_resolver(
        **{"discovery.services": ["billing.internal"], "discovery.suffixes": [".svc.cluster.local", "svc"]}
    )
    assert resolver.service_for_host(host_name) == service


def test_other_urls_are_not_targets() -> None:
    resolver = make_resolver()
    for url in (
        "https://example.org/a?b#c",
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "ftp://user-service/file",
        "user-service/path",
        "http://[fe80::1]/",
    ):
        assert resolver.target(url) is None
        assert resolver.rewrite(url) == url  # no subscription needed to pass through


def test_rewrite_keeps_everything_but_the_host() -> None:
    resolver = make_resolver()
    target = resolver.target("HTTP://u:p%40ss@user-service:9999/a/b;x?q=1&r=%20#frag")
    assert target is not None and target.service == "user-service"
    assert target.url_for(host(8000)) == "http://u:p%40ss@10.0.0.1:8000/a/b;x?q=1&r=%20#frag"
    assert target.url_for(host(8443, metadata={"secure": "true"})).startswith("https://u:p%40ss@10.0.0.1:8443/")
    assert target.url_for(Instance(ip="fd00::5", port=80)).startswith("http://u:p%40ss@[fd00::5]:80/")
    query_only = resolver.target("http://orders?x=1")
    assert query_only is not None and query_only.url_for(host(1)) == "http://10.0.0.1:1?x=1"


def test_resolution_fast_path_follows_snapshot_changes() -> None:
    resolver = make_resolver()
    first = snapshot(host(1), host(2))
    resolver._snapshots["user-service"] = first  # as our subscription callback would store it
    urls = {resolver.resolve("http://user-service/x").url for _ in range(4)}  # type: ignore[union-attr]
    assert urls == {"http://10.0.0.1:1/x", "http://10.0.0.1:2/x"}
    resolver._snapshots["user-service"] = snapshot(host(3))
    resolver.invalidate()
    assert resolver.resolve("http://user-service/x").url == "http://10.0.0.1:3/x"  # type: ignore[union-attr]


def test_no_instances_names_service_namespace_group_and_reason() -> None:
    resolver = make_resolver(namespace="staging", group="BLUE")
    with pytest.raises(NoAvailableInstanceError) as caught:
        resolver.choose("user-service", snapshot())
    error = caught.value
    assert (error.service, error.namespace, error.group) == ("user-service", "staging", "BLUE")
    assert "no instances registered" in str(error) and isinstance(error, ConnectionError)


# --------------------------------------------------------------------------- strategies


def test_round_robin_cycles_through_healthy_enabled_instances() -> None:
    resolver = make_resolver()
    snap = snapshot(host(1), host(2, healthy=False), host(3), host(4, enabled=False))
    picks = [resolver.choose("s", snap).port for _ in range(6)]
    assert sorted(picks) == [1, 1, 1, 3, 3, 3]


def test_unhealthy_only_falls_back_to_enabled() -> None:
    resolver = make_resolver()
    snap = snapshot(host(1, healthy=False), host(2, enabled=False))
    assert {resolver.choose("s", snap).port for _ in range(4)} == {1}


def test_smooth_weighted_cycle_is_interleaved_and_exact() -> None:
    a, b, c = host(1, weight=5), host(2, weight=1), host(3, weight=1)
    cycle = smooth_weighted_cycle((a, b, c))
    assert [h.port for h in cycle] == [1, 1, 2, 1, 3, 1, 1]  # nginx's sequence for 5:1:1
    assert smooth_weighted_cycle((host(1, weight=0), host(2, weight=0))) == (host(1, weight=0), host(2, weight=0))
    zero = smooth_weighted_cycle((host(1, weight=0.0), host(2, weight=2.5)))
    assert {h.port for h in zero} == {2}


def test_weighted_strategy_follows_weights() -> None:
    resolver = make_resolver(**{"discovery.strategy": "weighted"})
    snap = snapshot(host(1, weight=1), host(2, weight=3))
    counts = collections.Counter(resolver.choose("s", snap).port for _ in range(400))
    assert counts == {1: 100, 2: 300}


def test_least_outstanding_avoids_the_busy_instance() -> None:
    resolver = make_resolver()
    snap = snapshot(host(1), host(2))
    busy = resolver.pick("s", snap, "least_outstanding").instance
    for _ in range(3):
        resolver.balancer.started(busy)
    picks = {resolver.choose("s", snap, strategy="least_outstanding").port for _ in range(20)}
    assert picks == {2 if busy.port == 1 else 1}


def test_unknown_strategy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="sticky"):
        make_resolver().choose("s", snapshot(host(1), host(2)), strategy="sticky")
    with pytest.raises(SettingsError, match=r"discovery\.strategy"):
        make_resolver(**{"discovery.strategy": "sticky"})


# --------------------------------------------------------------------------- routing


def test_same_cluster_then_zone_then_everyone() -> None:
    a = host(1, cluster_name="A")
    b = host(2, cluster_name="B", metadata={"zone": "z1"})
    c = host(3, cluster_name="C", metadata={"zone": "z2"})
    assert Pool(snapshot(a, b, c), 0, frozenset(), "A", "z1").all.hosts == (a,)
    assert Pool(snapshot(b, c), 0, frozenset(), "A", "z1").all.hosts == (b,)
    assert Pool(snapshot(b, c), 0, frozenset(), "A", "z9").all.hosts == (b, c)
    assert Pool(snapshot(a, b, c), 0, frozenset(), "A", "z1", prefer_same_cluster=False).all.hosts == (a, b, c)


def test_metadata_route_with_fallback() -> None:
    v1, v2 = host(1, metadata={"version": "v1"}), host(2, metadata={"version": "v2"})
    pool = Pool(snapshot(v1, v2), 0, frozenset())
    assert pool.routed(parse_match("version=v2")).hosts == (v2,)
    assert pool.routed(parse_match("version=v2"), matching=False).hosts == (v1,)
    assert pool.routed(parse_match("version=v3")).hosts == (v1, v2)
    resolver = make_resolver()
    assert {resolver.choose("s", snapshot(v1, v2), route={"version": "v2"}).port for _ in range(5)} == {2}


def test_canary_share_is_parsed_and_checked() -> None:
    assert Canary.parse("s", "version=v2:10") == Canary((("version", "v2"),), 10.0)
    assert Canary.parse("s", "version=v2").percent == 0.0
    for bad in ("version=v2:abc", "version=v2:150", "version:10"):
        with pytest.raises(ValueError, match=r"discovery\.canary\.s"):
            Canary.parse("s", bad)
    resolver = make_resolver(**{"discovery.canary": {"s": "version=v2:100"}})
    v1, v2 = host(1, metadata={"version": "v1"}), host(2, metadata={"version": "v2"})
    assert {resolver.choose("s", snapshot(v1, v2)).port for _ in range(10)} == {2}


def test_canary_setting_loads_from_yaml_and_env(tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text('nacos:\n  discovery:\n    canary:\n      user-service: "version=v2:10"\n')
    from_file = load_settings(environ={}, cwd=tmp_path)
    assert from_file.discovery.canary == {"user-service": "version=v2:10"}
    from_env = load_settings(environ={"NACOS_DISCOVERY_CANARY": "orders=version=v3:5"}, cwd=tmp_path)
    assert from_env.discovery.canary == {"orders": "version=v3:5"}
    assert NacosSettings().discovery.canary == {}


# --------------------------------------------------------------------------- outlier ejection


def test_consecutive_failures_eject_with_growing_backoff() -> None:
    changes = itertools.count()
    detector = OutlierDetector(failures=2, base_seconds=0.05, on_change=lambda: next(changes))
    key = ("10.0.0.1", 1)
    assert detector.record_failure(key) is False
    detector.record_success(key)  # a success ends the streak
    assert detector.record_failure(key) is False
    assert detector.record_failure(key) is True
    assert key in detector.ejected()
    deadline = time.monotonic() + 5
    while key in detector.ejected() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert key not in detector.ejected()
    detector.record_failure(key)
    detector.record_failure(key)  # second ejection: twice as long
    assert detector._until[key] - time.monotonic() > 0.06
    assert next(changes) >= 3  # eject, expire, eject were announced


def test_all_ejected_means_use_all() -> None:
    a, b = host(1), host(2)
    assert Pool(snapshot(a, b), 1, frozenset({("10.0.0.1", 1)})).all.hosts == (b,)
    assert Pool(snapshot(a, b), 1, frozenset({("10.0.0.1", 1), ("10.0.0.1", 2)})).all.hosts == (a, b)


def test_resolver_stops_choosing_an_ejected_instance() -> None:
    resolver = make_resolver(**{"discovery.outlier_failures": 1})
    snap = snapshot(host(1), host(2))
    bad = resolver.pick("s", snap)
    resolver.report(bad, ok=False)
    assert {resolver.choose("s", snap).port for _ in range(6)} == {3 - bad.instance.port}
    resolver.reset_outliers()
    assert {resolver.choose("s", snap).port for _ in range(6)} == {1, 2}


def test_retry_excludes_instances_already_tried() -> None:
    resolver = make_resolver()
    snap = snapshot(host(1), host(2), host(3))
    assert {resolver.choose("s", snap, exclude=[("10.0.0.1", 1), ("10.0.0.1", 2)]).port for _ in range(5)} == {3}
    everyone = [("10.0.0.1", p) for p in (1, 2, 3)]
    assert resolver.choose("s", snap, exclude=everyone).port in {1, 2, 3}  # all tried: any rather than none


# --------------------------------------------------------------------------- retry policy


def test_retry_policy_by_failure_and_method() -> None:
    policy = RetryPolicy(retries=2)
    assert policy.should_retry(0, "POST", Failure.CONNECT) is True  # never sent: any method
    assert policy.should_retry(0, "POST", Failure.STATUS) is False
    assert policy.should_retry(0, "POST", Failure.READ) is False
    assert policy.should_retry(0, "GET", Failure.STATUS) is True
    assert policy.should_retry(1, "put", Failure.READ) is True
    assert policy.should_retry(2, "GET", Failure.CONNECT) is False  # retries used up
    assert RetryPolicy(retry_non_idempotent=True).should_retry(0, "POST", Failure.STATUS) is True
    assert policy.retries_status(503) and not policy.retries_status(500)


def test_backoff_is_jittered_and_bounded() -> None:
    policy = RetryPolicy(backoff_base=0.01, backoff_cap=0.05)
    assert policy.backoff(0) == 0.0
    pauses = [policy.backoff(3) for _ in range(200)]
    assert all(0.0 <= p <= 0.05 for p in pauses) and len(set(pauses)) > 100


def test_retry_budget_runs_out_and_refills_from_traffic() -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0.0, cap=2.0)
    assert [budget.withdraw() for _ in range(3)] == [True, True, False]
    budget.deposit()
    budget.deposit()
    assert budget.withdraw() is True and budget.withdraw() is False
