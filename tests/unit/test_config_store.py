"""The store: validate-then-swap, last good kept, history ring buffer, change listeners."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.config import ConfigRejected, ConfigStore, DocumentSpec, Refresh, Snapshot
from nacos.auto.config.persist import read_history

SHARED = DocumentSpec("common.yaml", "G", "yaml", kind="shared")
APP = DocumentSpec("app.yaml", "G", "yaml", kind="app")
PROPS = DocumentSpec("app-prod.properties", "G", "properties", kind="profile")


def store(tmp_path: Path | None = None, size: int = 20) -> ConfigStore:
    return ConfigStore([SHARED, APP, PROPS], cache_dir=tmp_path, history_size=size).start()


def test_swap_is_atomic_and_old_snapshots_stay_intact() -> None:
    s = store()
    s.apply(APP, "a: 1\nb: 1\n")
    before = s.snapshot()
    record = s.apply(APP, "a: 2\nc: 3\n")
    assert record.accepted and record.changed_keys == ("a", "b", "c")
    assert dict(before.values) == {"a": 1, "b": 1}  # a reader holding the old snapshot sees one version
    assert dict(s.snapshot().values) == {"a": 2, "c": 3}
    assert s.snapshot().version == before.version + 1


def test_bad_document_keeps_last_good_logs_and_emits(caplog: pytest.LogCaptureFixture) -> None:
    s = store()
    s.apply(APP, "a: 1\n")
    events: list[Refresh] = []
    s.on_refresh(events.append)
    with caplog.at_level(logging.ERROR, "nacos.auto.config"):
        record = s.apply(APP, "a: 1\nb: {\n")
    assert not record.accepted and s.get("a") == 1 and s.get("b") is None
    assert "G/app.yaml:3: invalid YAML" in record.reason
    assert events == [record]
    assert "G/app.yaml" in caplog.text and "keeping the last good" in caplog.text
    # the rejected version is not the "current" one: publishing it again is judged again
    assert not s.apply(APP, "a: 1\nb: {\n").accepted


def test_unresolved_placeholder_rejects_naming_key_and_origin() -> None:
    s = store()
    s.apply(SHARED, "x: 1\n")
    record = s.apply(APP, "a: 1\nurl: ${MISSING_VAR_FOR_TEST}\n")
    assert not record.accepted
    assert record.reason.startswith("url: cannot resolve ${MISSING_VAR_FOR_TEST}") and "G/app.yaml:2" in record.reason
    assert s.get("url") is None and s.get("x") == 1


def test_validator_rejects_the_whole_candidate() -> None:
    s = store()
    s.apply(APP, "port: 80\nname: a\n")

    def positive_port(snapshot: Snapshot) -> None:
        if int(snapshot.get("port", 1)) <= 0:
            raise ConfigRejected(f"{snapshot.origin('port')}: port: must be positive")

    s.add_validator(positive_port)
    record = s.apply(APP, "port: -1\nname: b\n")
    assert not record.accepted and record.reason == "G/app.yaml:1: port: must be positive"
    assert (s.get("port"), s.get("name")) == (80, "a")
    with pytest.raises(ConfigRejected):
        s.add_validator(lambda snapshot: (_ for _ in ()).throw(ValueError("never valid")))


def test_removal_falls_back_to_lower_layers() -> None:
    s = store()
    s.apply(SHARED, "level: shared\n")
    s.apply(APP, "level: app\n")
    s.apply(PROPS, "level=profile\n")
    assert s.get("level") == "profile"
    assert s.apply(PROPS, None).changed_keys == ("level",)
    assert s.get("level") == "app"


def test_history_is_a_ring_buffer_and_a_file(tmp_path: Path) -> None:
    s = store(tmp_path, size=20)
    for i in range(30):
        s.apply(APP, f"n: {i}\n")
    history = s.history()
    assert len(history) == 20 and history[-1].changed_keys == ("n",)
    assert history[-1].md5 and history[-1].data_id == "app.yaml"
    on_disk = read_history(tmp_path / "config-store" / "public" / "history" / "app.yaml.json")
    assert [r.md5 for r in on_disk] == [r.md5 for r in history]


def test_on_change_gets_old_and_new_for_a_key_or_subtree() -> None:
    s = store()
    s.apply(APP, "db:\n  host: a\n  port: 1\nother: 1\n")
    seen: list[tuple[str, Any, Any]] = []
    s.on_change("db", lambda old, new: seen.append(("db", old, new)))
    remove = s.on_change("db.port", lambda old, new: seen.append(("port", old, new)))
    s.apply(APP, "db:\n  host: b\n  port: 1\nother: 2\n")
    assert seen == [("db", {"host": "a", "port": 1}, {"host": "b", "port": 1})]
    remove()
    s.apply(APP, "db:\n  host: b\n  port: 2\n")
    assert seen[-1] == ("db", {"host": "b", "port": 1}, {"host": "b", "port": 2})
    assert len(seen) == 2


def test_async_listener_runs_on_the_loop_that_registered_it() -> None:
    s = store()
    s.apply(APP, "a: 1\n")

    async def main() -> tuple[Any, Any, threading.Thread]:
        got: asyncio.Future[tuple[Any, Any, threading.Thread]] = asyncio.get_running_loop().create_future()

        async def listener(old: Any, new: Any) -> None:
            got.set_result((old, new, threading.current_thread()))

        s.on_change("a", listener)
        await asyncio.to_thread(s.apply, APP, "a: 2\n")  # pushes arrive on another thread
        return await asyncio.wait_for(got, 10)

    old, new, thread = asyncio.run(main())
    assert (old, new) == (1, 2) and thread is threading.main_thread()


def test_a_failing_listener_does_not_stop_others_or_the_swap() -> None:
    s = store()
    seen: list[Any] = []
    s.on_change("a", lambda old, new: 1 / 0)
    s.on_change("a", lambda old, new: seen.append(new))
    assert s.apply(APP, "a: 1\n").accepted
    assert seen == [1]


def test_apply_of_a_document_the_store_does_not_know_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"G/other\.yaml: not one of this store.s documents"):
        store().apply(DocumentSpec("other.yaml", "G", "yaml"), "a: 1\n")
