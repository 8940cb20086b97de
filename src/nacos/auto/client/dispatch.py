"""Running user callbacks away from the runtime thread, in order, without letting one stall Nacos I/O.

Sync callbacks run on one listener thread (so a service's changes arrive in order); async callbacks run
on the event loop they were registered from, or on the runtime loop when registered from sync code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nacos.auto.client.metrics import Metrics

log = logging.getLogger("nacos.auto")


@dataclass(frozen=True, slots=True)
class Listener:
    """A callback and the loop to run it on (``None``: the listener thread, or the runtime for async)."""

    callback: Callable[..., Any]
    loop: asyncio.AbstractEventLoop | None

    @classmethod
    def capture(cls, callback: Callable[..., Any]) -> Listener:
        loop = None
        if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004 - async callable objects
        ):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        return cls(callback, loop)

    def matches(self, callback: Callable[..., Any]) -> bool:
        return self.callback == callback


class Dispatcher:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nacos-serving-listener")
        return self._pool

    def dispatch(self, listener: Listener, *args: Any) -> None:
        """Schedule ``listener(*args)``; called on the runtime loop, returns at once."""
        result_is_async = inspect.iscoroutinefunction(listener.callback) or inspect.iscoroutinefunction(
            getattr(listener.callback, "__call__", None)  # noqa: B004
        )
        if result_is_async:
            target = listener.loop
            if target is not None and target.is_closed():
                return
            coro = self._guarded_async(listener.callback, args)
            if target is None:
                asyncio.get_running_loop().create_task(coro)
            else:
                asyncio.run_coroutine_threadsafe(coro, target)
            return
        self._executor().submit(self._guarded_sync, listener.callback, args)

    async def _guarded_async(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            await callback(*args)
        except Exception:
            self.metrics.listener_errors += 1
            log.exception("listener %r failed", callback)

    def _guarded_sync(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception:
            self.metrics.listener_errors += 1
            log.exception("listener %r failed", callback)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=False)
            self._pool = None
