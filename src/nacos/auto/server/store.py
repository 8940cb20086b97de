"""Durable state of the embedded registry: configs with history, and persistent instances.

One SQLite database (``registry.db`` under the data dir, or ``:memory:`` for tests). Ephemeral instances
are never stored: they belong to live connections and die with them, as in Nacos.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nacos.auto.wire import models

HISTORY_LIMIT = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS config (
    namespace TEXT NOT NULL, grp TEXT NOT NULL, data_id TEXT NOT NULL,
    content TEXT NOT NULL, md5 TEXT NOT NULL, type TEXT NOT NULL, app_name TEXT NOT NULL,
    encrypted_data_key TEXT NOT NULL, created INTEGER NOT NULL, modified INTEGER NOT NULL,
    PRIMARY KEY (namespace, grp, data_id));
CREATE TABLE IF NOT EXISTS config_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL, grp TEXT NOT NULL, data_id TEXT NOT NULL,
    content TEXT NOT NULL, md5 TEXT NOT NULL, op TEXT NOT NULL, modified INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS config_history_key ON config_history (namespace, grp, data_id, id);
CREATE TABLE IF NOT EXISTS persistent_instance (
    namespace TEXT NOT NULL, grp TEXT NOT NULL, service TEXT NOT NULL,
    ip TEXT NOT NULL, port INTEGER NOT NULL, cluster TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (namespace, grp, service, ip, port, cluster));
"""


@dataclass(slots=True, frozen=True)
class ConfigItem:
    namespace: str
    group: str
    data_id: str
    content: str
    md5: str
    type: str = "text"
    app_name: str = ""
    encrypted_data_key: str = ""
    created: int = 0
    modified: int = 0


@dataclass(slots=True, frozen=True)
class HistoryEntry:
    id: int
    namespace: str
    group: str
    data_id: str
    content: str
    md5: str
    op: str  # "I" insert, "U" update, "D" delete — Nacos' letters
    modified: int


class Store:
    """Write-through persistence; the registry keeps its working set in memory and calls us on change."""

    def __init__(self, data_dir: Path | None) -> None:
        if data_dir is None:
            self.path = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.path = str(data_dir / "registry.db")
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ----------------------------------------------------------------- configs

    def configs(self) -> Iterator[ConfigItem]:
        rows = self._db.execute(
            "SELECT namespace, grp, data_id, content, md5, type, app_name, encrypted_data_key, created,"
            " modified FROM config"
        )
        for row in rows:
            yield ConfigItem(*row)

    def save_config(self, item: ConfigItem, op: str) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO config VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    item.namespace,
                    item.group,
                    item.data_id,
                    item.content,
                    item.md5,
                    item.type,
                    item.app_name,
                    item.encrypted_data_key,
                    item.created,
                    item.modified,
                ),
            )
            self._add_history(item, op)

    def delete_config(self, item: ConfigItem) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM config WHERE namespace=? AND grp=? AND data_id=?",
                (item.namespace, item.group, item.data_id),
            )
            self._add_history(item, "D")

    def _add_history(self, item: ConfigItem, op: str) -> None:
        key = (item.namespace, item.group, item.data_id)
        self._db.execute(
            "INSERT INTO config_history (namespace, grp, data_id, content, md5, op, modified) VALUES (?,?,?,?,?,?,?)",
            (*key, item.content, item.md5, op, int(time.time() * 1000)),
        )
        self._db.execute(
            "DELETE FROM config_history WHERE namespace=? AND grp=? AND data_id=? AND id NOT IN"
            " (SELECT id FROM config_history WHERE namespace=? AND grp=? AND data_id=?"
            " ORDER BY id DESC LIMIT ?)",
            (*key, *key, HISTORY_LIMIT),
        )

    def history(self, namespace: str, group: str, data_id: str) -> list[HistoryEntry]:
        rows = self._db.execute(
            "SELECT id, namespace, grp, data_id, content, md5, op, modified FROM config_history"
            " WHERE namespace=? AND grp=? AND data_id=? ORDER BY id DESC",
            (namespace, group, data_id),
        )
        return [HistoryEntry(*row) for row in rows]

    # ----------------------------------------------------------------- persistent instances

    def persistent_instances(self) -> Iterator[tuple[str, str, str, models.Instance]]:
        from nacos.auto.wire.codec import loads

        rows = self._db.execute("SELECT namespace, grp, service, body FROM persistent_instance")
        for namespace, group, service, body in rows:
            yield namespace, group, service, loads(models.Instance, body)

    def save_instance(self, namespace: str, group: str, service: str, instance: models.Instance) -> None:
        from nacos.auto.wire.codec import to_wire

        self._db.execute(
            "INSERT OR REPLACE INTO persistent_instance VALUES (?,?,?,?,?,?,?)",
            (
                namespace,
                group,
                service,
                instance.ip,
                instance.port,
                instance.cluster_name,
                json.dumps(to_wire(instance)),
            ),
        )

    def delete_instance(self, namespace: str, group: str, service: str, instance: models.Instance) -> None:
        self._db.execute(
            "DELETE FROM persistent_instance WHERE namespace=? AND grp=? AND service=? AND ip=? AND port=?"
            " AND cluster=?",
            (namespace, group, service, instance.ip, instance.port, instance.cluster_name),
        )
