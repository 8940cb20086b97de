"""Config for plain code: live typed values, change listeners and refresh-scoped objects.

```python
from nacos.auto.config import value, on_change, refresh_scope

use_local_cache = value("useLocalCache", default=False)   # like @Value("${useLocalCache:false}")
if use_local_cache.get(): ...

class Handler:
    timeout = value("http.timeout", default=2.5)          # descriptor: self.timeout is a float

@on_change("db")
def reconnect(old, new): ...

@refresh_scope
def make_pool() -> Pool:                                  # rebuilt when a key it read changes
    return Pool(config.get("db.url"))
```
Reads go to the store's current snapshot; a value converts once per snapshot version, so ``.get()`` in
a hot loop is a couple of attribute reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from nacos.auto.config.store import ConfigStore, Snapshot, tracking

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n", "")


class ConversionError(ValueError):
    """A config value that does not convert to the type its accessor asks for."""


def convert(raw: Any, kind: type[Any], key: str) -> Any:
    """Spring-style conversion of a config value (often text, from properties) to ``kind``."""
    if kind is object or (isinstance(raw, kind) and not (kind is int and isinstance(raw, bool))):
        return raw
    if kind is bool:
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConversionError(f"{key}: expected true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip(), 0) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError):
            raise ConversionError(f"{key}: expected an integer, got {raw!r}") from None
    if kind is float:
        try:
            return float(str(raw).strip()) if isinstance(raw, str) else float(raw)
        except (TypeError, ValueError):
            raise ConversionError(f"{key}: expected a number, got {raw!r}") from None
    if kind is str:
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, dict | list):
            raise ConversionError(f"{key}: expected a single value, got {type(raw).__name__}")
        return str(raw)
    if kind is list:
        if isinstance(raw, str):
            return [part.strip() for part in raw.split(",") if part.strip()]
        raise ConversionError(f"{key}: expected a list, got {raw!r}")
    return kind(raw)


def _resolve_store(store: ConfigStore | None) -> ConfigStore:
    if store is not None:
        return store
    from nacos.auto.config.process import default_store

    return default_store()


class Value(Generic[T]):
    """A live, typed view of one key; also a descriptor (``obj.attr`` reads the current value).

    A value that does not convert gives the default and logs nothing (the store already rejected
    documents that fail typed validation); use typed settings for values that must be valid.
    """

    def __init__(self, key: str, default: T, kind: type[Any], store: ConfigStore | None) -> None:
        self.key = key
        self.default = default
        self.kind = kind
        self._store = store
        self._cache: tuple[Snapshot, T] | None = None

    def get(self) -> T:
        snapshot = _resolve_store(self._store).snapshot()
        cached = self._cache
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        raw = snapshot.get(self.key)
        result: T
        if raw is None:
            result = self.default
        else:
            try:
                result = convert(raw, self.kind, self.key)
            except ConversionError:
                result = self.default
        self._cache = (snapshot, result)
        return result

    def __call__(self) -> T:
        return self.get()

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Value[T]: ...
    @overload
    def __get__(self, obj: object, owner: type[Any]) -> T: ...
    def __get__(self, obj: object | None, owner: type[Any]) -> Value[T] | T:
        return self if obj is None else self.get()

    def __repr__(self) -> str:
        return f"value({self.key!r}, default={self.default!r})"


def value(key: str, default: T, *, kind: type[Any] | None = None, store: ConfigStore | None = None) -> Value[T]:
    """A live accessor for ``key``, converted to ``kind`` (by default the type of ``default``)."""
    if kind is None:
        kind = object if default is None else type(default)
    return Value(key, default, kind, store)


def on_change(key: str, *, store: ConfigStore | None = None) -> Callable[[F], F]:
    """Decorator: call ``fn(old, new)`` (sync or async) whenever ``key`` or anything below it changes.

    Without ``store`` it listens on the process-wide store, which starts with the first read of any
    value or settings (or an explicit ``config.default_store()``), never at the decorator itself.
    """

    def register(fn: F) -> F:
        if store is not None:
            store.on_change(key, fn)
        else:  # the process-wide store is created on first read, not by declaring a listener
            from nacos.auto.config.process import on_change_deferred

            on_change_deferred(key, fn)
        return fn

    return register


class RefreshScoped(Generic[T]):
    """An object built by ``factory`` on first use and rebuilt after a change to any key it read."""

    def __init__(self, factory: Callable[[], T], store: ConfigStore | None) -> None:
        self.factory = factory
        self._store = store
        self._lock = threading.Lock()
        self._current: tuple[T] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self.builds = 0

    def get(self) -> T:
        current = self._current
        if current is not None:
            return current[0]
        with self._lock:
            if self._current is None:
                store = _resolve_store(self._store)
                with tracking() as keys:
                    built = self.factory()
                self.builds += 1
                for remove in self._unsubscribe:
                    remove()
                self._unsubscribe = [store.on_change(key, self._invalidate) for key in sorted(keys)]
                self._current = (built,)
            return self._current[0]

    def __call__(self) -> T:
        return self.get()

    def _invalidate(self, old: Any, new: Any) -> None:
        # Rebuilt lazily on the next call, as Spring's refresh scope does: no half-built object is served.
        self._current = None

    def refresh(self) -> None:
        self._current = None


@overload
def refresh_scope(factory: Callable[[], T], *, store: ConfigStore | None = None) -> RefreshScoped[T]: ...
@overload
def refresh_scope(
    factory: None = None, *, store: ConfigStore | None = None
) -> Callable[[Callable[[], T]], RefreshScoped[T]]: ...
def refresh_scope(
    factory: Callable[[], T] | None = None, *, store: ConfigStore | None = None
) -> RefreshScoped[T] | Callable[[Callable[[], T]], RefreshScoped[T]]:
    """``@refresh_scope`` (or ``@refresh_scope(store=...)``) on a zero-argument function or class.

    Call the result to get the live object: built on first use, rebuilt lazily after a change to any
    key the factory read while building it.
    """
    if factory is not None:
        return RefreshScoped(factory, store)

    def wrap(fn: Callable[[], T]) -> RefreshScoped[T]:
        return RefreshScoped(fn, store)

    return wrap


def get(key: str, default: Any = None, *, store: ConfigStore | None = None) -> Any:
    """The current value of ``key`` (a leaf or a nested mapping), or ``default``."""
    return _resolve_store(store).get(key, default)


def snapshot(*, store: ConfigStore | None = None) -> Snapshot:
    """The current configuration, frozen: read many keys from one consistent version."""
    return _resolve_store(store).snapshot()
