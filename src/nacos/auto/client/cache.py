"""On-disk snapshots of service lists and configs: what the client serves when Nacos cannot answer.

Layout under ``cache_dir/<namespace>/``: ``naming/<group>@@<service>.json`` and
``config/<group>/<data id>``. Writes are atomic (temp file + rename), so a crash never leaves half a
snapshot. The failover switch pins the snapshots: the file ``cache_dir/failover`` containing ``1`` (or
the ``failover`` option) makes lookups read only the snapshot, as the Java client's failover mode does.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from nacos.auto.wire import codec, models

log = logging.getLogger("nacos.auto")

FAILOVER_SWITCH = "failover"


def _safe(name: str) -> str:
    """A file name for a Nacos name (data ids may contain ':' and other characters)."""
    return "".join(c if c.isalnum() or c in "-_.@" else f"%{ord(c):02X}" for c in name) or "%"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DiskCache:
    def __init__(self, root: Path, namespace: str) -> None:
        self.root = root
        self.base = root / _safe(namespace)

    # ----------------------------------------------------------------- failover switch

    def failover_switched_on(self) -> bool:
        try:
            return (self.root / FAILOVER_SWITCH).read_text().strip() in ("1", "true", "on")
        except OSError:
            return False

    # ----------------------------------------------------------------- naming

    def _service_path(self, group: str, service: str) -> Path:
        return self.base / "naming" / f"{_safe(group)}@@{_safe(service)}.json"

    def save_service(self, group: str, service: str, info: models.ServiceInfo) -> None:
        try:
            atomic_write(self._service_path(group, service), codec.dumps(info))
        except OSError as exc:
            log.warning("could not write the snapshot of service %s@@%s: %s", group, service, exc)

    def load_service(self, group: str, service: str) -> models.ServiceInfo | None:
        path = self._service_path(group, service)
        try:
            return codec.loads(models.ServiceInfo, path.read_bytes(), what=str(path))
        except FileNotFoundError:
            return None
        except (OSError, codec.WireDecodeError) as exc:
            log.warning("ignoring unreadable snapshot %s: %s", path, exc)
            return None

    # ----------------------------------------------------------------- config

    def _config_path(self, group: str, data_id: str) -> Path:
        return self.base / "config" / _safe(group) / _safe(data_id)

    def save_config(self, group: str, data_id: str, content: str | None) -> None:
        path = self._config_path(group, data_id)
        try:
            if content is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, json.dumps({"content": content}).encode())
        except OSError as exc:
            log.warning("could not write the snapshot of config %s/%s: %s", group, data_id, exc)

    def load_config(self, group: str, data_id: str) -> str | None:
        path = self._config_path(group, data_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable snapshot %s: %s", path, exc)
            return None
        content = data.get("content") if isinstance(data, dict) else None
        return content if isinstance(content, str) else None
