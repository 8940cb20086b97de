"""Dynamic configuration: Nacos config documents flow into the running app, typed and safe.

```python
from nacos.auto import config
from nacos.auto.config import value, on_change, refresh_scope

use_local_cache = value("useLocalCache", default=False)    # live, typed: use_local_cache.get()
config.get("db.pool.size", 10); config.snapshot(); config.history()
```
Which documents are loaded is set in ``nacos.yaml`` under ``nacos.config`` (see
:mod:`nacos.auto.config.sources`). Typed settings: :class:`nacos.auto.config.NacosSettings` (a
pydantic-settings base for the *app's* settings, imported lazily; it is not
:class:`nacos.auto.settings.NacosSettings`, the library's own settings that say where Nacos is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nacos.auto.config.formats import FormatError
from nacos.auto.config.persist import Refresh
from nacos.auto.config.process import build_store, default_store, set_default_store
from nacos.auto.config.sources import DocumentSpec
from nacos.auto.config.store import ConfigRejected, ConfigStartError, ConfigStore, Snapshot
from nacos.auto.config.values import RefreshScoped, Value, get, on_change, refresh_scope, snapshot, value

if TYPE_CHECKING:
    from nacos.auto.config.pydantic import LiveSettings, NacosSettings, NacosSettingsSource


def history(*, store: ConfigStore | None = None) -> list[Refresh]:
    """The last refreshes of the process' configuration (accepted and rejected), oldest first."""
    return (store or default_store()).history()


def __getattr__(name: str) -> Any:
    if name in ("NacosSettings", "NacosSettingsSource", "LiveSettings"):
        from nacos.auto.config import pydantic

        return getattr(pydantic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConfigRejected",
    "ConfigStartError",
    "ConfigStore",
    "DocumentSpec",
    "FormatError",
    "LiveSettings",
    "NacosSettings",
    "NacosSettingsSource",
    "Refresh",
    "RefreshScoped",
    "Snapshot",
    "Value",
    "build_store",
    "default_store",
    "get",
    "history",
    "on_change",
    "refresh_scope",
    "set_default_store",
    "snapshot",
    "value",
]
