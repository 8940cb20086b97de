"""What the config store keeps on disk: last good documents (failover) and the refresh history.

Layout under the client's cache dir (``nacos.cache_dir``, default ``~/.cache/nacos-serving``)::

    config-store/{namespace}/last-good/{group}/{data id}   content of the last accepted version
    config-store/{namespace}/history/{app data id}.json    the last N refreshes, newest last

The client keeps its own snapshot of what Nacos last said, which may be a document we rejected; the
last good copy is what the app actually ran with, so a restart with Nacos down starts from it. The
history is a file because ``nacos-serving config history`` runs in another process than the app.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nacos.auto.client.cache import atomic_write

log = logging.getLogger("nacos.auto.config")


@dataclass(frozen=True)
class Refresh:
    """One attempt to change the configuration (a push, a start, a removal)."""

    time: float
    data_id: str
    group: str
    md5: str
    changed_keys: tuple[str, ...]
    accepted: bool
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_keys"] = list(self.changed_keys)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Refresh:
        return cls(
            time=float(data["time"]),
            data_id=str(data["data_id"]),
            group=str(data["group"]),
            md5=str(data["md5"]),
            changed_keys=tuple(str(k) for k in data.get("changed_keys", ())),
            accepted=bool(data["accepted"]),
            reason=str(data.get("reason", "")),
        )


def _safe(name: str) -> str:
    return quote(name, safe="-_.@") or "_"


def config_root(cache_dir: Path, namespace: str) -> Path:
    return cache_dir / "config-store" / _safe(namespace or "public")


def history_path(cache_dir: Path, namespace: str, name: str) -> Path:
    return config_root(cache_dir, namespace) / "history" / f"{_safe(name)}.json"


class Disk:
    """Best-effort persistence: a full disk or read-only home logs a warning, never stops a refresh."""

    def __init__(self, cache_dir: Path, namespace: str, history_name: str) -> None:
        self.root = config_root(cache_dir, namespace)
        self.history_file = history_path(cache_dir, namespace, history_name)

    def _doc_path(self, group: str, data_id: str) -> Path:
        return self.root / "last-good" / _safe(group) / _safe(data_id)

    def save_good(self, group: str, data_id: str, content: str | None) -> None:
        path = self._doc_path(group, data_id)
        try:
            if content is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, content.encode("utf-8"))
        except OSError as exc:
            log.warning("cannot keep the last good copy of %s/%s in %s: %s", group, data_id, path, exc)

    def load_good(self, group: str, data_id: str) -> str | None:
        try:
            return self._doc_path(group, data_id).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def save_history(self, records: list[Refresh]) -> None:
        try:
            data = json.dumps([r.to_json() for r in records], indent=1).encode("utf-8")
            atomic_write(self.history_file, data)
        except OSError as exc:
            log.warning("cannot write the config history %s: %s", self.history_file, exc)


def read_history(path: Path) -> list[Refresh]:
    """The records in a history file; a missing file is an empty history."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{path}: not a config history file")
    return [Refresh.from_json(item) for item in data]
