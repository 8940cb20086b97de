"""Acceptance: shared < extension < app < profile (and local files by preference), live on removal."""

from __future__ import annotations

import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.config import ConfigStore, build_store
from nacos.auto.settings import load_settings
from nacos.auto.testing import EmbeddedRegistry

DEADLINE = 20.0


def http(registry: EmbeddedRegistry, method: str, data_id: str, group: str, content: str | None = None) -> None:
    fields = {"dataId": data_id, "group": group}
    if content is not None:
        fields["content"] = content
    query = urllib.parse.urlencode(fields)
    if method == "POST":
        request = urllib.request.Request(f"{registry.base_url}/v1/cs/configs", data=query.encode(), method="POST")
    else:
        request = urllib.request.Request(f"{registry.base_url}/v1/cs/configs?{query}", method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def service() -> str:
    return f"layers-{uuid.uuid4().hex[:8]}"


def make_store(registry: EmbeddedRegistry, service: str, tmp_path: Path, **extra: str) -> ConfigStore:
    environ = {
        "NACOS_SERVER": registry.http_address,
        "NACOS_SERVICE_NAME": service,
        "NACOS_CACHE_DIR": str(tmp_path / "cache"),
        "NACOS_CONFIG_PROFILES": "prod",
        "NACOS_CONFIG_SHARED": f"SHARED_GROUP/{service}-shared.json",
        "NACOS_CONFIG_EXTENSION": f"{service}-ext.properties",
        **extra,
    }
    return build_store(load_settings(environ=environ, cwd=tmp_path), environ)


@pytest.fixture
def stores() -> Iterator[list[ConfigStore]]:
    made: list[ConfigStore] = []
    yield made
    for store in made:
        store.close()
        if store.client is not None:
            store.client.close()


def test_same_key_resolves_by_precedence_and_falls_back_live(
    registry: EmbeddedRegistry, service: str, tmp_path: Path, stores: list[ConfigStore]
) -> None:
    http(registry, "POST", f"{service}-shared.json", "SHARED_GROUP", '{"level": "shared", "only": {"shared": 1}}')
    http(registry, "POST", f"{service}-ext.properties", "DEFAULT_GROUP", "level=extension\nonly.extension=2\n")
    http(registry, "POST", f"{service}.yaml", "DEFAULT_GROUP", "level: app\nonly:\n  app: 3\n")
    http(registry, "POST", f"{service}-prod.yaml", "DEFAULT_GROUP", "level: profile\nonly:\n  profile: 4\n")
    store = make_store(registry, service, tmp_path).start()
    stores.append(store)

    assert [spec.kind for spec in store.documents] == ["shared", "extension", "app", "profile"]
    assert store.get("level") == "profile"
    assert store.get("only") == {"shared": 1, "extension": "2", "app": 3, "profile": 4}
    seen: list[tuple[Any, Any]] = []
    changed = threading.Event()

    def on_level(old: Any, new: Any) -> None:
        seen.append((old, new))
        changed.set()

    store.on_change("level", on_level)

    http(registry, "DELETE", f"{service}-prod.yaml", "DEFAULT_GROUP")
    wait_until(lambda: store.get("level") == "app", "the app value after removing the profile document")
    assert store.get("only.profile") is None
    assert changed.wait(DEADLINE) and seen[0] == ("profile", "app")

    http(registry, "DELETE", f"{service}.yaml", "DEFAULT_GROUP")
    wait_until(lambda: store.get("level") == "extension", "the extension value after removing the app document")
    http(registry, "DELETE", f"{service}-ext.properties", "DEFAULT_GROUP")
    wait_until(lambda: store.get("level") == "shared", "the shared value after removing the extension")

    http(registry, "POST", f"{service}-prod.yaml", "DEFAULT_GROUP", "level: profile again\n")
    wait_until(lambda: store.get("level") == "profile again", "the profile value after publishing it again")
    assert [new for _, new in seen] == ["app", "extension", "shared", "profile again"]


def test_local_files_lose_to_remote_unless_preference_is_local(
    registry: EmbeddedRegistry, service: str, tmp_path: Path, stores: list[ConfigStore]
) -> None:
    local = tmp_path / "application.toml"
    local.write_text('level = "local"\nlocal_only = true\n')
    http(registry, "POST", f"{service}.yaml", "DEFAULT_GROUP", "level: app\n")
    remote_wins = make_store(registry, service, tmp_path, NACOS_CONFIG_LOCAL_FILES=str(local)).start()
    stores.append(remote_wins)
    local_wins = make_store(
        registry, service, tmp_path, NACOS_CONFIG_LOCAL_FILES=str(local), NACOS_CONFIG_PREFERENCE="local"
    ).start()
    stores.append(local_wins)

    assert remote_wins.get("level") == "app" and remote_wins.get("local_only") is True
    assert local_wins.get("level") == "local"


def test_placeholders_resolve_from_other_keys_and_environment(
    registry: EmbeddedRegistry, service: str, tmp_path: Path, stores: list[ConfigStore]
) -> None:
    http(registry, "POST", f"{service}-shared.json", "SHARED_GROUP", '{"db": {"host": "db.internal"}}')
    http(registry, "POST", f"{service}.yaml", "DEFAULT_GROUP", "url: jdbc://${db.host}:${DB_PORT:5432}/${DB_NAME}\n")
    store = make_store(registry, service, tmp_path, DB_NAME="orders").start()
    stores.append(store)
    assert store.get("url") == "jdbc://db.internal:5432/orders"

    # a key from a lower layer changes: the placeholder that reads it follows
    http(registry, "POST", f"{service}-shared.json", "SHARED_GROUP", '{"db": {"host": "db2.internal"}}')
    wait_until(lambda: store.get("url") == "jdbc://db2.internal:5432/orders", "the placeholder to follow db.host")


def test_refresh_false_documents_are_read_once(
    registry: EmbeddedRegistry, service: str, tmp_path: Path, stores: list[ConfigStore]
) -> None:
    http(registry, "POST", f"{service}-frozen.yaml", "DEFAULT_GROUP", "frozen: 1\n")
    http(registry, "POST", f"{service}.yaml", "DEFAULT_GROUP", "live: 1\n")
    store = make_store(registry, service, tmp_path, NACOS_CONFIG_SHARED=f"{service}-frozen.yaml?refresh=false").start()
    stores.append(store)
    assert (store.get("frozen"), store.get("live")) == (1, 1)

    http(registry, "POST", f"{service}-frozen.yaml", "DEFAULT_GROUP", "frozen: 2\n")
    http(registry, "POST", f"{service}.yaml", "DEFAULT_GROUP", "live: 2\n")  # pushed after the frozen change
    wait_until(lambda: store.get("live") == 2, "the refreshing document to change")
    assert store.get("frozen") == 1
