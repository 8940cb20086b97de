"""Typed app settings from Nacos config: a pydantic-settings source and a live settings base class.

Not to be confused with :class:`nacos.auto.settings.NacosSettings`, the *library's* own settings
(server address, namespace: where to find Nacos). This module's :class:`NacosSettings` is a
``pydantic_settings.BaseSettings`` base for the *app's* settings, whose values come from the Nacos
documents ``nacos.yaml`` lists::

    from nacos.auto.config import NacosSettings

    class AppSettings(NacosSettings):
        nacos_prefix = "app"          # read the ``app:`` subtree (default: the whole document)
        use_local_cache: bool = False
        pool_size: int = 10

    settings = AppSettings.live()     # validates now; every accepted refresh swaps a new instance
    settings.get().pool_size

Source order (highest first), following pydantic-settings' ``settings_customise_sources``: init
kwargs > Nacos > environment > dotenv > secrets. Nacos beats the environment because the point of
dynamic config is that a publish changes the running app (Spring Cloud's remote-overrides-local).

Each ``live()`` registers a validator with the store, so a document the model rejects is rejected for
the whole process: plain ``value()`` readers never see a configuration the typed model refused.
Imported lazily by ``nacos.auto.config`` so pydantic stays an optional extra (``nacos-serving[pydantic]``).
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from nacos.auto.config.store import ConfigRejected, ConfigStore, Snapshot
from nacos.auto.config.values import _resolve_store

S = TypeVar("S", bound="NacosSettings")

#: The snapshot a model is being built from (a candidate during validation), else the store's current.
_building: contextvars.ContextVar[Snapshot | None] = contextvars.ContextVar("nacos_settings_snapshot", default=None)


class NacosSettingsSource(PydanticBaseSettingsSource):
    """A pydantic-settings source reading the merged Nacos configuration (``prefix``: a subtree)."""

    def __init__(self, settings_cls: type[BaseSettings], prefix: str = "", store: ConfigStore | None = None) -> None:
        super().__init__(settings_cls)
        self.prefix = prefix
        self.store = store

    def _tree(self) -> dict[str, Any]:
        snapshot = _building.get() or _resolve_store(self.store).snapshot()
        found = snapshot.get(self.prefix) if self.prefix else snapshot.tree()
        return found if isinstance(found, dict) else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        tree = self._tree()
        for name in (field.alias, field_name):
            if name and name in tree:
                return tree[name], name, self.field_is_complex(field)
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        tree = self._tree()
        data: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            for name in (field.alias, field_name):
                if name and name in tree:
                    data[name] = tree[name]
                    break
        return data


class NacosSettings(BaseSettings):
    """Base for an app's typed settings fed by Nacos config (see the module docstring)."""

    nacos_prefix: ClassVar[str] = ""
    nacos_store: ClassVar[ConfigStore | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        nacos = NacosSettingsSource(settings_cls, cls.nacos_prefix, cls.nacos_store)
        return init_settings, nacos, env_settings, dotenv_settings, file_secret_settings

    @classmethod
    def live(cls: type[S], store: ConfigStore | None = None) -> LiveSettings[S]:
        """A handle whose ``get()`` is the model of the current configuration, validated before swaps."""
        return LiveSettings(cls, _resolve_store(store or cls.nacos_store))


def describe(error: ValidationError, snapshot: Snapshot, prefix: str) -> str:
    """``group/data id:line: key: reason`` for each failed field, joined by ``; ``."""
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        dotted = f"{prefix}.{key}" if prefix else key
        where = snapshot.origin(dotted)
        parts.append(f"{where + ': ' if where else ''}{dotted}: {item['msg']}")
    return "; ".join(parts)


class LiveSettings(Generic[S]):
    """The current validated model of one settings class; swapped only with an accepted refresh."""

    def __init__(self, cls: type[S], store: ConfigStore) -> None:
        self.cls = cls
        self.store = store
        self._lock = threading.Lock()
        self._current: tuple[Snapshot, S] | None = None
        self._candidate: tuple[Snapshot, S] | None = None
        store.add_validator(self._validate)

    def build(self, snapshot: Snapshot) -> S:
        token = _building.set(snapshot)
        try:
            return self.cls()
        finally:
            _building.reset(token)

    def _validate(self, snapshot: Snapshot) -> None:
        try:
            self._candidate = (snapshot, self.build(snapshot))
        except ValidationError as exc:
            raise ConfigRejected(f"{self.cls.__name__}: {describe(exc, snapshot, self.cls.nacos_prefix)}") from None

    def get(self) -> S:
        snapshot = self.store.snapshot()
        current = self._current
        if current is not None and current[0] is snapshot:
            return current[1]
        candidate = self._candidate
        if candidate is not None and candidate[0] is snapshot:
            self._current = candidate
            return candidate[1]
        with self._lock:  # a snapshot validated before this handle existed
            built = (snapshot, self.build(snapshot))
            self._current = built
            return built[1]
