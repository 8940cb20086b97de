"""The process-wide config store: built on first use from ``nacos.yaml`` and the shared client.

Nothing happens at import time. The first ``value(...).get()``, ``get(...)`` or typed settings read
calls :func:`default_store`, which loads the settings, takes ``NacosClient.shared(...)`` (one client per
process) and starts the store. A forked child drops the parent's store and builds its own, because the
parent's listeners live on the parent's client runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nacos.auto.client.runtime import on_fork_in_child
from nacos.auto.config.sources import plan, service_name
from nacos.auto.config.store import ConfigStore
from nacos.auto.settings import NacosSettings, load_settings

_store: ConfigStore | None = None
_lock = threading.Lock()
#: ``on_change`` listeners declared without a store (e.g. at import); attached to every process-wide
#: store built or installed here, so a forked child's new store hears them too.
_declared: list[tuple[str, Callable[[Any, Any], Any]]] = []


def build_store(settings: NacosSettings | None = None, environ: Mapping[str, str] | None = None) -> ConfigStore:
    """A (not yet started) store for ``settings``, on the process' shared client."""
    from nacos.auto.client import NacosClient

    settings = settings or load_settings(environ=environ)
    options = settings.client_options()
    specs = plan(settings, environ)
    remote = any(not spec.local for spec in specs)
    return ConfigStore(
        specs,
        client=NacosClient.shared(options) if remote else None,
        cache_dir=Path(options.cache_path()),
        namespace=options.namespace_id,
        history_size=settings.config.history_size,
        history_name=history_name(settings, environ),
        environ=environ,
    )


def history_name(settings: NacosSettings, environ: Mapping[str, str] | None = None) -> str:
    """The history file's name: the app's data id, so each app on a host keeps its own."""
    specs = [s for s in plan(settings, environ) if s.kind == "app"]
    if specs:
        return specs[0].data_id
    return service_name(settings, environ) or "default"


def default_store() -> ConfigStore:
    """The process-wide store, created and started on first use."""
    global _store
    store = _store
    if store is not None:
        return store
    with _lock:
        if _store is None:
            store = build_store().start()
            for key, callback in _declared:
                store.on_change(key, callback)
            _store = store
        return _store


def on_change_deferred(key: str, callback: Callable[[Any, Any], Any]) -> None:
    """Listen on the process-wide store without creating it now (no I/O when a module is imported)."""
    with _lock:
        _declared.append((key, callback))
        store = _store
    if store is not None:
        store.on_change(key, callback)


def set_default_store(store: ConfigStore | None) -> ConfigStore | None:
    """Install ``store`` as the process-wide one (tests, apps that build their own); returns the old one."""
    global _store
    with _lock:
        old, _store = _store, store
        if store is not None:
            for key, callback in _declared:
                store.on_change(key, callback)
    return old


def _forget() -> None:
    global _store, _lock
    _store = None
    _lock = threading.Lock()


on_fork_in_child(_forget)
