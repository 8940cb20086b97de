"""The process-wide :class:`Resolver`: built lazily from ``load_settings()``, replaceable for tests.

Nothing happens at import. The first resolve reads ``nacos.yaml`` / ``NACOS_*`` and builds the
resolver (and, on first subscription, the one shared Nacos client). :func:`configure` swaps it, e.g.
for a test registry; a forked child starts over, because its parent's client did not survive.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from nacos.auto.client import NacosClient
from nacos.auto.discovery.resolver import Resolver
from nacos.auto.settings import NacosSettings, load_settings

_resolver: Resolver | None = None
_lock = threading.Lock()


def shared_resolver() -> Resolver:
    """The resolver the drop-ins use (created on first call)."""
    resolver = _resolver
    if resolver is None:
        resolver = _create()
    return resolver


def _create() -> Resolver:
    global _resolver
    with _lock:
        if _resolver is None:
            _resolver = Resolver(load_settings())
        return _resolver


def configure(
    settings: NacosSettings | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    client: NacosClient | None = None,
) -> Resolver:
    """Replace the process-wide resolver: from ``settings``, or ``load_settings(overrides)``."""
    global _resolver
    resolver = Resolver(settings if settings is not None else load_settings(overrides), client)
    with _lock:
        _resolver = resolver
    return resolver


def reset() -> None:
    """Forget the resolver; the next use builds a new one from the current settings."""
    global _resolver
    with _lock:
        _resolver = None


def _after_fork() -> None:
    global _resolver, _lock
    _resolver = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
