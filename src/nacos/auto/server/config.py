"""The configuration state of the embedded registry: documents, their md5, and who listens to them.

Two kinds of listeners, as in Nacos: gRPC connections (told of a change by a push they must ack) and
HTTP long-polls (``/v1/cs/configs/listener``, answered when a watched md5 changes or at their timeout).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from nacos.auto.server.store import ConfigItem, HistoryEntry, Store
from nacos.auto.server.validation import InvalidParameter, check_config_content, check_config_key
from nacos.auto.wire.util import content_md5

ConfigKey = tuple[str, str, str]  # namespace, group, data id


class CasMismatch(InvalidParameter):
    """``casMd5`` did not match the stored content: someone else changed it first."""


@dataclass(slots=True, eq=False)
class LongPoll:
    keys: dict[ConfigKey, str]  # key -> md5 the client holds
    tenants: dict[ConfigKey, str]  # key -> tenant as the client wrote it (blank stays blank)
    future: asyncio.Future[list[ConfigKey]]


class ConfigCenter:
    def __init__(self, store: Store, on_change: Callable[[ConfigKey, set[str]], None]) -> None:
        self._store = store
        self._on_change = on_change
        self.items: dict[ConfigKey, ConfigItem] = {
            (item.namespace, item.group, item.data_id): item for item in store.configs()
        }
        self._listeners: dict[ConfigKey, dict[str, str]] = {}  # key -> connection id -> tenant as sent
        self._by_connection: dict[str, set[ConfigKey]] = {}
        self._polls: set[LongPoll] = set()

    def md5(self, key: ConfigKey) -> str:
        item = self.items.get(key)
        return item.md5 if item else ""

    def get(self, key: ConfigKey) -> ConfigItem | None:
        return self.items.get(key)

    def publish(
        self,
        key: ConfigKey,
        content: str,
        *,
        cas_md5: str = "",
        config_type: str = "",
        app_name: str = "",
        encrypted_data_key: str = "",
    ) -> ConfigItem:
        namespace, group, data_id = key
        check_config_key(data_id, group)
        check_config_content(data_id, content)
        current = self.items.get(key)
        if cas_md5 and (current is None or current.md5 != cas_md5):
            raise CasMismatch(f"casMd5 {cas_md5!r} does not match the current content of {data_id!r}")
        now = int(time.time() * 1000)
        item = ConfigItem(
            namespace=namespace,
            group=group,
            data_id=data_id,
            content=content,
            md5=content_md5(content),
            type=config_type or (current.type if current else "") or "text",
            app_name=app_name or (current.app_name if current else ""),
            encrypted_data_key=encrypted_data_key,
            created=current.created if current else now,
            modified=now,
        )
        self._store.save_config(item, "U" if current else "I")
        self.items[key] = item
        if current is None or current.md5 != item.md5:
            self._notify(key)
        return item

    def remove(self, key: ConfigKey) -> bool:
        item = self.items.pop(key, None)
        if item is None:
            return False
        self._store.delete_config(item)
        self._notify(key)
        return True

    def history(self, key: ConfigKey) -> list[HistoryEntry]:
        return self._store.history(*key)

    # ----------------------------------------------------------------- gRPC listeners

    def listen(self, connection: str, key: ConfigKey, tenant_as_sent: str) -> None:
        self._listeners.setdefault(key, {})[connection] = tenant_as_sent
        self._by_connection.setdefault(connection, set()).add(key)

    def unlisten(self, connection: str, key: ConfigKey) -> None:
        listeners = self._listeners.get(key)
        if listeners is not None:
            listeners.pop(connection, None)
            if not listeners:
                del self._listeners[key]
        owned = self._by_connection.get(connection)
        if owned is not None:
            owned.discard(key)

    def listeners(self, key: ConfigKey) -> dict[str, str]:
        return self._listeners.get(key, {})

    def remove_connection(self, connection: str) -> None:
        for key in self._by_connection.pop(connection, set()):
            self.unlisten(connection, key)

    def listener_count(self) -> int:
        return sum(len(v) for v in self._listeners.values())

    # ----------------------------------------------------------------- HTTP long polling

    def changed_keys(self, wanted: dict[ConfigKey, str]) -> list[ConfigKey]:
        return [key for key, md5 in wanted.items() if self.md5(key) != md5]

    def add_poll(self, poll: LongPoll) -> None:
        self._polls.add(poll)

    def drop_poll(self, poll: LongPoll) -> None:
        self._polls.discard(poll)

    def _notify(self, key: ConfigKey) -> None:
        for poll in list(self._polls):
            if key in poll.keys and not poll.future.done():
                poll.future.set_result([key])
                self._polls.discard(poll)
        self._on_change(key, set(self._listeners.get(key, {})))
