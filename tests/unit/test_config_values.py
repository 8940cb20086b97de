"""value(), the descriptor form, refresh_scope and the module-level accessors, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nacos.auto import config
from nacos.auto.config import ConfigStore, DocumentSpec, refresh_scope, value
from nacos.auto.config.values import ConversionError, convert

APP = DocumentSpec("app.properties", "G", "properties")


@pytest.fixture
def store() -> Iterator[ConfigStore]:
    s = ConfigStore([APP]).start()
    old = config.set_default_store(s)
    yield s
    config.set_default_store(old)


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("true", bool, True),
        ("OFF", bool, False),
        ("yes", bool, True),
        ("0", bool, False),
        (" 42 ", int, 42),
        ("0x10", int, 16),
        (3.0, int, 3),
        ("2.5", float, 2.5),
        (7, float, 7.0),
        (True, str, "true"),
        (12, str, "12"),
        ("a, b,c", list, ["a", "b", "c"]),
    ],
)
def test_spring_like_conversions(raw: Any, kind: type[Any], expected: Any) -> None:
    assert convert(raw, kind, "k") == expected


@pytest.mark.parametrize(("raw", "kind"), [("maybe", bool), ("4x", int), ("x", float), ({"a": 1}, str)])
def test_conversion_errors_name_the_key(raw: Any, kind: type[Any]) -> None:
    with pytest.raises(ConversionError, match=r"^k: expected"):
        convert(raw, kind, "k")


def test_value_is_live_typed_and_defaults(store: ConfigStore) -> None:
    use_local_cache = value("useLocalCache", default=False)
    pool = value("pool.size", default=10)
    assert use_local_cache.get() is False and pool() == 10
    store.apply(APP, "useLocalCache=true\npool.size=25\n")
    assert use_local_cache.get() is True and pool.get() == 25
    store.apply(APP, "useLocalCache=false\npool.size=lots\n")
    assert use_local_cache.get() is False
    assert pool.get() == 10  # does not convert: the default, never a wrong type


def test_descriptor_form_reads_the_current_value(store: ConfigStore) -> None:
    class Handler:
        timeout = value("http.timeout", default=2.5)

    handler = Handler()
    assert handler.timeout == 2.5
    store.apply(APP, "http.timeout=0.75\n")
    assert handler.timeout == 0.75
    assert Handler.timeout.key == "http.timeout"  # on the class: the accessor itself


def test_refresh_scope_rebuilds_only_after_keys_it_read_change(store: ConfigStore) -> None:
    store.apply(APP, "db.url=a\nunrelated=1\n")

    @refresh_scope
    def pool() -> dict[str, Any]:
        return {"url": config.get("db.url")}

    first = pool()
    assert first == {"url": "a"} and pool() is first
    store.apply(APP, "db.url=a\nunrelated=2\n")
    assert pool() is first and pool.builds == 1
    store.apply(APP, "db.url=b\nunrelated=2\n")
    second = pool()
    assert second == {"url": "b"} and second is not first and pool.builds == 2


def test_on_change_decorator_and_module_accessors(store: ConfigStore) -> None:
    seen: list[tuple[Any, Any]] = []

    @config.on_change("feature")
    def changed(old: Any, new: Any) -> None:
        seen.append((old, new))

    store.apply(APP, "feature.a=1\n")
    assert seen == [(None, {"a": "1"})]
    assert config.get("feature.a") == "1" and config.get("nope", "dflt") == "dflt"
    assert config.snapshot().values == {"feature.a": "1"}
    assert config.history()[-1].changed_keys == ("feature.a",)


def test_importing_does_no_io() -> None:
    import importlib
    import subprocess
    import sys

    code = (
        "import socket\n"
        "def deny(*a, **k): raise AssertionError('I/O at import')\n"
        "socket.socket.connect = deny\n"
        "import nacos.auto.config, nacos.auto.config.pydantic, nacos.auto.config.cli\n"
        "from nacos.auto.config import value; value('x', default=1)\n"
        "import nacos.auto.config.process as p; assert p._store is None\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert importlib.import_module("nacos.auto.config") is config


def test_on_change_declared_before_any_store_exists_starts_nothing_and_attaches_later() -> None:
    import nacos.auto.config.process as process

    old = config.set_default_store(None)
    try:
        seen: list[Any] = []

        @config.on_change("late.key")
        def changed(before: Any, after: Any) -> None:
            seen.append(after)

        assert process._store is None  # declaring a listener did not build (or connect) anything
        store = ConfigStore([APP]).start()
        config.set_default_store(store)
        store.apply(APP, "late.key=1\n")
        assert seen == ["1"]
    finally:
        config.set_default_store(old)
