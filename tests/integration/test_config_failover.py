"""Failover: last good documents on disk; with Nacos down the app starts from them, then catches up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from nacos.auto.client import NacosClient
from nacos.auto.config import ConfigRejected, ConfigStore, Snapshot, build_store
from nacos.auto.settings import load_settings
from nacos.auto.testing import EmbeddedRegistry

DEADLINE = 30.0


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def store_for(registry: EmbeddedRegistry, service: str, cache: Path) -> ConfigStore:
    environ = {
        "NACOS_SERVER": registry.http_address,
        "NACOS_SERVICE_NAME": service,
        "NACOS_CACHE_DIR": str(cache),
        "NACOS_TIMEOUT": "1",
    }
    store = build_store(load_settings(environ=environ, cwd=cache.parent), environ)
    store.retry_seconds = 0.2
    return store


def stop(store: ConfigStore) -> None:
    store.close()
    if store.client is not None:
        store.client.close()


def test_start_with_nacos_down_uses_the_last_good_documents(fresh_registry: EmbeddedRegistry, tmp_path: Path) -> None:
    service = f"failover-{uuid.uuid4().hex[:8]}"
    data_id = f"{service}.yaml"
    cache = tmp_path / "cache"
    publisher = NacosClient.shared(
        load_settings(environ={"NACOS_SERVER": fresh_registry.http_address}).client_options()
    )
    try:
        publisher.publish_config(data_id, "feature: good\n")
        first = store_for(fresh_registry, service, cache).start()
        try:
            assert first.get("feature") == "good"
            publisher.publish_config(data_id, "feature: [broken\n")  # the client's own snapshot now holds this
            wait_until(lambda: any(not r.accepted for r in first.history()), "the broken document to be rejected")
            assert first.get("feature") == "good"
        finally:
            stop(first)
    finally:
        publisher.close()

    fresh_registry.stop()
    second = store_for(fresh_registry, service, cache).start()  # Nacos down
    try:
        assert second.get("feature") == "good"
        assert any(not r.accepted and "invalid YAML" in r.reason for r in second.history())

        fresh_registry.restart()  # in-memory: the registry comes back empty; publish a new version
        back = NacosClient(load_settings(environ={"NACOS_SERVER": fresh_registry.http_address}).client_options())
        try:
            back.publish_config(data_id, "feature: after restart\n")
        finally:
            back.close()
        wait_until(lambda: second.get("feature") == "after restart", "the store to follow Nacos once it is back")
    finally:
        stop(second)


def test_start_with_nacos_down_and_no_snapshot_retries_until_nacos_serves(
    fresh_registry: EmbeddedRegistry, tmp_path: Path
) -> None:
    service = f"late-{uuid.uuid4().hex[:8]}"
    fresh_registry.stop()
    store = store_for(fresh_registry, service, tmp_path / "cache").start()
    try:
        assert store.get("feature") is None  # nothing known yet: defaults apply
        fresh_registry.restart()
        client = NacosClient(load_settings(environ={"NACOS_SERVER": fresh_registry.http_address}).client_options())
        try:
            client.publish_config(f"{service}.yaml", "feature: late\n")
        finally:
            client.close()
        wait_until(lambda: store.get("feature") == "late", "the store to load the document once Nacos is up")
    finally:
        stop(store)


def test_a_model_added_after_a_restart_on_a_refused_document_falls_back_to_the_last_good(
    registry: EmbeddedRegistry, tmp_path: Path
) -> None:
    """Restart while Nacos holds a document the app's typed model refuses: the last good copy is served."""
    service = f"model-{uuid.uuid4().hex[:8]}"
    data_id = f"{service}.yaml"
    cache = tmp_path / "cache"

    def positive(snapshot: Snapshot) -> None:
        if snapshot.get("port", 1) <= 0:
            raise ConfigRejected(f"{snapshot.origin('port')}: port: must be positive")

    publisher = NacosClient(load_settings(environ={"NACOS_SERVER": registry.http_address}).client_options())
    try:
        publisher.publish_config(data_id, "port: 81\n")
        first = store_for(registry, service, cache).start()
        first.add_validator(positive)
        stop(first)
        publisher.publish_config(data_id, "port: -5\n")  # valid YAML, refused by the model
    finally:
        publisher.close()

    restarted = store_for(registry, service, cache).start()
    try:
        assert restarted.get("port") == -5  # no model known yet
        restarted.add_validator(positive)
        assert restarted.get("port") == 81
        last = restarted.history()[-1]
        assert not last.accepted and f"{data_id}:1: port: must be positive" in last.reason
    finally:
        stop(restarted)

    elsewhere = store_for(registry, service, tmp_path / "empty-cache").start()
    try:
        with pytest.raises(ConfigRejected, match="must be positive"):
            elsewhere.add_validator(positive)  # nothing good to fall back to: a clear error at boot
    finally:
        stop(elsewhere)
