"""Per-call discovery options that travel through libraries whose call signatures we do not own.

``requests.get(url, strategy="random")`` cannot hand ``strategy`` to a transport adapter's ``send``;
a context variable can, and it follows the call into threads' own contexts and into asyncio tasks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallOptions:
    strategy: str | None = None
    route: str | Mapping[str, str] | None = None  # metadata the instance must carry, e.g. "version=v2"


NO_OPTIONS = CallOptions()
current: contextvars.ContextVar[CallOptions] = contextvars.ContextVar("nacos_discovery_call", default=NO_OPTIONS)


@contextlib.contextmanager
def using(strategy: str | None = None, route: str | Mapping[str, str] | None = None) -> Iterator[CallOptions]:
    """Within the block, discovery calls use ``strategy`` and/or prefer instances matching ``route``."""
    options = CallOptions(strategy, route)
    token = current.set(options)
    try:
        yield options
    finally:
        current.reset(token)
