"""The live configuration: an immutable snapshot swapped atomically, validate-then-swap, history.

Readers take ``store.snapshot()`` (one attribute read, no lock) and read a frozen mapping, so a
request never sees half of a refresh. Writers (pushes, removals, the start) go through :meth:`apply`
under one lock: parse the document, merge every layer, resolve placeholders, run the validators
(typed settings models), and only then swap. Anything that fails leaves the previous snapshot in
place, logs the data id, line or key and reason, and lands in the history as a rejection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from nacos.auto.config.formats import FormatError, Parsed, parse
from nacos.auto.config.layers import PlaceholderError, merge, nest, resolve, subtree
from nacos.auto.config.persist import Disk, Refresh
from nacos.auto.config.sources import DocumentSpec
from nacos.auto.wire.util import content_md5

if TYPE_CHECKING:
    from nacos.auto.client import NacosClient

log = logging.getLogger("nacos.auto.config")

_MISSING: Any = object()
#: Keys read while a refresh-scoped factory runs (see values.refresh_scope).
_reading: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("nacos_config_reading", default=None)


class ConfigRejected(ValueError):
    """A candidate configuration a validator refused; the message names the key and why."""


class ConfigStartError(RuntimeError):
    """The configuration cannot be built at start (broken document and no last good copy)."""


@dataclass(frozen=True)
class Snapshot:
    """One consistent configuration: flat dotted keys (placeholders resolved) and where each came from."""

    version: int
    values: Mapping[str, Any]
    origins: Mapping[str, str]

    def get(self, key: str, default: Any = None) -> Any:
        """A leaf, or a nested mapping of everything under ``key``, or ``default``."""
        reading = _reading.get()
        if reading is not None:
            reading.add(key)
        found = self.values.get(key, _MISSING)
        if found is _MISSING:
            found = subtree(self.values, key)
        return default if found is None else found

    def tree(self) -> dict[str, Any]:
        return nest(self.values)

    def origin(self, key: str) -> str | None:
        """``group/data id:line`` (or the file path) a key came from; parents answer for their subtree."""
        while key:
            if key in self.origins:
                return self.origins[key]
            key = key.rpartition(".")[0]
        return None


EMPTY = Snapshot(0, MappingProxyType({}), MappingProxyType({}))


@dataclass
class _Listener:
    prefix: str
    callback: Callable[[Any, Any], Any]
    loop: asyncio.AbstractEventLoop | None


@dataclass(frozen=True)
class _Doc:
    content: str | None
    parsed: Parsed | None
    md5: str


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in old.keys() | new.keys() if old.get(k, _MISSING) != new.get(k, _MISSING)))


def _touches(prefix: str, keys: Sequence[str]) -> bool:
    return any(k == prefix or k.startswith(prefix + ".") or prefix.startswith(k + ".") for k in keys)


@dataclass
class ConfigStore:
    """The merged, live view of ``documents`` (lowest precedence first).

    Construct one explicitly (tests, several stores side by side) or let :func:`nacos.auto.config.store`
    build the process-wide one from ``nacos.yaml``. Without a ``client`` only local files and
    :meth:`apply` feed it.
    """

    documents: Sequence[DocumentSpec]
    client: NacosClient | None = None
    cache_dir: Path | None = None
    namespace: str = "public"
    history_size: int = 20
    history_name: str | None = None
    environ: Mapping[str, str] | None = None
    retry_seconds: float = 2.0

    _snapshot: Snapshot = field(default=EMPTY, init=False)
    _docs: dict[DocumentSpec, _Doc] = field(default_factory=dict, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False)
    _history: deque[Refresh] = field(init=False)
    _listeners: list[_Listener] = field(default_factory=list, init=False)
    _validators: list[Callable[[Snapshot], None]] = field(default_factory=list, init=False)
    _refresh_hooks: list[Callable[[Refresh], None]] = field(default_factory=list, init=False)
    _callbacks: dict[DocumentSpec, Callable[[str, str, str | None], None]] = field(default_factory=dict, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _disk: Disk | None = field(default=None, init=False)
    _good_before_start: dict[DocumentSpec, str | None] = field(default_factory=dict, init=False)
    started: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._history = deque(maxlen=self.history_size)
        if self.cache_dir is not None:
            name = self.history_name or next((d.data_id for d in self.documents if d.kind == "app"), "default")
            self._disk = Disk(Path(self.cache_dir), self.namespace, name)

    # ----------------------------------------------------------------- reads (lock-free)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def get(self, key: str, default: Any = None) -> Any:
        return self._snapshot.get(key, default)

    def history(self) -> list[Refresh]:
        """The last ``history_size`` refreshes, oldest first."""
        return list(self._history)

    # ----------------------------------------------------------------- subscriptions

    def on_change(self, prefix: str, callback: Callable[[Any, Any], Any]) -> Callable[[], None]:
        """``callback(old, new)`` whenever ``prefix`` (a key or a subtree) changes; returns an unsubscribe.

        Sync callbacks run on the thread that applied the change; coroutine functions run on the event
        loop that was running when they were registered (or a fresh one if none was).
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        entry = _Listener(prefix, callback, loop if asyncio.iscoroutinefunction(callback) else None)
        with self._lock:
            self._listeners.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return remove

    def on_refresh(self, hook: Callable[[Refresh], None]) -> None:
        """``hook(record)`` after every refresh attempt, accepted or rejected (the rejection event)."""
        with self._lock:
            self._refresh_hooks.append(hook)

    def add_validator(self, validator: Callable[[Snapshot], None]) -> None:
        """Run ``validator`` on every candidate before it is swapped in; it raises to reject.

        The current configuration is checked at once. If it fails but the last good copies on disk pass,
        those are swapped in (a restart after a bad push); otherwise :class:`ConfigRejected` is raised.
        """
        with self._lock:
            try:
                validator(self._snapshot)
            except Exception as exc:
                if not self._fall_back_to_last_good(validator, exc):
                    raise ConfigRejected(str(exc)) from None
            self._validators.append(validator)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ConfigStore:
        """Load every document (remote ones with their listeners) and build the first snapshot."""
        with self._lock:
            if self.started:
                return self
            retry: list[DocumentSpec] = []
            for spec in self.documents:
                if spec.local:
                    self._docs[spec] = self._load_local(spec)
                    continue
                doc = self._load_remote(spec)
                if doc is None:
                    retry.append(spec)
                    doc = self._last_good_doc(spec, "Nacos unreachable")
                self._docs[spec] = doc
            try:
                self._snapshot = self._build(self._docs, 1)
            except (PlaceholderError, ConfigRejected) as exc:
                raise ConfigStartError(f"config: {exc}") from None
            self.started = True
            if self._disk is not None and self.client is not None:  # keep what Nacos served for a start without it
                for spec, doc in self._docs.items():
                    if not spec.local and spec not in retry:
                        # a typed model registered later may still refuse it: remember what it replaces
                        self._good_before_start[spec] = self._disk.load_good(spec.group, spec.data_id)
                        self._disk.save_good(spec.group, spec.data_id, doc.content)
            self._record(
                Refresh(time.time(), "*", "", "", tuple(sorted(self._snapshot.values)), True, "start"), notify=False
            )
        if retry and self.client is not None:
            threading.Thread(target=self._retry, args=(retry,), name="nacos-config-retry", daemon=True).start()
        return self

    def close(self) -> None:
        """Stop listening (best effort) and stop retrying; the last snapshot stays readable."""
        self._stop.set()
        client, callbacks = self.client, dict(self._callbacks)
        self._callbacks.clear()
        if client is None or client.closed:
            return
        for spec, callback in callbacks.items():
            try:
                client.remove_config_listener(spec.data_id, callback, spec.group)
            except Exception as exc:
                log.debug("removing the config listener of %s: %s", spec.name, exc)

    # ----------------------------------------------------------------- writes

    def apply(self, spec: DocumentSpec, content: str | None) -> Refresh:
        """Offer a new version of one document (``None``: removed). Returns the history record."""
        if spec not in self.documents:
            raise ValueError(f"config {spec.name}: not one of this store's documents")
        with self._lock:
            md5 = content_md5(content) if content is not None else ""
            current = self._docs.get(spec)
            if current is not None and current.md5 == md5 and current.content == content:
                return Refresh(time.time(), spec.data_id, spec.group, md5, (), True, "unchanged")
            old = self._snapshot
            try:
                parsed = self._parse(spec, content)
                docs = {**self._docs, spec: _Doc(content, parsed, md5)}
                candidate = self._build(docs, old.version + 1)
            except (FormatError, PlaceholderError, ConfigRejected) as exc:
                reason = str(exc)
                log.error("config %s rejected, keeping the last good configuration: %s", spec.name, reason)
                record = Refresh(time.time(), spec.data_id, spec.group, md5, (), False, reason)
                self._record(record)
                return record
            changed = changed_keys(old.values, candidate.values)
            self._docs = docs
            self._snapshot = candidate
            if self._disk is not None and not spec.local:
                self._disk.save_good(spec.group, spec.data_id, content)
            record = Refresh(time.time(), spec.data_id, spec.group, md5, changed, True)
            self._record(record)
            if changed:
                log.info("config %s applied: %s", spec.name, ", ".join(changed[:20]))
                self._notify(old, candidate, changed)
            return record

    # ----------------------------------------------------------------- internals

    def _parse(self, spec: DocumentSpec, content: str | None) -> Parsed | None:
        if content is None:
            return None
        return parse(content, spec.format, spec.name)

    def _build(self, docs: Mapping[DocumentSpec, _Doc], version: int) -> Snapshot:
        layers: list[dict[str, Any]] = []
        origins: dict[str, str] = {}
        for spec in self.documents:
            doc = docs.get(spec)
            if doc is None or doc.parsed is None:
                continue
            layers.append(doc.parsed.values)
            for key in doc.parsed.values:
                line = doc.parsed.lines.get(key)
                origins[key] = f"{spec.name}:{line}" if line else spec.name
        merged = merge(layers)
        try:
            values = resolve(merged, self.environ)
        except PlaceholderError as exc:
            where = origins.get(exc.key, "")
            raise PlaceholderError(exc.key, exc.reason + (f" (at {where})" if where else "")) from None
        snapshot = Snapshot(
            version, MappingProxyType(values), MappingProxyType({k: origins[k] for k in values if k in origins})
        )
        for validator in self._validators:
            try:
                validator(snapshot)
            except ConfigRejected:
                raise
            except Exception as exc:
                raise ConfigRejected(str(exc)) from None
        return snapshot

    def _load_local(self, spec: DocumentSpec) -> _Doc:
        path = Path(spec.data_id)
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            log.info("config: local file %s not found, skipped", path)
            return _Doc(None, None, "")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigStartError(f"{path}: cannot read: {exc}") from None
        try:
            return _Doc(content, self._parse(spec, content), content_md5(content))
        except FormatError as exc:
            raise ConfigStartError(str(exc)) from None

    def _load_remote(self, spec: DocumentSpec) -> _Doc | None:
        """The document from Nacos (listening to it if it refreshes); ``None`` when Nacos is unreachable."""
        from nacos.auto.client import NacosError

        if self.client is None:
            return _Doc(None, None, "")
        try:
            if spec.refresh:
                callback = self._callback(spec)
                content = self.client.add_config_listener(spec.data_id, callback, spec.group)
                self._callbacks[spec] = callback
            else:
                content = self.client.get_config(spec.data_id, spec.group)
        except (NacosError, TimeoutError, concurrent.futures.TimeoutError) as exc:
            log.warning("config %s: cannot reach Nacos (%s); starting from the last good copy", spec.name, exc)
            return None
        md5 = content_md5(content) if content is not None else ""
        try:
            return _Doc(content, self._parse(spec, content), md5)
        except FormatError as exc:
            log.error("config %s rejected at start, using the last good copy: %s", spec.name, exc)
            self._record(Refresh(time.time(), spec.data_id, spec.group, md5, (), False, str(exc)), notify=False)
            return self._last_good_doc(spec, str(exc))

    def _last_good_doc(self, spec: DocumentSpec, why: str) -> _Doc:
        content = self._disk.load_good(spec.group, spec.data_id) if self._disk is not None else None
        if content is None:
            if why == "Nacos unreachable":
                return _Doc(None, None, "")
            raise ConfigStartError(f"config {spec.name}: {why}; and there is no last good copy to start from")
        try:
            return _Doc(content, self._parse(spec, content), content_md5(content))
        except FormatError as exc:
            raise ConfigStartError(f"config {spec.name}: the last good copy does not parse: {exc}") from None

    def _fall_back_to_last_good(self, validator: Callable[[Snapshot], None], error: Exception) -> bool:
        if self._disk is None:
            return False
        docs = dict(self._docs)
        for spec, doc in self._docs.items():
            if spec.local:
                continue
            good = self._good_before_start.get(spec) or self._disk.load_good(spec.group, spec.data_id)
            if good is not None and good != doc.content:
                try:
                    docs[spec] = _Doc(good, self._parse(spec, good), content_md5(good))
                except FormatError:
                    continue
        try:
            candidate = self._build(docs, self._snapshot.version + 1)
            validator(candidate)
        except Exception:
            return False
        log.error("config rejected at start (%s); starting from the last good copies", error)
        for spec, doc in docs.items():
            if doc is not self._docs.get(spec):
                self._record(Refresh(time.time(), spec.data_id, spec.group, doc.md5, (), False, str(error)), False)
        self._docs, self._snapshot = docs, candidate
        for spec, doc in docs.items():
            if not spec.local:
                self._disk.save_good(spec.group, spec.data_id, doc.content)
        return True

    def _callback(self, spec: DocumentSpec) -> Callable[[str, str, str | None], None]:
        def on_push(data_id: str, group: str, content: str | None) -> None:
            if not self._stop.is_set():
                self.apply(spec, content)

        return on_push

    def _retry(self, specs: list[DocumentSpec]) -> None:
        """Keep trying documents Nacos could not serve at start, and apply them once it can."""
        pending = list(specs)
        delay = self.retry_seconds
        while pending and not self._stop.wait(delay):
            for spec in list(pending):
                doc_content = self._fetch_again(spec)
                if doc_content is _MISSING:
                    continue
                pending.remove(spec)
                self.apply(spec, doc_content)
            delay = min(delay * 2, 30.0)

    def _fetch_again(self, spec: DocumentSpec) -> Any:
        from nacos.auto.client import NacosError

        assert self.client is not None
        try:
            if spec.refresh:
                callback = self._callback(spec)
                content = self.client.add_config_listener(spec.data_id, callback, spec.group)
                self._callbacks[spec] = callback
                return content
            return self.client.get_config(spec.data_id, spec.group)
        except (NacosError, TimeoutError, concurrent.futures.TimeoutError, RuntimeError):
            return _MISSING

    def _record(self, record: Refresh, notify: bool = True) -> None:
        self._history.append(record)
        if self._disk is not None:
            self._disk.save_history(list(self._history))
        if notify:
            for hook in list(self._refresh_hooks):
                try:
                    hook(record)
                except Exception:
                    log.exception("config refresh hook %r failed", hook)

    def _notify(self, old: Snapshot, new: Snapshot, changed: Sequence[str]) -> None:
        for entry in list(self._listeners):
            if not _touches(entry.prefix, changed):
                continue
            before, after = old.get(entry.prefix), new.get(entry.prefix)
            if before == after:
                continue
            try:
                if asyncio.iscoroutinefunction(entry.callback):
                    if entry.loop is not None and not entry.loop.is_closed():
                        asyncio.run_coroutine_threadsafe(entry.callback(before, after), entry.loop)
                    else:
                        asyncio.run(entry.callback(before, after))
                else:
                    entry.callback(before, after)
            except Exception:
                log.exception("config listener for %r failed", entry.prefix)


@contextmanager
def tracking() -> Iterator[set[str]]:
    """Collect the keys read from any snapshot inside the block (for refresh scopes)."""
    keys: set[str] = set()
    token = _reading.set(keys)
    try:
        yield keys
    finally:
        _reading.reset(token)
